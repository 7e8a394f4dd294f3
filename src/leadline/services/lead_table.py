"""The leads table of the web app: filters, sorting and keyset paging that stay fast at a million leads, bulk
actions (assign, change stage) and the CSV export, all limited to the leads a user may see."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor
from leadline.core.spreadsheet import safe_cell
from leadline.services import lifecycle, routing
from leadline.services.errors import Invalid, NotFound, ServiceError
from leadline.services.leads import LeadFilter, _filtered  # the API's own filter semantics, shared on purpose
from leadline.storage.tables import Company, Lead, SegmentMembership, User

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000


class Sort(StrEnum):
    NEWEST = "newest"
    OLDEST = "oldest"
    SCORE_DESC = "score_desc"
    SCORE_ASC = "score_asc"


_SORT_COLUMN = {Sort.NEWEST: None, Sort.OLDEST: None, Sort.SCORE_DESC: Lead.score, Sort.SCORE_ASC: Lead.score}
_DESCENDING = {Sort.NEWEST: True, Sort.OLDEST: False, Sort.SCORE_DESC: True, Sort.SCORE_ASC: False}


@dataclass(frozen=True)
class TableQuery:
    """What the table shows: the API's lead filter, plus the segment, the viewer's visible owners (None: all)
    and the sort."""

    filter: LeadFilter = field(default_factory=LeadFilter)
    segment_id: int | None = None
    owner_ids: tuple[int, ...] | None = None
    unassigned: bool = False
    sort: Sort = Sort.NEWEST


@dataclass(frozen=True)
class Row:
    lead: Lead
    company: Company | None
    owner: str | None


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None


def _encode(sort: Sort, lead: Lead) -> str:
    value = "" if _SORT_COLUMN[sort] is None else repr(float(lead.score))
    return base64.urlsafe_b64encode(f"{sort.value}|{value}|{lead.id}".encode()).decode().rstrip("=")


def _decode(sort: Sort, cursor: str) -> tuple[float | None, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        name, value, lead_id = text.split("|")
        if name != sort.value:
            raise ValueError(name)
        number = int(lead_id)
        if not 0 < number < 2**63:
            raise ValueError(lead_id)
        return (float(value) if value else None), number
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid([FieldProblem("cursor", "malformed cursor: use the table's own next link")]) from exc


def _query(workspace_id: int, q: TableQuery) -> Select[tuple[Lead]]:
    query = _filtered(select(Lead), workspace_id, q.filter)
    if q.owner_ids is not None:
        query = query.where(Lead.owner_id.in_(q.owner_ids))
    if q.unassigned:
        query = query.where(Lead.owner_id.is_(None))
    if q.segment_id is not None:
        query = query.where(Lead.id.in_(select(SegmentMembership.lead_id).where(
            SegmentMembership.workspace_id == workspace_id, SegmentMembership.segment_id == q.segment_id)))
    return query


def _ordered(query: Select[tuple[Lead]], sort: Sort, cursor: str | None) -> Select[tuple[Lead]]:
    column, descending = _SORT_COLUMN[sort], _DESCENDING[sort]
    if cursor:
        value, lead_id = _decode(sort, cursor)
        if column is None:
            query = query.where(Lead.id < lead_id if descending else Lead.id > lead_id)
        else:
            key, after = tuple_(column, Lead.id), tuple_(value, lead_id)
            query = query.where(key < after if descending else key > after)
    if column is None:
        return query.order_by(Lead.id.desc() if descending else Lead.id)
    return query.order_by(*((column.desc(), Lead.id.desc()) if descending else (column, Lead.id)))


def _with_owners(session: Session, workspace_id: int, leads: Sequence[Lead]) -> list[Row]:
    company_ids = {lead.company_id for lead in leads if lead.company_id is not None}
    owner_ids = {lead.owner_id for lead in leads if lead.owner_id is not None}
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(company_ids)))} \
        if company_ids else {}
    owners = dict(session.execute(select(User.id, User.name).where(
        User.workspace_id == workspace_id, User.id.in_(owner_ids))).all()) if owner_ids else {}
    return [Row(lead, companies.get(lead.company_id) if lead.company_id else None,
                owners.get(lead.owner_id) if lead.owner_id else None) for lead in leads]


def table_page(session: Session, *, workspace_id: int, query: TableQuery, cursor: str | None = None,
               limit: int = PAGE_SIZE) -> Page:
    """One page, keyset-paginated on (sort column, id): no OFFSET, so page 1,000 costs what page 1 does."""
    leads = list(session.scalars(_ordered(_query(workspace_id, query), query.sort, cursor).limit(limit + 1)))
    next_cursor = _encode(query.sort, leads[limit - 1]) if len(leads) > limit else None
    return Page(_with_owners(session, workspace_id, leads[:limit]), next_cursor)


def visible_lead(session: Session, *, workspace_id: int, lead_id: int, owner_ids: tuple[int, ...] | None) -> Lead:
    """The live lead, if the viewer may see it; NotFound otherwise (another rep's lead is not disclosed)."""
    query = select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)
    if owner_ids is not None:
        query = query.where(Lead.owner_id.in_(owner_ids))
    lead = session.scalar(query)
    if lead is None:
        raise NotFound("lead not found")
    return lead


@dataclass
class BulkOutcome:
    done: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


