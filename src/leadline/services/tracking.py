"""Website tracking: a workspace's snippet settings, and what a snippet batch becomes.

A batch sent with the visitor's consent goes through the ordinary ingestion path (`record_events`, anonymous
visitor rules, real-time scoring); `identify` attaches the visitor's history to the lead, if the consent gate
lets this lead be tracked. Without consent, page views only add to a per-day, per-path counter; known
crawlers and headless browsers add to their own counter and never reach the event log or the scores.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.channels import Touch
from leadline.core.consent import Action, Purpose
from leadline.core.lead_input import InvalidLeadInput, build_lead_input
from leadline.core.tracking import (
    EXTRA_TOUCH_FIELDS,
    IDENTIFY,
    PAGE_VIEW,
    SnippetBatch,
    SnippetEvent,
    aggregate_path,
    normalise_domain,
)
from leadline.services.consent import Proof, may_track, record_consent
from leadline.services.errors import Conflict
from leadline.services.events import EventDraft, record_events
from leadline.services.identity import identify_visitor
from leadline.services.leads import WriteMode, follow_merges, upsert_lead
from leadline.services.workspaces import WorkspacePolicy
from leadline.storage.tables import Lead, PageCount, TrackingSettings, Workspace
from leadline.storage.types import utcnow

ANONYMOUS = "anonymous"
BOT = "bot"


@dataclass(frozen=True, slots=True)
class Site:
    """What the collect endpoint needs of a workspace's tracking settings (small enough to cache)."""

    workspace_id: int
    public_key: str
    allowed_domains: tuple[str, ...]
    require_consent: bool
    honour_gpc: bool
    policy: WorkspacePolicy


@dataclass(slots=True)
class CollectResult:
    accepted: int = 0
    duplicates: int = 0
    counted: int = 0  # page views added to the consent-free counters
    bots: int = 0
    identified: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "counted": self.counted,
                "bots": self.bots, "identified": self.identified, "errors": self.errors}


# --- settings ---------------------------------------------------------------------------------------------


def get_tracking(session: Session, workspace_id: int) -> TrackingSettings | None:
    return session.get(TrackingSettings, workspace_id)


def configure_tracking(session: Session, workspace_id: int, *, allowed_domains: list[str] | None = None,
                       require_consent: bool | None = None, honour_gpc: bool | None = None,
                       rotate_key: bool = False) -> TrackingSettings:
    """Create or change a workspace's tracking settings (a new public key on creation or when rotated).
    Raises ValueError naming a domain that is not a host name."""
    settings = session.get(TrackingSettings, workspace_id)
    now = utcnow()
    if settings is None:
        settings = TrackingSettings(workspace_id=workspace_id, public_key=new_public_key(), allowed_domains=[],
                                    require_consent=True, honour_gpc=True, created_at=now)
        session.add(settings)
    if allowed_domains is not None:
        settings.allowed_domains = sorted({normalise_domain(d) for d in allowed_domains})
    if require_consent is not None:
        settings.require_consent = require_consent
    if honour_gpc is not None:
        settings.honour_gpc = honour_gpc
    if rotate_key:
        settings.public_key = new_public_key()
    settings.updated_at = now
    session.flush()
    return settings


def new_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def site_of(session: Session, settings: TrackingSettings) -> Site:
    workspace = session.get(Workspace, settings.workspace_id)
    allowed = workspace.allowed_event_types if workspace is not None else None
    policy = WorkspacePolicy(id=settings.workspace_id,
                             allowed_event_types=tuple(allowed) if allowed is not None else None)
    return Site(settings.workspace_id, settings.public_key, tuple(settings.allowed_domains or ()),
                settings.require_consent, settings.honour_gpc, policy)


def find_site(session: Session, public_key: str) -> Site | None:
    if not public_key or len(public_key) > 64:
        return None
    settings = session.scalar(select(TrackingSettings).where(TrackingSettings.public_key == public_key))
    return site_of(session, settings) if settings is not None else None


def site_of_workspace(session: Session, workspace_id: int) -> Site | None:
    settings = session.get(TrackingSettings, workspace_id)
    return site_of(session, settings) if settings is not None else None


