"""Load the demo workspace from the real Olist marketing-funnel data (`leadline demo`).

The data (``data/``, CC BY-NC-SA 4.0, Olist; see ``data/LICENSE-DATA.md`` and ``data/SOURCE.txt``) is shipped
unchanged; everything below is done at load time.

The mapping
-----------
Each of the 8,000 marketing qualified leads (MQLs) becomes a lead:

- **Identity.** Olist's leads are anonymised: they have no email and no phone, and Leadline needs one of them.
  Each lead gets the pseudonymous address ``<mql_id>@olist-demo.example.com`` (``example.com`` is reserved, so
  nothing can ever be sent there) and ``external_id = mql_id``.
- **First touch.** ``origin`` gives the channel: organic_search -> seo, paid_search -> sea, social -> social,
  display -> display, email -> email, referral -> referral, direct_traffic -> direct,
  other_publicities -> other, other -> other, unknown or missing -> other. The raw origin is kept in the custom
  field ``olist_origin`` (absent when the file has none). ``landing_page_id`` becomes the landing page
  ``/lp/<landing_page_id>``. The touch is applied with the same code as any capture (`apply_touch`), so first,
  last and last non-direct touch are set as they would be for a real form.
- **Time.** ``first_contact_date`` (a date) is taken as UTC midnight: it is the lead's ``created_at``, its first
  touch time and the time of its ``form_submit`` event.
- **Timeline.** One ``form_submit`` event per lead at first contact, with the channel, the landing page as
  ``path`` and the event key ``olist-mql-<mql_id>`` (claimed in ``event_keys`` like any client event id).
- **Lifecycle.** Every lead is an MQL: a ``new -> mql`` stage transition at first contact (actor type
  ``import``, actor ``olist demo``). The 842 leads with a closed deal become ``customer`` with a second
  transition ``mql -> customer`` at ``won_date``. ``won_date`` has no time zone in the file; it is read as UTC
  (most values are 03:00 or 02:00, i.e. midnight in São Paulo in standard and summer time, which is what a UTC
  timestamp of a local date looks like). Times are kept exactly as published: one deal
  (``b91cf8812365f50ff4bda4bcd6206b05``) was won two days before its recorded first contact, so its
  ``mql -> customer`` transition comes before its ``new -> mql`` one.
- **Deal attributes** go to custom fields under their Olist names, empty values left out: ``business_segment``,
  ``lead_type``, ``lead_behaviour_profile``, ``business_type``, ``declared_monthly_revenue`` (a number) and,
  for the ~8 % of deals that have them, ``has_company`` / ``has_gtin`` (booleans), ``average_stock``,
  ``declared_product_catalog_size`` (a number); ``seller_id`` as ``olist_seller_id``. These exist only for
  converted leads: a predictive model must not use them as features (target leakage).
- **People.** Every SDR and SR id becomes a user with role ``rep``, handle ``sdr-<first 8 chars>`` or
  ``sr-<first 8 chars>`` and name ``SDR 1a2b3c4d`` / ``SR 1a2b3c4d``. Thirteen ids appear in both columns (the
  same person qualified some deals and closed others; five deals even have the same id in both): that person is
  one user, with handle ``sdr-sr-<first 8 chars>`` and name ``SDR/SR 1a2b3c4d``. 32 SDRs and 22 SRs make 41
  users. A customer's owner is its SR; its SDR's handle is kept in the custom field ``sdr``. Leads that did not
  convert have no owner (the file does not say who worked them).
- Scores and temperatures are left at their defaults (0, cold): scoring is a workspace's own configuration.

Loading is idempotent and resumable: users are matched by handle, leads by ``external_id`` (and by address), and
each chunk of leads is written with its transitions, event keys and events in one short transaction, so a
second run (or a run after an interrupted one) adds only what is missing. Rows go in with Core
``insert(...)`` executemany statements; the whole set loads in a few seconds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.resources import files
from importlib.resources.abc import Traversable
from types import SimpleNamespace
from typing import Any, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Table, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.channels import Touch
from leadline.core.leads import Channel, Stage
from leadline.demo.routing import route_demo
from leadline.services.funnel_facts import refresh_funnel_facts
from leadline.services.touches import apply_touch
from leadline.services.workflows import install_examples
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.maintenance import refresh_statistics
from leadline.storage.partitions import ensure_event_partitions
from leadline.storage.tables import Event, EventKey, Lead, StageTransition, User, Workspace
from leadline.storage.types import utcnow

MQL_FILE = "olist_marketing_qualified_leads_dataset.csv"
DEALS_FILE = "olist_closed_deals_dataset.csv"
MQL_COLUMNS = ("mql_id", "first_contact_date", "landing_page_id", "origin")
DEAL_COLUMNS = ("mql_id", "seller_id", "sdr_id", "sr_id", "won_date", "business_segment", "lead_type",
                "lead_behaviour_profile", "has_company", "has_gtin", "average_stock", "business_type",
                "declared_product_catalog_size", "declared_monthly_revenue")
EMAIL_DOMAIN = "olist-demo.example.com"
EVENT_KEY_PREFIX = "olist-mql-"
ACTOR_TYPE = "import"
ACTOR = "olist demo"
WORKSPACE_NAME = "Demo (Olist marketing funnel)"
#: Leads per transaction: with their transitions and events, well under 100 ms of writing on SQLite.
CHUNK_LEADS = 250

ORIGIN_CHANNELS: dict[str, Channel] = {
    "organic_search": Channel.SEO,
    "paid_search": Channel.SEA,
    "social": Channel.SOCIAL,
    "display": Channel.DISPLAY,
    "email": Channel.EMAIL,
    "referral": Channel.REFERRAL,
    "direct_traffic": Channel.DIRECT,
    "other_publicities": Channel.OTHER,
    "other": Channel.OTHER,
    "unknown": Channel.OTHER,
}
LEADS = cast(Table, Lead.__table__)
USERS = cast(Table, User.__table__)
EVENTS = cast(Table, Event.__table__)
EVENT_KEYS = cast(Table, EventKey.__table__)
TRANSITIONS = cast(Table, StageTransition.__table__)
_LEAD_COLUMNS = tuple(c.key for c in LEADS.columns)
_TEXT_FIELDS = ("business_segment", "lead_type", "lead_behaviour_profile", "business_type", "average_stock")
_NUMBER_FIELDS = ("declared_monthly_revenue", "declared_product_catalog_size")
_FLAG_FIELDS = ("has_company", "has_gtin")


class DemoDataError(RuntimeError):
    """The packaged data files are missing or not the published Olist files."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo workspace holds after loading (the same after a second run)."""

    workspace_id: int
    leads: int
    customers: int
    owners: int
    events: int
    #: Leads this call inserted: 8,000 on the first run, 0 on a repeat.
    new_leads: int = 0
    #: Open MQLs given an owner by the demo's routing rule, and leads flagged overdue (see `demo.routing`).
    routed_mqls: int = 0
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class OlistDeal:
    mql_id: str
    seller_id: str
    sdr_id: str
    sr_id: str
    won_at: datetime
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class OlistLead:
    mql_id: str
    first_contact: datetime
    landing_page_id: str | None
    origin: str | None
    deal: OlistDeal | None = None

    @property
    def channel(self) -> Channel:
        return ORIGIN_CHANNELS.get(self.origin or "", Channel.OTHER)

    @property
    def email(self) -> str:
        return f"{self.mql_id}@{EMAIL_DOMAIN}"

    @property
    def landing_page(self) -> str | None:
        return f"/lp/{self.landing_page_id}" if self.landing_page_id else None