def _visible_ids(session: Session, workspace_id: int, lead_ids: Sequence[int],
                 owner_ids: tuple[int, ...] | None) -> list[int]:
    query = select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id.in_(lead_ids),
                                  Lead.merged_into_id.is_(None))
    if owner_ids is not None:
        query = query.where(Lead.owner_id.in_(owner_ids))
    return sorted(session.scalars(query))


def bulk_assign(session: Session, *, workspace_id: int, lead_ids: Sequence[int], owner_id: int,
                owner_ids: tuple[int, ...] | None, actor: str, now: datetime) -> BulkOutcome:
    """Give the leads to `owner_id` (who must be among the viewer's team when the viewer has one)."""
    if owner_ids is not None and owner_id not in owner_ids:
        raise Invalid([FieldProblem("owner_id", "you can only assign leads within your team")])
    outcome = BulkOutcome()
    for lead_id in _visible_ids(session, workspace_id, lead_ids, owner_ids):
        routing.assign_lead(session, workspace_id=workspace_id, lead_id=lead_id, owner_id=owner_id, now=now,
                            actor=actor)
        outcome.done += 1
    return outcome


def bulk_stage(session: Session, *, workspace_id: int, lead_ids: Sequence[int], to: Stage, reason: str | None,
               owner_ids: tuple[int, ...] | None, actor: Actor) -> BulkOutcome:
    """Move each lead; a lead the stage machine refuses is reported with the reason, the others move."""
    outcome = BulkOutcome()
    for lead_id in _visible_ids(session, workspace_id, lead_ids, owner_ids):
        try:
            with session.begin_nested():
                lifecycle.change_stage(session, workspace_id=workspace_id, lead=lead_id, to=to, actor=actor,
                                       reason=reason)
            outcome.done += 1
        except ServiceError as exc:
            outcome.refused.append((lead_id, exc.message if not isinstance(exc, Invalid)
                                    else "; ".join(p.reason for p in exc.problems)))
    return outcome


EXPORT_COLUMNS = ("id", "email", "first_name", "last_name", "phone", "job_title", "company", "country", "stage",
                  "status", "temperature", "score", "owner", "channel", "created_at")


def export_csv(session: Session, *, workspace_id: int, query: TableQuery,
               lead_ids: Sequence[int] | None = None, limit: int = EXPORT_LIMIT) -> Iterator[str]:
    """CSV lines (header first) of the selected leads, or of every lead the query matches (up to `limit`);
    cells a spreadsheet would run as formulas are kept as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Sequence[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(v) for v in values])
        return buffer.getvalue()

    yield line(EXPORT_COLUMNS)
    cursor: str | None = None
    sent = 0
    while sent < limit:
        base = _query(workspace_id, query)
        if lead_ids:
            base = base.where(Lead.id.in_(list(lead_ids)[:1000]))
        leads = list(session.scalars(_ordered(base, query.sort, cursor).limit(min(1000, limit - sent) + 1)))
        page = leads[:min(1000, limit - sent)]
        for row in _with_owners(session, workspace_id, page):
            lead = row.lead
            yield line((lead.id, lead.email, lead.first_name, lead.last_name, lead.phone, lead.job_title,
                        row.company.name if row.company else None, lead.country, lead.stage, lead.status,
                        lead.temperature, round(lead.score, 1), row.owner, lead.first_channel,
                        lead.created_at.isoformat()))
        sent += len(page)
        if len(leads) <= len(page) or lead_ids:
            break
        cursor = _encode(query.sort, page[-1])


def team_members(session: Session, *, workspace_id: int, owner_ids: tuple[int, ...] | None) -> list[User]:
    """Who the viewer may assign leads to: active users of the workspace, or of the viewer's team."""
    query = select(User).where(User.workspace_id == workspace_id, User.active.is_(True))
    if owner_ids is not None:
        query = query.where(User.id.in_(owner_ids))
    return list(session.scalars(query.order_by(User.name)))


def hot_waiting(session: Session, *, workspace_id: int, owner_ids: tuple[int, ...] | None,
                limit: int = 10) -> list[Lead]:
    """Hot open leads nobody from sales has touched since they were assigned (or that have no owner yet)."""
    query = select(Lead).where(
        Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), Lead.temperature == "hot",
        Lead.stage.in_(("new", "mql", "sql", "recycled")),
        or_(Lead.first_sales_touch_at.is_(None),
            and_(Lead.assigned_at.is_not(None), Lead.first_sales_touch_at < Lead.assigned_at)))
    if owner_ids is not None:
        query = query.where(Lead.owner_id.in_(owner_ids))
    return list(session.scalars(query.order_by(Lead.score.desc(), Lead.id.desc()).limit(limit)))


def latest_created(session: Session, *, workspace_id: int) -> datetime | None:
    """When the workspace's newest lead arrived (dashboards of an imported history end there, not today)."""
    return session.scalar(select(Lead.created_at).where(Lead.workspace_id == workspace_id)
                          .order_by(Lead.created_at.desc()).limit(1))


def bulk_add_to_list(session: Session, *, workspace_id: int, lead_ids: Sequence[int], segment_id: int,
                     owner_ids: tuple[int, ...] | None) -> BulkOutcome:
    """Add the leads the viewer may see to a static list (Invalid for a dynamic segment)."""
    from leadline.services.segments.catalog import add_members

    visible = _visible_ids(session, workspace_id, lead_ids, owner_ids)
    return BulkOutcome(done=add_members(session, workspace_id, segment_id, visible) if visible else 0)