class SiteCache:
    """Recently seen public keys: a busy site costs one lookup per `ttl` seconds. Changed settings (domains,
    a rotated key) take effect within `ttl`. Unknown keys are remembered too, so a flood of them costs little."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Site | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Site | None]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def put(self, key: str, site: Site | None) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, site)


# --- collect ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received batch with what the request said about its sender."""

    site: Site
    batch: SnippetBatch
    bot: bool = False
    gpc: bool = False  # the browser sent Global Privacy Control (a refusal when the workspace honours it)

    @property
    def identified(self) -> bool:
        return (not self.bot and self.batch.consent and self.batch.visitor is not None
                and not (self.gpc and self.site.honour_gpc))


def collect(session: Session, site: Site, batch: SnippetBatch, *, bot: bool, gpc: bool,
            now: datetime | None = None) -> CollectResult:
    """Store one snippet batch. `bot`: the sender looks like a crawler or headless browser."""
    return collect_many(session, [Delivery(site, batch, bot, gpc)], now=now)[0]


def collect_many(session: Session, deliveries: list[Delivery], *, now: datetime | None = None
                 ) -> list[CollectResult]:
    """Store batches received together in one transaction (the endpoint groups concurrent requests: one
    transaction's fixed costs, not one per request). The consented events of a workspace go through one
    `record_events` call; each batch gets its own result."""
    now = now or utcnow()
    results = [CollectResult() for _ in deliveries]
    counts: dict[tuple[int, str], Counter[str]] = {}
    by_workspace: dict[int, list[int]] = {}
    for i, delivery in enumerate(deliveries):
        audience = BOT if delivery.bot else None if delivery.identified else ANONYMOUS
        if audience is None:
            by_workspace.setdefault(delivery.site.workspace_id, []).append(i)
            continue
        counter = counts.setdefault((delivery.site.workspace_id, audience), Counter())
        views = _page_paths(delivery.batch.events)
        counter.update(views)
        if audience == BOT:
            results[i].bots = len(views)
        else:
            results[i].counted = len(views)
    for (workspace_id, audience), counter in counts.items():
        _add_counts(session, workspace_id, audience, counter, now)
    for indexes in by_workspace.values():
        _record(session, [deliveries[i] for i in indexes], [results[i] for i in indexes])
    return results


def _record(session: Session, deliveries: list[Delivery], results: list[CollectResult]) -> None:
    drafts: list[EventDraft] = []
    owners: list[tuple[int, int]] = []  # per draft: (delivery, index of the event in its batch)
    for d, delivery in enumerate(deliveries):
        visitor = delivery.batch.visitor
        assert visitor is not None
        for e, event in enumerate(delivery.batch.events):
            if event.type != IDENTIFY:
                drafts.append(_draft(visitor, event))
                owners.append((d, e))
    if drafts:
        for outcome in record_events(session, deliveries[0].site.policy, drafts):
            d, e = owners[outcome.index]
            result = results[d]
            if outcome.status == "accepted":
                result.accepted += 1
            elif outcome.status == "duplicate":
                result.duplicates += 1
            else:
                result.errors.append({"field": f"events.{e}.{outcome.field or 'type'}", "reason": outcome.error})
    for delivery, result in zip(deliveries, results, strict=True):
        _identify_all(session, delivery, result)


def _identify_all(session: Session, delivery: Delivery, result: CollectResult) -> None:
    for index, event in enumerate(delivery.batch.events):
        if event.type == IDENTIFY and event.lead_id is not None:
            if identify_lead(session, delivery.site, delivery.batch.visitor or "", event):
                result.identified += 1
        elif event.type == IDENTIFY and event.token is not None and event.email is None:
            result.errors.append({"field": f"events.{index}.token", "reason": "not a valid or recent email link"})
        elif event.type == IDENTIFY and event.email:
            try:
                if identify_email(session, delivery.site, delivery.batch.visitor or "", event):
                    result.identified += 1
            except InvalidLeadInput as exc:
                result.errors.extend({"field": f"events.{index}.email", "reason": p.reason} for p in exc.problems)