@dataclass(frozen=True, slots=True)
class Person:
    """One SDR or SR id of the file, and the roles it played."""

    olist_id: str
    roles: tuple[str, ...] = field(default=())

    @property
    def handle(self) -> str:
        return "-".join(self.roles) + "-" + self.olist_id[:8]

    @property
    def name(self) -> str:
        return "/".join(role.upper() for role in self.roles) + " " + self.olist_id[:8]


def data_files() -> Traversable:
    """The packaged data folder (works from a source tree, a wheel or a zip)."""
    return files("leadline.demo") / "data"


def _rows(name: str, columns: Sequence[str]) -> Iterator[dict[str, str]]:
    resource = data_files() / name
    if not resource.is_file():
        raise DemoDataError(f"demo data file {name} is missing from the package (leadline/demo/data)")
    with resource.open("rb") as binary, io.TextIOWrapper(binary, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != tuple(columns):
            raise DemoDataError(f"{name}: unexpected columns {reader.fieldnames}; expected {list(columns)}")
        yield from reader


def _utc_midnight(text: str) -> datetime:
    day = date.fromisoformat(text)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _deal_attributes(row: dict[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        if row[name]:
            attributes[name] = row[name]
    for name in _NUMBER_FIELDS:
        if row[name]:
            attributes[name] = float(row[name])
    for name in _FLAG_FIELDS:
        if row[name]:
            attributes[name] = row[name] == "True"
    return attributes


def read_olist() -> list[OlistLead]:
    """The 8,000 MQLs in file order, each with its closed deal when it has one."""
    deals: dict[str, OlistDeal] = {}
    for row in _rows(DEALS_FILE, DEAL_COLUMNS):
        deals[row["mql_id"]] = OlistDeal(
            mql_id=row["mql_id"], seller_id=row["seller_id"], sdr_id=row["sdr_id"], sr_id=row["sr_id"],
            won_at=datetime.fromisoformat(row["won_date"]).replace(tzinfo=UTC),
            attributes=_deal_attributes(row),
        )
    leads = [
        OlistLead(mql_id=row["mql_id"], first_contact=_utc_midnight(row["first_contact_date"]),
                  landing_page_id=row["landing_page_id"] or None, origin=row["origin"] or None,
                  deal=deals.pop(row["mql_id"], None))
        for row in _rows(MQL_FILE, MQL_COLUMNS)
    ]
    if deals:
        raise DemoDataError(f"{len(deals)} closed deals name an MQL that is not in {MQL_FILE}")
    return leads


def people_of(leads: Sequence[OlistLead]) -> dict[str, Person]:
    """Every SDR and SR id, by id, with the roles it played (SDR first)."""
    roles: dict[str, set[str]] = {}
    for lead in leads:
        if lead.deal is not None:
            roles.setdefault(lead.deal.sdr_id, set()).add("sdr")
            roles.setdefault(lead.deal.sr_id, set()).add("sr")
    people = {olist_id: Person(olist_id, tuple(r for r in ("sdr", "sr") if r in found))
              for olist_id, found in roles.items()}
    if len({p.handle for p in people.values()}) != len(people):
        raise DemoDataError("two SDR/SR ids share their first 8 characters: handles would collide")
    return people


def _ensure_users(session: Session, workspace_id: int, people: dict[str, Person]) -> dict[str, int]:
    """User id per Olist id; missing users are created, existing ones (same handle) reused."""
    handles = {p.handle: p for p in people.values()}
    query = select(User.handle, User.id).where(User.workspace_id == workspace_id, User.handle.in_(handles))
    existing = {handle: user_id for handle, user_id in session.execute(query)}
    missing = [p for handle, p in handles.items() if handle not in existing]
    if missing:
        now = utcnow()
        session.execute(insert(USERS), [
            {"workspace_id": workspace_id, "handle": p.handle, "name": p.name, "email": None, "role": "rep",
             "created_at": now} for p in missing])
        existing = {handle: user_id for handle, user_id in session.execute(query)}
    return {olist_id: existing[p.handle] for olist_id, p in people.items()}


def _lead_row(workspace_id: int, lead: OlistLead, people: dict[str, Person], user_ids: dict[str, int],
              now: datetime) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    if lead.origin:
        custom["olist_origin"] = lead.origin
    owner_id = None
    stage = Stage.MQL
    if lead.deal is not None:
        stage = Stage.CUSTOMER
        owner_id = user_ids[lead.deal.sr_id]
        custom.update(lead.deal.attributes)
        custom["olist_seller_id"] = lead.deal.seller_id
        custom["sdr"] = people[lead.deal.sdr_id].handle
    state = SimpleNamespace(**dict.fromkeys(_LEAD_COLUMNS))
    state.__dict__.update(
        workspace_id=workspace_id, email=lead.email, external_id=lead.mql_id, custom=custom, owner_id=owner_id,
        stage=str(stage), temperature="cold", score=0.0, fit_score=0.0, engagement_score=0.0, unsubscribed=False,
        created_at=lead.first_contact, updated_at=now,
    )
    touch = Touch(channel=str(lead.channel), landing_page=lead.landing_page)
    apply_touch(state, touch, lead.first_contact)  # type: ignore[arg-type]
    return {name: value for name, value in vars(state).items() if name != "id"}


def _transition_rows(workspace_id: int, lead_id: int, lead: OlistLead) -> list[dict[str, Any]]:
    base = {"workspace_id": workspace_id, "lead_id": lead_id, "actor_type": ACTOR_TYPE, "actor": ACTOR}
    rows = [{**base, "from_stage": str(Stage.NEW), "to_stage": str(Stage.MQL), "occurred_at": lead.first_contact,
             "reason": "marketing qualified lead (Olist: first contact)"}]
    if lead.deal is not None:
        rows.append({**base, "from_stage": str(Stage.MQL), "to_stage": str(Stage.CUSTOMER),
                     "occurred_at": lead.deal.won_at, "reason": "deal won (Olist closed deal)"})
    return rows


def _event_row(workspace_id: int, lead_id: int, lead: OlistLead, now: datetime) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    if lead.landing_page:
        properties["path"] = lead.landing_page
    if lead.origin:
        properties["olist_origin"] = lead.origin
    return {
        "workspace_id": workspace_id, "event_key": EVENT_KEY_PREFIX + lead.mql_id, "type": "form_submit",
        "occurred_at": lead.first_contact, "received_at": now, "lead_id": lead_id, "subject_lead_id": lead_id,
        "anonymous_id": None, "channel": str(lead.channel), "campaign": None, "utm_source": None,
        "utm_medium": None, "utm_campaign": None, "utm_term": None, "utm_content": None, "referrer": None,
        "url": None, "path": lead.landing_page, "email_id": None, "properties": properties or None,
    }


def _without_empty_columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the columns that are None in every row (they default to NULL): fewer parameters to bind and send.
    Every row keeps the same keys, as an executemany needs."""
    keep = {name for row in rows for name, value in row.items() if value is not None}
    return [{name: value for name, value in row.items() if name in keep} for row in rows]


def _on_conflict_do_nothing(session: Session, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return stmt.on_conflict_do_nothing()


def _claim_event_keys(session: Session, workspace_id: int, keys: list[str]) -> set[str]:
    """Claim event keys; returns the ones this call inserted (others were already taken)."""
    if not keys:
        return set()
    stmt = _on_conflict_do_nothing(session, EVENT_KEYS).returning(EventKey.event_key)
    return set(session.scalars(stmt, [{"workspace_id": workspace_id, "event_key": k} for k in keys]))


def _known_external_ids(session: Session, workspace_id: int) -> set[str]:
    """External ids the workspace already holds, read once: per-chunk `IN (...)` lookups of 250 ids cost ~100 ms
    each on a PostgreSQL table the planner has no statistics for yet (it filters a scan instead of probing)."""
    return set(session.scalars(select(Lead.external_id).where(
        Lead.workspace_id == workspace_id, Lead.external_id.is_not(None))))


def _load_chunk(session: Session, workspace_id: int, chunk: Sequence[OlistLead], people: dict[str, Person],
                user_ids: dict[str, int]) -> int:
    """Insert the leads of `chunk` the workspace does not hold yet, with their history. Returns how many.

    `chunk` holds only MQLs whose id the workspace did not know when loading began; the insert also skips any
    address the workspace already holds (`ON CONFLICT DO NOTHING` on the unique (workspace, email)), and only
    the leads this insert wrote get transitions and events.
    """
    now = utcnow()
    table = LEADS
    # Loaders of one workspace take turns (a no-op on SQLite, whose writer transactions already do), so the
    # leads of this workspace above `last_id` after the insert are exactly the ones this insert wrote.
    session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())
    last_id = session.scalar(select(func.max(table.c.id))) or 0
    # No RETURNING: with it SQLAlchemy sends one huge multi-VALUES statement per chunk, which psycopg re-parses
    # client-side (~150 ms a chunk); a plain executemany is pipelined. The ids are read back by key range.
    rows = [_lead_row(workspace_id, lead, people, user_ids, now) for lead in chunk]
    session.execute(_on_conflict_do_nothing(session, table), _without_empty_columns(rows))
    wanted = {lead.mql_id for lead in chunk}
    lead_ids = {external_id: lead_id for external_id, lead_id in session.execute(
        select(table.c.external_id, table.c.id).where(table.c.workspace_id == workspace_id, table.c.id > last_id))
        if external_id in wanted}
    pairs = [(lead_ids[lead.mql_id], lead) for lead in chunk if lead.mql_id in lead_ids]
    if not pairs:
        return 0
    session.execute(insert(TRANSITIONS),
                    [row for lead_id, lead in pairs for row in _transition_rows(workspace_id, lead_id, lead)])
    claimed = _claim_event_keys(session, workspace_id, [EVENT_KEY_PREFIX + lead.mql_id for _, lead in pairs])
    events = [_event_row(workspace_id, lead_id, lead, now) for lead_id, lead in pairs
              if EVENT_KEY_PREFIX + lead.mql_id in claimed]
    if events:
        ensure_event_partitions(session.connection(), (row["occurred_at"] for row in events))
        session.execute(insert(EVENTS), _without_empty_columns(events))
    return len(pairs)


def _summary(session: Session, workspace_id: int, new_leads: int) -> DemoSummary:
    def count(*where: Any, entity: Any = Lead) -> int:
        return int(session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)

    return DemoSummary(
        workspace_id=workspace_id,
        leads=count(Lead.workspace_id == workspace_id),
        customers=count(Lead.workspace_id == workspace_id, Lead.stage == str(Stage.CUSTOMER)),
        # the data set's people, not the app logins `leadline demo` adds
        owners=count(User.workspace_id == workspace_id, User.password_hash.is_(None), entity=User),
        events=count(Event.workspace_id == workspace_id, entity=Event),
        new_leads=new_leads,
        routed_mqls=count(Lead.workspace_id == workspace_id, Lead.stage == str(Stage.MQL), Lead.owner_id.is_not(None)),
        overdue=count(Lead.workspace_id == workspace_id, Lead.overdue_at.is_not(None)),
    )


def load_demo(db: Database, *, workspace_slug: str = "demo", progress: bool = False) -> DemoSummary:
    """Load (or complete) the demo workspace from the packaged Olist files; see the module docstring."""
    leads = read_olist()
    people = people_of(leads)
    with db.write() as session:
        workspace_id = get_or_create_workspace(session, workspace_slug, name=WORKSPACE_NAME).id
        user_ids = _ensure_users(session, workspace_id, people)
        known = _known_external_ids(session, workspace_id)
    missing = [lead for lead in leads if lead.mql_id not in known]
    inserted = 0
    bar = Progress(TextColumn("loading demo leads"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=not progress, transient=False)
    with bar:
        task = bar.add_task("leads", total=len(leads), completed=len(leads) - len(missing))
        for start in range(0, len(missing), CHUNK_LEADS):
            chunk = missing[start:start + CHUNK_LEADS]
            with db.write() as session:
                inserted += _load_chunk(session, workspace_id, chunk, people, user_ids)
            bar.advance(task, len(chunk))
    if inserted:
        with db.write() as session:  # the stage history went in in bulk: derive the leads' funnel rollup
            refresh_funnel_facts(session, workspace_id=workspace_id)
        refresh_statistics(db, "leads", "stage_transitions", "events", "event_keys", "users")
    route_demo(db, workspace_id)
    with db.write() as session:  # the example nurture workflows (issue 5), active
        install_examples(session, workspace_id=workspace_id)
    with db.read() as session:
        return _summary(session, workspace_id, inserted)
