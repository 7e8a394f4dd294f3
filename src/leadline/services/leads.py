"""Capture and read leads: upsert by normalised email (or phone), get with timeline, list with filters."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from leadline.core.consent import STATE_FIELDS, Action, ConsentState, Purpose, changes_from_flags, notice_deadline
from leadline.core.lead_input import ConsentInput, FieldProblem, LeadInput
from leadline.core.segments import SCORE_FIELDS
from leadline.services.companies import (
    apply_company_fields,
    changed_companies,
    company_domain_for,
    resolve_company,
)
from leadline.services.consent import Proof, after_change, apply_changes, ledger_rows
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.services.scoring.models import active_model
from leadline.services.scoring.refresh import SCORE_ATTRIBUTES, refresh_leads
from leadline.services.segments.membership import COMPANY_FIELDS, input_fields, mark_imported, mark_lead_fields
from leadline.services.touches import apply_touch
from leadline.storage.bulk import bulk_insert, executemany
from leadline.storage.tables import Company, ConsentRecord, Event, Lead
from leadline.storage.types import utcnow

PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "job_title", "country", "language", "external_id")
MAX_MERGE_HOPS = 20


class WriteMode(StrEnum):
    """`overwrite`: the caller is authoritative (API, import) and replaces given values.
    `fill_empty`: a public form or an automatic capture; it never overwrites what sales has verified."""

    OVERWRITE = "overwrite"
    FILL_EMPTY = "fill_empty"


@dataclass(frozen=True, slots=True)
class UpsertResult:
    lead: Lead
    created: bool


def follow_merges(session: Session, workspace_id: int, lead: Lead) -> Lead:
    """A merged-away lead stands for the lead it was merged into."""
    hops = 0
    while lead.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        survivor = session.get(Lead, lead.merged_into_id)
        if survivor is None or survivor.workspace_id != workspace_id:
            break
        lead, hops = survivor, hops + 1
    return lead


def find_lead(session: Session, workspace_id: int, *, email: str | None, phone: str | None) -> Lead | None:
    """The lead with this email; else a lead known only by this phone (a phone-only lead that now gives its
    email is the same person)."""
    lead = None
    if email:
        lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id, Lead.email == email))
    if lead is None and phone:
        lead = session.scalar(select(Lead).where(
            Lead.workspace_id == workspace_id, Lead.phone == phone, Lead.email.is_(None),
            Lead.merged_into_id.is_(None)).order_by(Lead.id).limit(1))
    return follow_merges(session, workspace_id, lead) if lead is not None else None


def apply_consent(lead: Lead, consent: ConsentInput | None, *, default_source: str = "api",
                  at: datetime | None = None) -> list[tuple[Purpose, Action]]:
    """Sources may always narrow consent; they never lift an unsubscribe (that is the preference centre's job,
    with its own proof), so a re-import can never put an opted-out person back on a mailing list. Returns the
    consent-ledger entries the input amounts to (those that change nothing are left out); the caller writes
    them with `ledger_for`."""
    if consent is None:
        return []
    if consent.subject_type in ("consumer", "professional"):
        lead.subject_type = consent.subject_type
    changes = changes_from_flags(
        ConsentState.of({name: getattr(lead, name, None) for name in STATE_FIELDS}),
        email_marketing=consent.email_marketing, unsubscribed=consent.unsubscribed, tracking=consent.tracking,
        profiling=consent.profiling, partner_sharing=consent.partner_sharing)
    kept = apply_changes(lead, changes, source=consent.source or default_source, at=at or utcnow())
    if consent.source:
        lead.consent_source = consent.source
    if consent.legal_basis:
        lead.consent_legal_basis = consent.legal_basis
    if consent.provenance and getattr(lead, "notice_due_at", None) is None \
            and getattr(lead, "notice_sent_at", None) is None:
        lead.notice_due_at = notice_deadline(at or utcnow())
    return kept


def consent_proof(consent: ConsentInput, default_source: str) -> Proof:
    source = consent.source or default_source
    return Proof(source=source, actor=source, legal_basis=consent.legal_basis, text_version=consent.text_version,
                 form_id=consent.form_id, ip=consent.ip, user_agent=consent.user_agent,
                 provenance=consent.provenance)


def _apply_profile(lead: Lead, data: LeadInput, mode: WriteMode) -> None:
    for name, value in data.profile_fields().items():
        if value is None or (name == "email" and lead.email):
            continue
        if mode is WriteMode.FILL_EMPTY and getattr(lead, name) is not None:
            continue
        setattr(lead, name, value)
    if data.custom:
        current = dict(lead.custom or {})
        for key, value in data.custom.items():
            if mode is WriteMode.OVERWRITE or current.get(key) in (None, ""):
                current[key] = value
        lead.custom = current


def upsert_lead(
    session: Session, workspace_id: int, data: LeadInput, *, mode: WriteMode, at: datetime | None = None
) -> UpsertResult:
    """Create the lead or update the one with the same email (phone when there is no email)."""
    now = at or utcnow()
    lead = find_lead(session, workspace_id, email=data.email, phone=data.phone)
    created = lead is None
    if lead is None:
        if not data.email and not data.phone:
            raise Invalid([FieldProblem("email", "a lead needs an email or a phone number")])
        lead = _insert_new_lead(session, workspace_id, data, now)
        if lead.id is None:  # a concurrent request created it first: update theirs
            lead = find_lead(session, workspace_id, email=data.email, phone=data.phone) or lead
            created = False
    apply_lead_input(session, lead, data, mode=WriteMode.OVERWRITE if created else mode, at=now)
    return UpsertResult(lead=lead, created=created)


def _insert_new_lead(session: Session, workspace_id: int, data: LeadInput, now: datetime) -> Lead:
    """Insert the lead's row in a savepoint. On PostgreSQL two requests can race to create the same email;
    the loser gets the unique violation, and returns an unsaved lead (id None) so the caller can find the
    winner's row, which READ COMMITTED now shows."""
    lead = Lead(workspace_id=workspace_id, email=data.email, phone=data.phone, custom={}, stage="new",
                temperature="cold", score=0.0, fit_score=0.0, engagement_score=0.0, unsubscribed=False,
                mql_ready=False,
                created_at=data.created_at or now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(lead)
            session.flush()
    except IntegrityError:
        return Lead(workspace_id=workspace_id)
    return lead


def apply_lead_input(session: Session, lead: Lead, data: LeadInput, *, mode: WriteMode, at: datetime) -> None:
    """Apply one input to a known lead: profile fields, consent, company, touch."""
    new_company = data.company is not None or lead.company_id is None
    _apply_profile(lead, data, mode)
    consent_changes = apply_consent(lead, data.consent, at=at)
    if new_company:
        company = resolve_company(session, lead.workspace_id, data.company, lead.email,
                                  fill_only=mode is WriteMode.FILL_EMPTY)
        if company is not None and (lead.company_id is None or mode is WriteMode.OVERWRITE):
            lead.company_id = company.id
    apply_touch(lead, data.source, data.created_at or at)
    lead.updated_at = at
    session.flush()
    if consent_changes and data.consent is not None:
        session.execute(insert(ConsentRecord.__table__), ledger_rows(
            lead.workspace_id, lead.id, consent_changes, consent_proof(data.consent, "api"), at))
        after_change(session, [lead.id], workspace_id=lead.workspace_id, at=at)
    scored = refresh_leads(session, lead.workspace_id, [lead.id], at=at)
    if scored:
        session.refresh(lead, attribute_names=list(SCORE_ATTRIBUTES))
    if lead.company_id is not None and lead.company_id in (changed := changed_companies(session)):
        changed.discard(lead.company_id)  # its colleagues' fit and company fields moved with the company
        colleagues = session.scalars(select(Lead.id).where(
            Lead.workspace_id == lead.workspace_id, Lead.company_id == lead.company_id, Lead.id != lead.id,
            Lead.merged_into_id.is_(None))).all()
        if scored:
            refresh_leads(session, lead.workspace_id, colleagues, cause="company", at=at)
        mark_lead_fields(session, lead.workspace_id, colleagues, COMPANY_FIELDS | SCORE_FIELDS, now=at)
    mark_lead_fields(session, lead.workspace_id, [lead.id], input_fields(data), now=at)


def update_lead(session: Session, workspace_id: int, lead_id: int, data: LeadInput) -> Lead:
    """Change a given lead's fields (PATCH). Giving an email to a lead that has none is allowed unless another
    lead holds it (that is a merge); an existing email never changes here."""
    lead = get_lead(session, workspace_id, lead_id)
    if data.email and lead.email is None:
        holder = session.scalar(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.email == data.email))
        if holder is not None:
            raise Conflict(f"lead {holder} already has this email: merge the two leads instead", field="email")
    apply_lead_input(session, lead, data, mode=WriteMode.OVERWRITE, at=utcnow())
    return lead


