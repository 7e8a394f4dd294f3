"""Reading and writing what scoring keeps: rule running totals, daily counts, the lead's score columns, and
the history of threshold crossings. Every score change goes through `write_scores`, the one writer."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from leadline.core.leads import Temperature
from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import Band, band_of, engagement_and_next_change, named_scores
from leadline.services import outbox
from leadline.services.scoring.gate import clear_profiles, refused_among
from leadline.storage.bulk import bulk_insert, executemany, select_in
from leadline.storage.tables import Lead, LeadRuleDay, LeadRuleScore, ScoreChange

_RULES = LeadRuleScore.__table__
_DAYS = LeadRuleDay.__table__
_LEADS = Lead.__table__
_CHANGES = ScoreChange.__table__
RULE_COLUMNS = ("workspace_id", "lead_id", "rule_key", "value", "as_of", "hits", "last_fired_at")
DAY_COLUMNS = ("workspace_id", "lead_id", "rule_key", "day", "occurrences")
CHANGE_COLUMNS = ("workspace_id", "lead_id", "occurred_at", "kind", "from_value", "to_value", "cause", "score",
                  "fit", "engagement", "model_version")
_SCORE_COLUMNS = ("score", "fit_score", "engagement_score", "temperature", "mql_ready", "score_model_version",
                  "score_computed_at", "score_due_at", "named_scores")
# SQLite and PostgreSQL accept at most this many parameters per IN list comfortably.
_CHUNK = 500


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


@lru_cache(maxsize=4)
def _upsert_rules(dialect: str) -> ClauseElement:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_RULES)
    return stmt.on_conflict_do_update(
        index_elements=["lead_id", "rule_key"],
        set_={c: stmt.excluded[c] for c in ("value", "as_of", "hits", "last_fired_at")})


@lru_cache(maxsize=4)
def _upsert_days(dialect: str) -> ClauseElement:
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_DAYS)
    return stmt.on_conflict_do_update(index_elements=["lead_id", "rule_key", "day"],
                                      set_={"occurrences": stmt.excluded.occurrences})


@lru_cache(maxsize=1)
def _update_scores() -> ClauseElement:
    # A score is not an edit of the lead: updated_at keeps its value (it has an onupdate default).
    return update(_LEADS).where(_LEADS.c.id == bindparam("_id")).values(
        {**{c: bindparam(c, type_=_LEADS.c[c].type) for c in _SCORE_COLUMNS}, "updated_at": _LEADS.c.updated_at})


def lock_leads(session: Session, workspace_id: int, leads: Sequence[int] | tuple[int, int]) -> None:
    """On PostgreSQL, lock the leads' rows (in id order, so two writers cannot deadlock on them) before their
    totals are read and written back: concurrent requests scoring one lead would otherwise each add to the
    same old total and the last write would win. SQLite has one writer: nothing to do."""
    if session.get_bind().dialect.name != "postgresql":
        return
    query = select(Lead.id).where(Lead.workspace_id == workspace_id).order_by(Lead.id).with_for_update()
    if isinstance(leads, tuple):
        session.execute(query.where(Lead.id.between(leads[0], leads[1]))).all()
        return
    for chunk in _chunks(sorted(leads)):
        session.execute(query.where(Lead.id.in_(chunk))).all()


def load_states(session: Session, lead_ids: Sequence[int]) -> dict[int, dict[str, RuleState]]:
    states: dict[int, dict[str, RuleState]] = {}
    for chunk in _chunks(list(lead_ids)):
        rows = session.execute(select(_RULES.c.lead_id, _RULES.c.rule_key, _RULES.c.value, _RULES.c.as_of,
                                      _RULES.c.hits, _RULES.c.last_fired_at).where(_RULES.c.lead_id.in_(chunk)))
        for lead_id, key, value, as_of, hits, last in rows:
            states.setdefault(lead_id, {})[key] = RuleState(value, as_of, hits, last)
    return states


@dataclass(frozen=True, slots=True)
class StoredScore:
    band: Band
    fit: float
    version: int | None
    named_fits: dict[str, float]


def load_leads_and_states(session: Session, lead_ids: Sequence[int]
                          ) -> tuple[dict[int, StoredScore], dict[int, dict[str, RuleState]]]:
    """Each lead's stored score (band, fits) and its rule totals, in one query."""
    bands: dict[int, StoredScore] = {}
    states: dict[int, dict[str, RuleState]] = {}
    # Straight through the driver: on the ingest path SQLAlchemy's result processing cost more than the query.
    rows = select_in(session.connection(), _LEADS_AND_STATES, (), sorted(lead_ids))
    for lead_id, temperature, mql, fit, version, named, key, value, as_of, hits, last in rows:
        if lead_id not in bands:
            named_scores = (orjson.loads(named) if isinstance(named, str | bytes) else named) or {}
            bands[lead_id] = StoredScore(band_from_row(temperature, mql), fit or 0.0, version,
                                         {n: v.get("fit", 0.0) for n, v in named_scores.items()})
        if key is not None:
            states.setdefault(lead_id, {})[key] = RuleState(value, _utc(as_of), hits, _utc(last))
    return bands, states


