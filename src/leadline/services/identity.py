"""Identity resolution: anonymous visitor -> known lead, two leads -> one (and back), duplicate candidates.

The rules of what a merge keeps live in `leadline.core.identity`; this module moves rows. Events are moved with
set-based UPDATEs (never one by one), and each event keeps its subject as received (`subject_lead_id`,
`anonymous_id`) beside its current `lead_id`, which is what makes a merge undoable.

A merge's `LeadMerge` row holds both leads' columns before the merge (JSON-safe: datetimes as ISO strings)
plus two bookkeeping keys: `survivor_before["_applied"]`, the values the merge wrote on the survivor, and
`merged_before["_visitors"]`, the anonymous ids moved from the merged lead to the survivor. An undo also
writes `survivor_before["_undone_by"]` (the table has no column for who undid it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import chain, combinations
from typing import Any, cast

from rapidfuzz import process
from sqlalchemy import ColumnElement, CursorResult, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.channels import Touch
from leadline.core.identity import (
    COMPANY_MIN,
    COMPANY_SCORER,
    NAME_ONLY_WEIGHT,
    NAME_SCORER,
    Consent,
    Match,
    Person,
    company_key,
    consent_after_undo,
    full_name,
    json_safe,
    normalise_text,
    plan_merge,
    plan_undo,
    score_pair,
)
from leadline.core.leads import Channel
from leadline.services import audit
from leadline.services.consent import narrow_on_merge
from leadline.services.errors import Conflict, NotFound
from leadline.services.leads import MAX_MERGE_HOPS, follow_merges, get_lead
from leadline.services.scoring.bulk import rescore_leads
from leadline.services.scoring.refresh import SCORE_ATTRIBUTES
from leadline.services.segments.membership import mark_lead_fields
from leadline.services.touches import apply_touch
from leadline.storage.tables import Company, Event, Lead, LeadMerge, User, Visitor
from leadline.storage.types import UTCDateTime, utcnow

_LEAD_COLUMNS = tuple(column.key for column in Lead.__table__.columns)
_DATETIME_COLUMNS = frozenset(column.key for column in Lead.__table__.columns
                              if isinstance(column.type, UTCDateTime))
#: Columns a merge never writes back on undo (identity and the merge link itself).
_FIXED_COLUMNS = frozenset({"id", "workspace_id", "merged_into_id"})
#: A phone shared by more leads than this is a switchboard or a placeholder, not evidence of one person.
MAX_PHONE_GROUP = 20
#: Blocks larger than this are split by an initial (see `_split_large`).
MAX_BLOCK = 1000


# --- identify ---------------------------------------------------------------------------------------------


def _touch_of(event: Event) -> Touch:
    # Click ids and the landing page have no column: the website snippet keeps them in the properties.
    props = event.properties if isinstance(event.properties, dict) else {}
    extra = {name: value for name in ("gclid", "fbclid", "li_fat_id", "msclkid", "landing_page")
             if isinstance(value := props.get(name), str)}
    return Touch(channel=event.channel, campaign=event.campaign, utm_source=event.utm_source,
                 utm_medium=event.utm_medium, utm_campaign=event.utm_campaign, utm_term=event.utm_term,
                 utm_content=event.utm_content, referrer=event.referrer, **extra)


def _lock_visitor(session: Session, workspace_id: int, anonymous_id: str) -> Visitor:
    """The visitor row, created if new, locked for this transaction on PostgreSQL."""
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert(Visitor) if dialect == "postgresql" else sqlite.insert(Visitor)
    session.execute(insert.values(workspace_id=workspace_id, anonymous_id=anonymous_id, first_seen_at=utcnow())
                    .on_conflict_do_nothing())
    return session.scalars(select(Visitor).where(Visitor.workspace_id == workspace_id,
                                                 Visitor.anonymous_id == anonymous_id)
                           .with_for_update().execution_options(populate_existing=True)).one()


def _apply_visitor_touches(session: Session, workspace_id: int, anonymous_id: str, lead: Lead) -> None:
    """The visitor's earliest sourced event may become the lead's first touch; its latest ones move the last
    touches (`apply_touch` only ever moves a touch earlier or later, so this is idempotent)."""
    sourced = select(Event).where(Event.workspace_id == workspace_id, Event.anonymous_id == anonymous_id,
                                  Event.lead_id == lead.id, Event.channel.is_not(None))
    earliest = session.scalars(sourced.order_by(Event.occurred_at, Event.id).limit(1)).first()
    latest_non_direct = session.scalars(sourced.where(Event.channel != Channel.DIRECT.value)
                                        .order_by(Event.occurred_at.desc(), Event.id.desc()).limit(1)).first()
    latest = session.scalars(sourced.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(1)).first()
    for event in (earliest, latest_non_direct, latest):
        if event is not None:
            apply_touch(lead, _touch_of(event), event.occurred_at)


def identify_visitor(session: Session, workspace_id: int, anonymous_id: str, lead_id: int) -> int:
    """Attach an anonymous visitor (and its past events) to a lead; returns how many events were attached.

    Idempotent. A lead that was merged away stands for its survivor. A visitor already identified as another
    lead is not taken silently: it moves only if that lead is the same person (merged into this one), else
    `Conflict`.
    """
    lead = follow_merges(session, workspace_id, get_lead(session, workspace_id, lead_id))
    visitor = _lock_visitor(session, workspace_id, anonymous_id)
    if visitor.lead_id is not None and visitor.lead_id != lead.id:
        previous = session.get(Lead, visitor.lead_id)
        if previous is not None and previous.workspace_id == workspace_id \
                and follow_merges(session, workspace_id, previous).id != lead.id:
            raise Conflict(f"this visitor is already identified as lead {previous.id}; merge the two leads "
                           "instead", field="anonymous_id")
    moved = visitor.lead_id != lead.id or visitor.identified_at is None
    if moved:
        visitor.lead_id, visitor.identified_at = lead.id, utcnow()
    # The subject as received stays the anonymous id (subject_lead_id NULL); only the current owner moves.
    result = session.execute(
        update(Event).where(Event.workspace_id == workspace_id, Event.anonymous_id == anonymous_id,
                            Event.subject_lead_id.is_(None),
                            or_(Event.lead_id.is_(None), Event.lead_id != lead.id))
        .values(lead_id=lead.id).execution_options(synchronize_session=False))
    attached = cast(CursorResult[Any], result).rowcount
    _apply_visitor_touches(session, workspace_id, anonymous_id, lead)
    if moved or attached:
        lead.updated_at = utcnow()
    session.flush()
    if attached:  # its anonymous past now counts towards its score and its segments
        _rescore(session, workspace_id, [lead], cause="identified")
        mark_lead_fields(session, workspace_id, [lead.id], None, now=utcnow())
    return attached


def _rescore(session: Session, workspace_id: int, leads: Sequence[Lead], *, cause: str) -> None:
    if rescore_leads(session, workspace_id, [lead.id for lead in leads], cause=cause):
        for lead in leads:
            session.refresh(lead, attribute_names=list(SCORE_ATTRIBUTES))


# --- merge and unmerge -----------------------------------------------------------------------------------


def _fields(lead: Lead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in _LEAD_COLUMNS}


def _native(name: str, value: Any) -> Any:
    """A snapshot value back to what the column holds."""
    if name in _DATETIME_COLUMNS and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


def _lock_leads(session: Session, workspace_id: int, ids: Sequence[int]) -> dict[int, Lead]:
    """The leads, locked in id order (two merges of the same pair cannot deadlock)."""
    rows = session.scalars(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(ids))
                           .order_by(Lead.id).with_for_update().execution_options(populate_existing=True))
    return {lead.id: lead for lead in rows}


def merge_leads(session: Session, workspace_id: int, survivor_id: int, other_id: int, *, actor: str) -> LeadMerge:
    """Merge `other_id` into `survivor_id`: every event and visitor moves to the survivor, which keeps the
    richer values, the earliest first touch and the narrower consent. The other lead stays (with its email)
    marked `merged_into_id`, so captures with its email follow to the survivor and the merge can be undone."""
    if survivor_id == other_id:
        raise Conflict("a lead cannot be merged into itself", field="other_id")
    leads = _lock_leads(session, workspace_id, (survivor_id, other_id))
    survivor, other = leads.get(survivor_id), leads.get(other_id)
    if survivor is None or other is None:
        raise NotFound("lead not found")
    for lead in (survivor, other):
        if lead.merged_into_id is not None:
            raise Conflict(f"lead {lead.id} was already merged into lead {lead.merged_into_id}")
    now = utcnow()
    survivor_fields, other_fields = _fields(survivor), _fields(other)
    changes = plan_merge(survivor_fields, other_fields)
    visitors = list(session.scalars(select(Visitor.anonymous_id).where(
        Visitor.workspace_id == workspace_id, Visitor.lead_id == other.id).order_by(Visitor.anonymous_id)))
    session.execute(update(Visitor).where(Visitor.workspace_id == workspace_id, Visitor.lead_id == other.id)
                    .values(lead_id=survivor.id).execution_options(synchronize_session=False))
    session.execute(update(Event).where(Event.workspace_id == workspace_id, Event.lead_id == other.id)
                    .values(lead_id=survivor.id).execution_options(synchronize_session=False))
    for name, value in changes.items():
        setattr(survivor, name, value)
    narrow_on_merge(session, survivor, survivor_fields, other_fields, other_id=other.id, actor=actor, at=now)
    survivor.updated_at = other.updated_at = now
    other.merged_into_id = survivor.id
    merge = LeadMerge(
        workspace_id=workspace_id, survivor_id=survivor.id, merged_id=other.id, actor=actor[:200], created_at=now,
        survivor_before={**json_safe(survivor_fields), "_applied": json_safe(changes)},
        merged_before={**json_safe(other_fields), "_visitors": visitors},
    )
    session.add(merge)
    session.flush()
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.LEAD_MERGED,
                 target_type="lead", target_id=survivor.id, detail={"merged_id": other.id, "merge_id": merge.id},
                 at=now)
    _rescore(session, workspace_id, [survivor, other], cause="merge")
    mark_lead_fields(session, workspace_id, [survivor.id, other.id], None, now=now)
    return merge


def _absorbed_by(session: Session, workspace_id: int, lead_id: int) -> set[int]:
    """The lead and every lead merged into it, directly or through others (still merged)."""
    found, frontier = {lead_id}, {lead_id}
    for _ in range(MAX_MERGE_HOPS):
        frontier = set(session.scalars(select(Lead.id).where(
            Lead.workspace_id == workspace_id, Lead.merged_into_id.in_(frontier)))) - found
        if not frontier:
            break
        found |= frontier
    return found


def _drop_dangling_references(session: Session, lead: Lead) -> None:
    """A company or owner deleted while the leads were merged cannot come back with the snapshot."""
    if lead.company_id is not None and session.get(Company, lead.company_id) is None:
        lead.company_id = None
    if lead.owner_id is not None and session.get(User, lead.owner_id) is None:
        lead.owner_id = None


def unmerge(session: Session, workspace_id: int, merge_id: int, *, actor: str) -> tuple[Lead, Lead]:
    """Undo a merge; returns (survivor, restored lead).

    The restored lead gets its columns back from the snapshot (its consent narrowed by any withdrawal made
    while merged); the survivor gets back each value the merge wrote that nobody changed since. Exactly the
    events that belonged to the merged lead move back: those received for it or for a lead merged into it
    earlier, and those of the visitors the merge moved. A merge whose survivor was merged again since is
    refused: undo the later merge first.
    """
    merge = session.scalars(select(LeadMerge).where(LeadMerge.workspace_id == workspace_id,
                                                    LeadMerge.id == merge_id).with_for_update()).first()
    if merge is None:
        raise NotFound("merge not found")
    if merge.undone_at is not None:
        raise Conflict("this merge was already undone")
    leads = _lock_leads(session, workspace_id, (merge.survivor_id, merge.merged_id))
    survivor, merged = leads.get(merge.survivor_id), leads.get(merge.merged_id)
    if survivor is None or merged is None:
        raise Conflict("a lead of this merge no longer exists; it cannot be undone")
    if survivor.merged_into_id is not None:
        raise Conflict(f"lead {survivor.id} was merged into lead {survivor.merged_into_id} since; "
                       "undo that merge first")
    if merged.merged_into_id != survivor.id:
        raise Conflict(f"lead {merged.id} is no longer merged into lead {survivor.id}")
    now = utcnow()
    survivor_before = {k: v for k, v in merge.survivor_before.items() if not k.startswith("_")}
    merged_before = {k: v for k, v in merge.merged_before.items() if not k.startswith("_")}
    applied: dict[str, Any] = merge.survivor_before.get("_applied", {})
    visitors: list[str] = list(merge.merged_before.get("_visitors", []))
    current = json_safe(_fields(survivor))

    # what the survivor's consent was right after the merge, to see any withdrawal made since
    consent_then = Consent.of({**survivor_before, **applied})
    restored_consent = consent_after_undo(Consent.of(merged_before), consent_then, Consent.of(current))
    for name, value in plan_undo(survivor_before, applied, current).items():
        setattr(survivor, name, _native(name, value))
    for name, value in (merged_before | restored_consent.as_fields()).items():
        if name in _LEAD_COLUMNS and name not in _FIXED_COLUMNS:
            setattr(merged, name, _native(name, value))
    _drop_dangling_references(session, merged)
    merged.merged_into_id = None
    survivor.updated_at = merged.updated_at = now

    subjects = _absorbed_by(session, workspace_id, merged.id)
    belongs: ColumnElement[bool] = Event.subject_lead_id.in_(subjects)
    if visitors:
        belongs = or_(belongs, Event.anonymous_id.in_(visitors))
    session.execute(update(Event).where(Event.workspace_id == workspace_id, Event.lead_id == survivor.id, belongs)
                    .values(lead_id=merged.id).execution_options(synchronize_session=False))
    if visitors:
        session.execute(update(Visitor).where(Visitor.workspace_id == workspace_id, Visitor.lead_id == survivor.id,
                                              Visitor.anonymous_id.in_(visitors))
                        .values(lead_id=merged.id).execution_options(synchronize_session=False))
    merge.undone_at = now
    merge.survivor_before = {**merge.survivor_before, "_undone_by": actor[:200]}
    session.flush()
    _rescore(session, workspace_id, [survivor, merged], cause="unmerge")
    mark_lead_fields(session, workspace_id, [survivor.id, merged.id], None, now=now)
    return survivor, merged


# --- duplicate candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """Two leads that may be one person (`lead_id` < `other_id`)."""

    lead_id: int
    other_id: int
    score: int
    reasons: tuple[str, ...]


def _blocks(session: Session, workspace_id: int, key: Any, *, max_size: int | None = None
            ) -> Iterator[list[Person]]:
    """Stream the workspace's active leads that share `key` with at least one other (and at most `max_size`
    in all), one block of equal `key` at a time.

    The block size is a window count over one scan, not an `IN (SELECT .. GROUP BY ..)`: with stale statistics
    PostgreSQL plans that join as a nested loop that rescans the table once per group.
    """
    ranked = (select(key.label("block_key"), Lead.id, Lead.first_name, Lead.last_name, Lead.phone, Lead.company_id,
                     Company.name.label("company_name"), func.count().over(partition_by=key).label("block_size"))
              .outerjoin(Company, Company.id == Lead.company_id)
              .where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), key.is_not(None))
              .subquery())
    size = ranked.c.block_size
    query = (select(ranked).where(size > 1 if max_size is None else size.between(2, max_size))
             .order_by(ranked.c.block_key, ranked.c.id))
    block: list[Person] = []
    current: Any = object()
    for row in session.execute(query.execution_options(yield_per=5000)):
        if row.block_key != current and block:
            yield block
            block = []
        current = row.block_key
        block.append(Person(id=row.id, first_name=row.first_name, last_name=row.last_name, phone=row.phone,
                            company_id=row.company_id, company_name=row.company_name))
    if block:
        yield block


def _name_pairs(block: list[Person], min_score: float, *,
                company_cutoff: float | None = None) -> Iterator[tuple[Person, Person]]:
    """Pairs of the block whose full names are at least `min_score` alike and, with `company_cutoff`, whose
    company names are at least that alike. The C loop of rapidfuzz does the comparing (one `process.extract`
    per lead against the rest of its block), with the scorers `score_pair` uses, so nothing it would keep is
    left out."""
    keys: list[str] = []
    if company_cutoff is not None:
        with_keys = [(p, key) for p in block if (key := company_key(p.company_name))]
        block, keys = [p for p, _ in with_keys], [key for _, key in with_keys]
    names = [full_name(p.first_name, p.last_name) for p in block]
    for i, name in enumerate(names[:-1]):
        if not name:
            continue
        alike = [j for _match, _score, j in process.extract(
            name, names[i + 1:], scorer=NAME_SCORER, processor=None, score_cutoff=min_score, limit=None)]
        if alike and company_cutoff is not None:
            companies = {j for _match, _score, j in process.extract(
                keys[i], [keys[i + 1 + j] for j in alike], scorer=COMPANY_SCORER, processor=None,
                score_cutoff=company_cutoff, limit=None)}
            alike = [j for n, j in enumerate(alike) if n in companies]
        for j in alike:
            yield block[i], block[i + 1 + j]


def _split_large(block: list[Person], initial: Callable[[Person], str | None]) -> Iterable[list[Person]]:
    """A block too large to compare pair by pair is compared by sub-blocks of one `initial` letter (a typo
    rarely hits the first letter; that is the price of never comparing 10,000 x 10,000 names)."""
    if len(block) <= MAX_BLOCK:
        return [block]
    parts: dict[str, list[Person]] = {}
    for person in block:
        parts.setdefault(normalise_text(initial(person))[:1], []).append(person)
    return parts.values()


def _phone_pairs(session: Session, workspace_id: int) -> Iterator[tuple[Person, Person]]:
    """Every pair sharing a phone (phones shared by more than `MAX_PHONE_GROUP` leads are left out)."""
    for block in _blocks(session, workspace_id, Lead.phone, max_size=MAX_PHONE_GROUP):
        yield from combinations(block, 2)


def _company_pairs(session: Session, workspace_id: int, min_score: float) -> Iterator[tuple[Person, Person]]:
    """Pairs at one company whose names are alike (pairs sharing a phone were already given)."""
    for block in _blocks(session, workspace_id, Lead.company_id):
        for part in _split_large(block, lambda p: p.last_name):
            yield from ((a, b) for a, b in _name_pairs(part, min_score) if not a.phone or a.phone != b.phone)


def _last_name_pairs(session: Session, workspace_id: int, min_score: float) -> Iterator[tuple[Person, Person]]:
    """Pairs with one last name whose full names are alike, at different companies (the other pairs were given
    by the blocks above)."""
    # at two company records the name counts only with similar company names, unless a name alone can score
    # `min_score` (see `score_pair`)
    company_cutoff = None if min_score <= 100 * NAME_ONLY_WEIGHT else max(COMPANY_MIN, min_score)
    for block in _blocks(session, workspace_id, func.lower(Lead.last_name)):
        for part in _split_large(block, lambda p: p.first_name):
            yield from ((a, b) for a, b in _name_pairs(part, min_score, company_cutoff=company_cutoff)
                        if (a.company_id is None or a.company_id != b.company_id)
                        and (not a.phone or a.phone != b.phone))


def duplicate_candidates(session: Session, workspace_id: int, *, limit: int = 50,
                         min_score: int = 85) -> list[Candidate]:
    """Pairs of active leads that are probably one person, best first.

    Exact duplicates cannot exist (the email is unique), so this looks for fuzzy ones. SQL first forms blocks
    (the same phone, the same company, the same lowercase last name) and pairs are only compared inside a
    block, so the cost follows the block sizes, never the square of the number of leads; blocks over
    `MAX_BLOCK` leads are split by an initial. Not found: a misspelt last name at two different company
    records (no block holds both). `min_score` should stay at 50 or more (lower keeps every pair of a block).
    """
    found: dict[tuple[int, int], Match] = {}
    for a, b in chain(_phone_pairs(session, workspace_id), _company_pairs(session, workspace_id, min_score),
                      _last_name_pairs(session, workspace_id, min_score)):
        pair = (a.id, b.id) if a.id < b.id else (b.id, a.id)
        if pair not in found and (match := score_pair(a, b)).score >= min_score:
            found[pair] = match
    ranked = sorted(found.items(), key=lambda item: (-item[1].score, item[0]))
    return [Candidate(lead_id=a, other_id=b, score=m.score, reasons=m.reasons) for (a, b), m in ranked[:limit]]


def leads_with_companies(session: Session, workspace_id: int,
                         lead_ids: Iterable[int]) -> dict[int, tuple[Lead, Company | None]]:
    """Leads by id with their companies, in two queries (for showing candidate pairs)."""
    ids = set(lead_ids)
    if not ids:
        return {}
    leads = list(session.scalars(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(ids))))
    company_ids = {lead.company_id for lead in leads if lead.company_id is not None}
    companies = {c.id: c for c in session.scalars(select(Company).where(Company.id.in_(company_ids)))} \
        if company_ids else {}
    return {lead.id: (lead, companies.get(lead.company_id) if lead.company_id else None) for lead in leads}