def get_lead(session: Session, workspace_id: int, lead_id: int) -> Lead:
    lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound("lead not found")
    return lead


def company_of(session: Session, lead: Lead) -> Company | None:
    return session.get(Company, lead.company_id) if lead.company_id is not None else None


def timeline(session: Session, workspace_id: int, lead_id: int, *, limit: int = 100,
             before_id: int | None = None) -> list[Event]:
    query = select(Event).where(Event.workspace_id == workspace_id, Event.lead_id == lead_id)
    if before_id is not None:
        query = query.where(Event.id < before_id)
    return list(session.scalars(query.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)))


@dataclass(frozen=True, slots=True)
class LeadFilter:
    email: str | None = None
    stage: str | None = None
    temperature: str | None = None
    owner_id: int | None = None
    score_min: float | None = None
    score_max: float | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    channel: str | None = None
    include_merged: bool = False


def encode_cursor(lead_id: int) -> str:
    return base64.urlsafe_b64encode(f"l:{lead_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "l":
            raise ValueError(kind)
        number = int(value)
        if not 0 < number < 2**63:
            raise ValueError(value)
        return number
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid([FieldProblem("cursor", "malformed cursor: pass back the next_cursor you were given")]) from exc


def _filtered(query: Select[tuple[Lead]], workspace_id: int, f: LeadFilter) -> Select[tuple[Lead]]:
    query = query.where(Lead.workspace_id == workspace_id)
    if not f.include_merged:
        query = query.where(Lead.merged_into_id.is_(None))
    if f.email:
        query = query.where(Lead.email == f.email.strip().lower())
    if f.stage:
        query = query.where(Lead.stage == f.stage)
    if f.temperature:
        query = query.where(Lead.temperature == f.temperature)
    if f.owner_id is not None:
        query = query.where(Lead.owner_id == f.owner_id)
    if f.score_min is not None:
        query = query.where(Lead.score >= f.score_min)
    if f.score_max is not None:
        query = query.where(Lead.score <= f.score_max)
    if f.created_after is not None:
        query = query.where(Lead.created_at >= f.created_after)
    if f.created_before is not None:
        query = query.where(Lead.created_at < f.created_before)
    if f.channel:
        query = query.where(Lead.first_channel == f.channel)
    if f.q:
        pattern = "%" + f.q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.outerjoin(Company, Company.id == Lead.company_id).where(or_(
            Lead.email.like(pattern, escape="\\"),
            func.lower(Lead.first_name).like(pattern, escape="\\"),
            func.lower(Lead.last_name).like(pattern, escape="\\"),
            func.lower(Company.name).like(pattern, escape="\\"),
        ))
    return query


def list_leads(session: Session, workspace_id: int, f: LeadFilter, *, limit: int,
               cursor: str | None = None) -> tuple[list[tuple[Lead, Company | None]], str | None]:
    """Newest first, keyset-paginated on id (stable under inserts, no OFFSET scans)."""
    query = _filtered(select(Lead), workspace_id, f)
    if cursor:
        query = query.where(Lead.id < decode_cursor(cursor))
    leads = list(session.scalars(query.order_by(Lead.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(leads[limit - 1].id) if len(leads) > limit else None
    leads = leads[:limit]
    company_ids = {lead.company_id for lead in leads if lead.company_id is not None}
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(company_ids)))} \
        if company_ids else {}
    return [(lead, companies.get(lead.company_id) if lead.company_id else None) for lead in leads], next_cursor


_COMPANY_TABLE = Company.__table__
_COMPANY_COLUMNS = tuple(c.key for c in _COMPANY_TABLE.columns)


def _bulk_companies(session: Session, workspace_id: int, inputs: list[LeadInput], mode: WriteMode) -> dict[str, int]:
    """Company id per domain for a chunk: existing ones looked up at once, new ones inserted at once, field
    changes (same rules as `apply_company_fields`) written only where something changed."""
    wanted: dict[str, list[LeadInput]] = {}
    for data in inputs:
        if domain := company_domain_for(data.company, data.email):
            wanted.setdefault(domain, []).append(data)
    if not wanted:
        return {}
    rows = session.execute(select(_COMPANY_TABLE).where(
        Company.workspace_id == workspace_id, Company.domain.in_(wanted))).mappings()
    existing = {row["domain"]: SimpleNamespace(**row) for row in rows}
    before = {domain: dict(vars(state)) for domain, state in existing.items()}
    now = utcnow()
    fresh: dict[str, SimpleNamespace] = {}
    for domain, items in wanted.items():
        state = existing.get(domain)
        if state is None:
            state = fresh[domain] = SimpleNamespace(**dict.fromkeys(_COMPANY_COLUMNS))
            state.__dict__.update(workspace_id=workspace_id, domain=domain, created_at=now, updated_at=now)
        for data in items:
            if data.company is not None:
                apply_company_fields(state, data.company,  # type: ignore[arg-type]
                                     fill_only=mode is WriteMode.FILL_EMPTY and domain not in fresh)
    ids = {domain: state.id for domain, state in existing.items()}
    if fresh:
        # One executemany, then the ids by their unique domain (RETURNING in parameter order would cost one
        # statement per row on SQLite).
        columns = [c for c in _COMPANY_COLUMNS if c != "id"]
        bulk_insert(session.connection(), _COMPANY_TABLE, columns,
                    [tuple(getattr(state, c) for c in columns) for state in fresh.values()])
        rows = session.execute(select(Company.domain, Company.id).where(
            Company.workspace_id == workspace_id, Company.domain.in_(fresh)))
        ids.update({domain: company_id for domain, company_id in rows})
    changed = [{**vars(state), "updated_at": now, "_id": state.id}
               for domain, state in existing.items() if vars(state) != before[domain]]
    if changed:
        columns = ("name", "industry", "size", "revenue", "country", "updated_at")
        stmt = update(_COMPANY_TABLE).where(_COMPANY_TABLE.c.id == bindparam("_id")).values(
            {c: bindparam(c) for c in columns})
        session.connection().execute(stmt, [{k: row[k] for k in (*columns, "_id")} for row in changed])
    return ids


@dataclass(frozen=True, slots=True)
class BulkResult:
    created: int
    updated: int
    unchanged: int


_LEAD_TABLE = Lead.__table__
_LEAD_COLUMNS = tuple(c.key for c in _LEAD_TABLE.columns)
_INSERT_COLUMNS = tuple(c for c in _LEAD_COLUMNS if c != "id")
_UPDATE_COLUMNS = tuple(c for c in _LEAD_COLUMNS if c not in ("id", "workspace_id"))


@lru_cache(maxsize=1)
def _update_by_id() -> ClauseElement:
    table = _LEAD_TABLE
    return update(table).where(table.c.id == bindparam("_id")).values(
        {c: bindparam(c, type_=table.c[c].type) for c in _UPDATE_COLUMNS})


def _existing_states(session: Session, workspace_id: int, inputs: list[LeadInput]
                     ) -> tuple[dict[str, SimpleNamespace], dict[str, SimpleNamespace]]:
    """Current rows of the leads these inputs name, as plain attribute bags (no ORM identity map)."""
    emails = {i.email for i in inputs if i.email}
    phones = {i.phone for i in inputs if i.phone}
    found: list[SimpleNamespace] = []
    if emails:
        found += [SimpleNamespace(**row) for row in session.execute(select(_LEAD_TABLE).where(
            Lead.workspace_id == workspace_id, Lead.email.in_(emails))).mappings()]
    if phones:
        found += [SimpleNamespace(**row) for row in session.execute(select(_LEAD_TABLE).where(
            Lead.workspace_id == workspace_id, Lead.phone.in_(phones), Lead.merged_into_id.is_(None),
            Lead.email.is_(None)).order_by(Lead.id.desc())).mappings()]
    # One bag per lead: a merged-away lead's email and its survivor's email in one chunk must update the
    # same bag, or the second UPDATE would undo the first.
    by_id = {state.id: state for state in found if state.merged_into_id is None}
    by_email: dict[str, SimpleNamespace] = {}
    by_phone: dict[str, SimpleNamespace] = {}
    for state in found:
        target = by_id.get(state.id)
        if target is None:
            survivor = follow_merges(session, workspace_id, session.get_one(Lead, state.id))
            target = by_id.get(survivor.id)
            if target is None:
                target = by_id[survivor.id] = SimpleNamespace(**{c: getattr(survivor, c) for c in _LEAD_COLUMNS})
        if state.email:
            by_email[state.email] = target
        elif state.phone:
            by_phone[state.phone] = target
    return by_email, by_phone


def _attach_company(session: Session, workspace_id: int, state: SimpleNamespace, data: LeadInput,
                    company_ids: dict[str, int], mode: WriteMode) -> None:
    domain = company_domain_for(data.company, state.email)
    company_id = company_ids.get(domain) if domain else None
    if company_id is None and data.company is not None and data.company.name:
        company = resolve_company(session, workspace_id, data.company, None, fill_only=mode is WriteMode.FILL_EMPTY)
        company_id = company.id if company is not None else None
    if company_id is not None and (state.company_id is None or mode is WriteMode.OVERWRITE):
        state.company_id = company_id


def _refresh_scores(session: Session, workspace_id: int, inputs: list[LeadInput], company_ids: Iterable[int],
                    at: datetime) -> None:
    """Score the leads an import named, and every lead of the companies it touched (a company's size or
    industry feeds its leads' fit), when the workspace scores leads."""
    if active_model(session, workspace_id) is None:
        return
    emails = [d.email for d in inputs if d.email]
    phones = [d.phone for d in inputs if not d.email and d.phone]
    ids = session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id, or_(
        Lead.email.in_(emails), and_(Lead.email.is_(None), Lead.phone.in_(phones)),
        Lead.company_id.in_(set(company_ids))))).all()
    refresh_leads(session, workspace_id, sorted(set(ids)), cause="import", at=at)