_LEADS_AND_STATES = (
    "SELECT leads.id, leads.temperature, leads.mql_ready, leads.fit_score, leads.score_model_version, "
    "leads.named_scores, r.rule_key, r.value, r.as_of, r.hits, r.last_fired_at "
    "FROM leads LEFT OUTER JOIN lead_rule_scores AS r ON r.lead_id = leads.id WHERE leads.id IN ({values})")


def _utc(value: Any) -> datetime:
    """A timestamp as the driver returns it (SQLite: UTC text; PostgreSQL: aware datetime), aware UTC."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    result: datetime = value.astimezone(UTC)
    return result


def save_states(session: Session, workspace_id: int, changed: Sequence[tuple[int, str, RuleState]]) -> None:
    if not changed:
        return
    conn = session.connection()
    executemany(conn, _upsert_rules(conn.dialect.name), RULE_COLUMNS,
                [(workspace_id, lead_id, key, s.value, s.as_of, s.hits, s.last_fired_at)
                 for lead_id, key, s in changed])


def insert_states(session: Session, workspace_id: int, rows: Sequence[tuple[int, str, RuleState]]) -> None:
    if rows:
        bulk_insert(session.connection(), _RULES, RULE_COLUMNS,
                    [(workspace_id, lead_id, key, s.value, s.as_of, s.hits, s.last_fired_at)
                     for lead_id, key, s in rows])


def load_day_counts(session: Session, keys: set[tuple[int, str, str]]) -> dict[tuple[int, str, str], int]:
    """Counters of these (lead, rule, day) keys. Looked up by lead (the key's prefix) and day, then filtered:
    SQLite is slow with long row-value IN lists."""
    lead_ids = sorted({k[0] for k in keys})
    days = sorted({k[2] for k in keys})
    if len(days) > 50:  # a backfill spanning many days: look up by lead alone
        days = []
    sql = "SELECT lead_id, rule_key, day, occurrences FROM lead_rule_days WHERE "
    if days:
        sql += "day IN (" + ", ".join(["{p}"] * len(days)) + ") AND "
    rows = select_in(session.connection(), sql + "lead_id IN ({values})", days, lead_ids)
    return {key: n for lead_id, rule, day, n in rows if (key := (lead_id, rule, day)) in keys}


def save_day_counts(session: Session, workspace_id: int, counts: dict[tuple[int, str, str], int]) -> None:
    if counts:
        conn = session.connection()
        executemany(conn, _upsert_days(conn.dialect.name), DAY_COLUMNS,
                    [(workspace_id, lead_id, key, day, n) for (lead_id, key, day), n in counts.items()])


def forget_states(session: Session, workspace_id: int, lead_ids: Sequence[int] | None = None,
                  id_range: tuple[int, int] | None = None) -> None:
    """Drop rule totals and daily counts of some leads (before they are computed again from events)."""
    for table in (_RULES, _DAYS):
        stmt = delete(table).where(table.c.workspace_id == workspace_id)
        if id_range is not None:
            session.execute(stmt.where(table.c.lead_id.between(*id_range)))
        else:
            for chunk in _chunks(list(lead_ids or ())):
                session.execute(stmt.where(table.c.lead_id.in_(chunk)))


@dataclass(slots=True)
class ScoredLead:
    """What `write_scores` needs for one lead: its fit (0..100), its rule totals, its band before."""

    lead_id: int
    fit: float
    states: dict[str, RuleState]
    before: Band | None
    cause: str
    named_fits: dict[str, float] = field(default_factory=dict)


def band_from_row(temperature: str | None, mql_ready: bool | None) -> Band:
    return Band(Temperature(temperature or "cold"), bool(mql_ready))


def write_scores(session: Session, workspace_id: int, model: ScoringModel, version: int,
                 leads: Sequence[ScoredLead], at: datetime) -> int:
    """Compute each lead's score at `at`, store it with its next band change, and record the crossings.
    Returns the number of threshold crossings recorded."""
    if not leads:
        return 0
    refused = refused_among(session, [lead.lead_id for lead in leads])
    if refused:  # profiling refused or objected to: not scored, and what was computed is forgotten
        clear_profiles(session, workspace_id, sorted(refused))
        leads = [lead for lead in leads if lead.lead_id not in refused]
    updates: list[tuple[Any, ...]] = []
    changes: list[tuple[Any, ...]] = []
    for lead in leads:
        engagement, due = engagement_and_next_change(model, lead.fit, lead.states, at)
        band = band_of(model, lead.fit, engagement)
        score = model.fit_weight * lead.fit + model.engagement_weight * engagement
        named = None
        if model.score_names:  # named temperatures move with decay too: the lead is due at the first change
            named = {name: {"score": n.score, "fit": n.fit, "engagement": n.engagement,
                            "temperature": n.temperature.value}
                     for name, n in named_scores(model, lead.named_fits, lead.states, at).items()}
            dues = [engagement_and_next_change(model, lead.named_fits.get(name, 0.0), lead.states, at, name)[1]
                    for name in model.score_names]
            due = min((d for d in (due, *dues) if d is not None), default=None)
        updates.append((lead.lead_id, score, lead.fit, engagement, band.temperature.value, band.mql_ready,
                        version, at, due, named))
        before = lead.before
        if before is not None and before != band:
            base = (workspace_id, lead.lead_id, at)
            tail = (lead.cause, score, lead.fit, engagement, version)
            if before.temperature != band.temperature:
                changes.append((*base, "temperature", before.temperature.value, band.temperature.value, *tail))
            if before.mql_ready != band.mql_ready:
                changes.append((*base, "mql_ready", str(before.mql_ready).lower(), str(band.mql_ready).lower(),
                                *tail))
    conn = session.connection()
    executemany(conn, _update_scores(), ("_id", *_SCORE_COLUMNS), updates)
    if changes:
        bulk_insert(conn, _CHANGES, CHANGE_COLUMNS, changes)
        # Crossing the MQL threshold moves the lead's stage: the lifecycle does that from the outbox.
        ready = [(c[1], {"score": c[7]}) for c in changes if c[3] == "mql_ready" and c[5] == "true"]
        if ready:
            outbox.emit_many(session, workspace_id=workspace_id, topic="lead.mql_ready", items=ready, now=at)
        # Workflows may start when a lead warms up (no row is written unless something listens).
        moved = [(c[1], {"from": c[4], "to": c[5], "score": c[7]}) for c in changes if c[3] == "temperature"]
        if moved:
            outbox.emit_many(session, workspace_id=workspace_id, topic="lead.temperature_changed", items=moved,
                             now=at)
    return len(changes)


def current_bands(session: Session, lead_ids: Sequence[int]) -> dict[int, tuple[Band, float, int | None]]:
    """(band, stored fit, model version) of each lead."""
    result: dict[int, tuple[Band, float, int | None]] = {}
    for chunk in _chunks(list(lead_ids)):
        rows = session.execute(select(Lead.id, Lead.temperature, Lead.mql_ready, Lead.fit_score,
                                      Lead.score_model_version).where(Lead.id.in_(chunk)))
        result.update({lead_id: (band_from_row(t, m), fit or 0.0, v) for lead_id, t, m, fit, v in rows})
    return result