def _draft(visitor: str, event: SnippetEvent) -> EventDraft:
    draft = EventDraft(event.type, f"t:{visitor}:{event.event_id}" if event.event_id else None, None, None,
                       visitor, event.occurred_at, event.properties)
    if event.source:  # most page views carry none: only the landing page does
        # The events table has no column for click ids and the landing page; identify reads them back.
        draft.properties = {**event.properties, **{name: event.source[name] for name in EXTRA_TOUCH_FIELDS
                                                   if name in event.source}}
        draft.source = Touch.from_mapping(event.source)
    return draft


def identify_email(session: Session, site: Site, visitor: str, event: SnippetEvent) -> bool:
    """`leadline.identify(email)`: the lead (created if new, empty fields only) gets the visitor's past events
    when it may be tracked, and an `identify` event carrying the touch kept in the browser (UTM, click ids)."""
    workspace = session.get(Workspace, site.workspace_id)
    data = build_lead_input({"email": event.email},
                            default_country=workspace.default_country if workspace is not None else None)
    lead = upsert_lead(session, site.workspace_id, data, mode=WriteMode.FILL_EMPTY).lead
    if not attach_visitor(session, site.workspace_id, visitor, lead):
        return False
    draft = _draft(visitor, event)
    draft.anonymous_id, draft.lead_id = None, lead.id
    record_events(session, site.policy, [draft])
    return True


def identify_lead(session: Session, site: Site, visitor: str, event: SnippetEvent) -> bool:
    """Identify by an email click's verified `ll_id`: the same as `identify_email`, for a known lead."""
    lead = session.get(Lead, event.lead_id)
    if lead is None or lead.workspace_id != site.workspace_id or not attach_visitor(
            session, site.workspace_id, visitor, lead):
        return False
    draft = _draft(visitor, event)
    draft.anonymous_id, draft.lead_id = None, lead.id
    record_events(session, site.policy, [draft])
    return True


def attach_visitor(session: Session, workspace_id: int, anonymous_id: str, lead: Lead) -> bool:
    """Attach an anonymous visitor's history to `lead` if the consent gate allows tracking this lead.

    Callers only pass a visitor id the browser kept with the visitor's consent (the snippet sends none
    without it), so an unknown tracking consent is recorded as granted by that consent; a lead that withdrew
    tracking consent is never linked to its browsing, and its visitor stays anonymous.
    """
    lead = follow_merges(session, workspace_id, lead)
    if not may_track(lead).allowed:
        if lead.consent_tracking is False:
            return False
        # The browser's consent becomes a ledger entry (the lead's column is derived from the ledger).
        record_consent(session, lead, [(Purpose.TRACKING, Action.GRANT)],
                       Proof(source="website", actor="snippet", legal_basis="consent"))
    # A shared computer may already be someone else's visitor: the identification still counts, the history
    # simply stays where it is.
    with suppress(Conflict), session.begin_nested():
        identify_visitor(session, workspace_id, anonymous_id, lead.id)
    return True


def _page_paths(events: tuple[SnippetEvent, ...]) -> list[str]:
    return [aggregate_path(e.properties.get("path") or e.properties.get("url")) for e in events
            if e.type == PAGE_VIEW]


def _add_counts(session: Session, workspace_id: int, audience: str, counts: Counter[str], now: datetime) -> None:
    """Add page views to the day's counters by path: no visitor, no query string, no time of day."""
    if not counts:
        return
    table = PageCount.__table__
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.on_conflict_do_update(index_elements=["workspace_id", "day", "audience", "path"],
                                        set_={"views": table.c.views + insert.excluded.views})
    day = now.date()
    session.execute(stmt, [{"workspace_id": workspace_id, "day": day, "audience": audience, "path": path,
                            "views": n} for path, n in sorted(counts.items())])


def page_counts(session: Session, workspace_id: int, *, since: Any) -> list[PageCount]:
    return list(session.scalars(select(PageCount).where(PageCount.workspace_id == workspace_id,
                                                        PageCount.day >= since)
                                .order_by(PageCount.day, PageCount.audience, PageCount.path)))