def _import_consent(state: SimpleNamespace, data: LeadInput, *, created: bool, now: datetime,
                    entries: list[tuple[SimpleNamespace, list[tuple[Purpose, Action]], Proof]]) -> None:
    if created:  # collected by someone else and imported: the Art. 14 notice is owed within a month
        state.notice_due_at = notice_deadline(now)
    kept = apply_consent(state, data.consent, default_source="import", at=now)  # type: ignore[arg-type]
    if kept and data.consent is not None:
        entries.append((state, kept, consent_proof(data.consent, "import")))


def _write_ledger(session: Session, workspace_id: int,
                  entries: list[tuple[SimpleNamespace, list[tuple[Purpose, Action]], Proof]], now: datetime) -> None:
    """The consent-ledger rows of an import chunk, once its new leads have ids (looked up by their unique
    email, or phone for phone-only leads)."""
    if not entries:
        return
    missing = [state for state, _, _ in entries if state.id is None]
    emails = [s.email for s in missing if s.email]
    phones = [s.phone for s in missing if not s.email and s.phone]
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    if emails:
        by_email = {e: i for e, i in session.execute(select(Lead.email, Lead.id).where(
            Lead.workspace_id == workspace_id, Lead.email.in_(emails)))}
    if phones:
        by_phone = {p: i for p, i in session.execute(select(Lead.phone, Lead.id).where(
            Lead.workspace_id == workspace_id, Lead.email.is_(None), Lead.phone.in_(phones)))}
    rows: list[dict[str, Any]] = []
    for state, changes, proof in entries:
        lead_id = state.id or (by_email.get(state.email) if state.email else by_phone.get(state.phone))
        if lead_id is not None:
            rows += ledger_rows(workspace_id, lead_id, changes, proof, now)
    if rows:
        session.execute(insert(ConsentRecord.__table__), rows)
        after_change(session, sorted({row["lead_id"] for row in rows}), workspace_id=workspace_id, at=now)


def upsert_many(
    session: Session, workspace_id: int, inputs: list[LeadInput], *, mode: WriteMode, at: datetime | None = None
) -> BulkResult:
    """`upsert_lead` for a chunk of leads (imports), with a fixed number of statements per chunk.

    The same rules run on plain attribute bags instead of ORM objects; new leads are inserted in one
    executemany, changed ones updated in another, unchanged ones not touched (a re-import writes nothing).
    Two rows of one chunk with the same email update one lead, in order.
    """
    now = at or utcnow()
    by_email, by_phone = _existing_states(session, workspace_id, inputs)
    originals = {id(s): dict(vars(s)) for s in (*by_email.values(), *by_phone.values())}
    company_ids = _bulk_companies(session, workspace_id, inputs, mode)
    new_states: list[SimpleNamespace] = []
    consent_entries: list[tuple[SimpleNamespace, list[tuple[Purpose, Action]], Proof]] = []
    for data in inputs:
        state = by_email.get(data.email) if data.email else None
        if state is None and data.phone and (candidate := by_phone.get(data.phone)) is not None \
                and (candidate.email is None or not data.email):
            state = candidate
            if data.email:
                by_email[data.email] = state
        created = state is None
        if state is None:
            state = SimpleNamespace(**dict.fromkeys(_LEAD_COLUMNS))
            state.__dict__.update(workspace_id=workspace_id, custom={}, stage="new", temperature="cold",
                                  score=0.0, fit_score=0.0, engagement_score=0.0, unsubscribed=False,
                                  mql_ready=False, funnel_rank=0, created_at=data.created_at or now)
            new_states.append(state)
            if data.email:
                by_email[data.email] = state
            elif data.phone:
                by_phone[data.phone] = state
        effective = WriteMode.OVERWRITE if created else mode
        _apply_profile(state, data, effective)  # type: ignore[arg-type]
        _import_consent(state, data, created=created, now=now, entries=consent_entries)
        _attach_company(session, workspace_id, state, data, company_ids, mode)
        apply_touch(state, data.source, data.created_at or state.created_at)  # type: ignore[arg-type]
    session.flush()
    changed = []
    for state in {id(s): s for s in (*by_email.values(), *by_phone.values())}.values():
        before = originals.get(id(state))
        if before is not None and vars(state) != before:
            changed.append({**vars(state), "updated_at": now, "_id": state.id})
    conn = session.connection()
    if new_states:
        for state in new_states:
            state.updated_at = now
        bulk_insert(conn, _LEAD_TABLE, _INSERT_COLUMNS,
                    [tuple(getattr(state, c) for c in _INSERT_COLUMNS) for state in new_states])
    if changed:
        executemany(conn, _update_by_id(), (*_UPDATE_COLUMNS, "_id"),
                    [tuple(row[c] for c in (*_UPDATE_COLUMNS, "_id")) for row in changed])
    _write_ledger(session, workspace_id, consent_entries, now)
    _refresh_scores(session, workspace_id, inputs, company_ids.values(), now)
    mark_imported(session, workspace_id, inputs, now=now)
    return BulkResult(created=len(new_states), updated=len(changed),
                      unchanged=len(inputs) - len(new_states) - len(changed))
