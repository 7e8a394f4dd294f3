"""Rescoring from the event history, set-based: after a model change, a merge, or to check real time.

Per chunk of leads, one SQL statement aggregates their events per lead and rule (every rule's match, daily
cap and decay computed by the database: `storage.scoring_sql`), one reads their fit fields, and the results
are written back with executemany. Each chunk is its own short write transaction, so ingest keeps flowing
during a long rescore. Decayed sums are taken against one reference time T0 and re-based to each rule's
latest event, the same (value, as_of) pair real time keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, Select, and_, case, func, literal, select, type_coerce, union_all, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadline.core.lead_input import FieldProblem
from leadline.core.scoring.conditions import fields_of
from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import Band, band_of, engagement_at
from leadline.core.segments import SCORE_FIELDS
from leadline.services.errors import Invalid
from leadline.services.scoring.facts import fit_key, fit_rows_query
from leadline.services.scoring.models import activate, active_model
from leadline.services.scoring.refresh import fits_of
from leadline.services.scoring.state import (
    ScoredLead,
    current_bands,
    forget_states,
    insert_states,
    lock_leads,
    write_scores,
)
from leadline.services.segments.membership import mark_lead_fields
from leadline.storage.database import Database
from leadline.storage.scoring_sql import (
    decay_sum,
    materialize,
    register_sqlite_functions,
    rule_match,
    seconds_since,
    utc_day,
)
from leadline.storage.tables import Event, Lead, LeadRuleDay
from leadline.storage.types import UTCDateTime, utcnow

_EVENTS = Event.__table__
#: Leads and events per chunk: each chunk is one write transaction, kept around 100 ms on SQLite.
CHUNK_LEADS = 2000
CHUNK_EVENTS = 10_000
Progress = Callable[[int, int], None]
LeadFilter = tuple[int, int] | Sequence[int]  # an id range (inclusive) or a list of ids


def _lead_condition(column: Any, leads: LeadFilter) -> ColumnElement[bool]:
    if isinstance(leads, tuple):
        return column.between(leads[0], leads[1])  # type: ignore[no-any-return]
    return column.in_(list(leads))  # type: ignore[no-any-return]


def latest_event(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter | None = None
                 ) -> datetime | None:
    scope = and_(_EVENTS.c.workspace_id == workspace_id, _EVENTS.c.type.in_(sorted(model.event_types)))
    if leads is not None:
        scope = and_(scope, _lead_condition(_EVENTS.c.lead_id, leads))
    value: datetime | None = session.scalar(select(type_coerce(func.max(_EVENTS.c.occurred_at), UTCDateTime))
                                            .where(scope))
    return value


def _event_rows(model: ScoringModel, workspace_id: int, leads: LeadFilter, t0: datetime, dialect: str,
                before: datetime | None = None) -> Select[Any]:
    """One row per event of the chunk: its lead, time, seconds from T0, UTC day, and for each rule whether
    it matches (m<i>) and, for rules with a daily cap, its rank among that day's matches (r<i>)."""
    day = utc_day(dialect)
    columns: list[Any] = [_EVENTS.c.lead_id, _EVENTS.c.occurred_at, seconds_since(t0, dialect).label("s"),
                          day.label("day")]
    for i, rule in enumerate(model.engagement):
        match = type_coerce(case((rule_match(rule, dialect), 1), else_=0), Integer)
        columns.append(match.label(f"m{i}"))
        if rule.max_per_day is not None:  # running count of the day's matches, in arrival order
            # One window definition for every capped rule: the database sorts the rows once for all of them.
            columns.append(func.sum(match).over(partition_by=[_EVENTS.c.lead_id, day], order_by=_EVENTS.c.id,
                                                rows=(None, 0)).label(f"r{i}"))
    query = select(*columns).where(_EVENTS.c.workspace_id == workspace_id,
                                   _lead_condition(_EVENTS.c.lead_id, leads),
                                   _EVENTS.c.type.in_(sorted(model.event_types)))
    return query if before is None else query.where(_EVENTS.c.occurred_at < before)


def aggregate_states(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter, *,
                     t0: datetime | None = None, write_day_counts: bool = False, before: datetime | None = None
                     ) -> dict[int, dict[str, RuleState]]:
    """Each lead's running total per engagement rule, computed from its stored events; with
    `write_day_counts`, also the daily counters of capped rules (into `lead_rule_days`).

    Sums are taken against T0 (the latest event of the workspace or of these leads): a lead whose events are
    all more than ~1,000 half-lives older sums to 0, which is what its value is worth at any moment from T0
    on. The per-event rows are computed once: when two passes need them, they go to a temporary table.
    """
    if not model.engagement:
        return {}
    t0 = t0 or latest_event(session, model, workspace_id, leads)
    if t0 is None:
        return {}
    conn = session.connection()
    dialect = conn.dialect.name
    register_sqlite_functions(conn)
    rows_select = _event_rows(model, workspace_id, leads, t0, dialect, before)
    capped = [i for i, rule in enumerate(model.engagement) if rule.max_per_day is not None]
    if write_day_counts and capped:
        source: Any = materialize(conn, "score_event_rows", rows_select)
        days = [select(literal(workspace_id), source.c.lead_id, literal(model.engagement[i].key), source.c.day,
                       func.count()).where(source.c[f"m{i}"] == 1).group_by(source.c.lead_id, source.c.day)
                for i in capped]
        session.execute(LeadRuleDay.__table__.insert().from_select(
            ["workspace_id", "lead_id", "rule_key", "day", "occurrences"], union_all(*days)))
    else:
        source = rows_select.subquery()
    aggregates: list[Any] = [source.c.lead_id]
    for i, rule in enumerate(model.engagement):
        counted = source.c[f"m{i}"] == 1
        if rule.max_per_day is not None:
            counted = and_(counted, source.c[f"r{i}"] <= rule.max_per_day)
        aggregates += [
            type_coerce(func.sum(case((counted, decay_sum(rule, source.c.s, dialect)))), Float),
            func.count(case((counted, 1))),
            type_coerce(func.max(case((counted, source.c.occurred_at))), UTCDateTime),
        ]
    states: dict[int, dict[str, RuleState]] = {}
    for row in session.execute(select(*aggregates).group_by(source.c.lead_id)):
        lead_states: dict[str, RuleState] = {}
        for i, rule in enumerate(model.engagement):
            total, hits, last = row[1 + 3 * i], row[2 + 3 * i], row[3 + 3 * i]
            if hits:
                lead_states[rule.key] = RuleState(rule.points * _rebase(total, last, t0, rule.half_life_seconds),
                                                  last, hits, last)
        if lead_states:
            states[row[0]] = lead_states
    if write_day_counts and capped:
        conn.exec_driver_sql("DROP TABLE score_event_rows")
    return states


def _rebase(total: float, last: datetime, t0: datetime, half_life_seconds: float | None) -> float:
    """sum 2**((t_i - T0)/h), re-based to the rule's latest event: sum 2**((t_i - last)/h). In log space,
    since a total that underflowed towards 0 meets a factor that would overflow."""
    if half_life_seconds is None:
        return total
    if total <= 0:
        return 0.0
    return math.exp2(math.log2(total) + (t0 - last).total_seconds() / half_life_seconds)


Computed = tuple[int, float, dict[str, RuleState], dict[str, float]]  # lead, fit, rule totals, named fits


def compute_chunk(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter, *,
                  t0: datetime | None = None, write_day_counts: bool = False, before: datetime | None = None
                  ) -> list[Computed]:
    """(lead id, fit, rule totals, named fits) of every live lead in the chunk (events before `before`)."""
    states = aggregate_states(session, model, workspace_id, leads, t0=t0, write_day_counts=write_day_counts,
                              before=before)
    rows = session.execute(fit_rows_query(workspace_id).where(_lead_condition(Lead.id, leads)))
    fits: dict[Any, tuple[float, dict[str, float]]] = {}  # leads alike on what fit rules read score alike
    fields = tuple(sorted(set().union(*(fields_of(r.condition) for r in model.fit))))
    result = []
    for row in rows:
        key = fit_key(fields, row)
        found = fits.get(key) if key is not None else None
        if found is None:
            found = fits_of(model, row)
            if key is not None:
                fits[key] = found
        result.append((row[0], found[0], states.get(row[0], {}), found[1]))
    return result


def rescore_leads(session: Session, workspace_id: int, lead_ids: Sequence[int], *, cause: str,
                  at: datetime | None = None) -> int:
    """Recompute some leads from their events (after a merge moved events between them)."""
    active = active_model(session, workspace_id)
    if active is None or not lead_ids:
        return 0
    return _rescore_chunk(session, active.model, active.version, workspace_id, list(lead_ids), at or utcnow(),
                          cause)


def _rescore_chunk(session: Session, model: ScoringModel, version: int, workspace_id: int, leads: LeadFilter,
                   at: datetime, cause: str, t0: datetime | None = None) -> int:
    lock_leads(session, workspace_id, leads)
    forget_states(session, workspace_id, **({"id_range": leads} if isinstance(leads, tuple)
                                            else {"lead_ids": leads}))
    computed = compute_chunk(session, model, workspace_id, leads, t0=t0, write_day_counts=True)
    insert_states(session, workspace_id, [(lead_id, key, state) for lead_id, _, states, _ in computed
                                          for key, state in states.items()])
    bands = current_bands(session, [lead_id for lead_id, _, _, _ in computed])
    write_scores(session, workspace_id, model, version,
                 [ScoredLead(lead_id, fit, states, bands[lead_id][0] if lead_id in bands else None, cause, named)
                  for lead_id, fit, states, named in computed], at)
    # Segments that read scores or temperature re-check the rescored leads.
    mark_lead_fields(session, workspace_id, [lead_id for lead_id, _, _, _ in computed], SCORE_FIELDS, now=at)
    if not isinstance(leads, tuple):  # leads merged away keep no score of their own, and nothing due
        gone = set(leads) - {lead_id for lead_id, _, _, _ in computed}
        if gone:
            session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(gone)).values(
                score=0.0, engagement_score=0.0, temperature="cold", mql_ready=False, score_due_at=None,
                named_scores=None, updated_at=Lead.updated_at))
    return len(computed)


def lead_chunks(session: Session, workspace_id: int, size: int = CHUNK_LEADS,
                events: int = CHUNK_EVENTS) -> list[tuple[int, int]]:
    """Inclusive id ranges of at most `size` live leads and about `events` events each (a busy lead's
    history can make a range of few leads heavy: its write transaction must stay short)."""
    ids = list(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id,
                                                     Lead.merged_into_id.is_(None)).order_by(Lead.id)))
    counts = dict(session.execute(select(_EVENTS.c.lead_id, func.count()).where(
        _EVENTS.c.workspace_id == workspace_id, _EVENTS.c.lead_id.is_not(None)).group_by(_EVENTS.c.lead_id)).all())
    chunks: list[tuple[int, int]] = []
    start, leads, load = 0, 0, 0
    for index, lead_id in enumerate(ids):
        leads, load = leads + 1, load + counts.get(lead_id, 0)
        if leads >= size or load >= events or index == len(ids) - 1:
            chunks.append((ids[start], lead_id))
            start, leads, load = index + 1, 0, 0
    return chunks


@dataclass(frozen=True)
class RescorePlan:
    workspace_id: int
    version: int
    model: ScoringModel
    chunks: list[tuple[int, int]]
    at: datetime
    t0: datetime | None  # the workspace's latest event when the plan was made: the reference for decay sums

    def run_chunk(self, db: Database, index: int) -> int:
        """One chunk in its own short write transaction (callers may pace or gate these)."""
        with db.write() as session:
            return _rescore_chunk(session, self.model, self.version, self.workspace_id, self.chunks[index],
                                  self.at, f"model:{self.version}", self.t0)


def plan_rescore(db: Database, workspace_id: int, *, at: datetime | None = None,
                 chunk_size: int = CHUNK_LEADS) -> RescorePlan | None:
    with db.read() as session:
        active = active_model(session, workspace_id)
        if active is None:
            return None
        return RescorePlan(workspace_id, active.version, active.model,
                           lead_chunks(session, workspace_id, chunk_size), at or utcnow(),
                           latest_event(session, active.model, workspace_id))


def rescore_workspace(db: Database, workspace_id: int, *, progress: Progress | None = None,
                      at: datetime | None = None, chunk_size: int = CHUNK_LEADS) -> int:
    """Rescore every lead of a workspace with its active model, chunk by chunk. Returns leads rescored."""
    plan = plan_rescore(db, workspace_id, at=at, chunk_size=chunk_size)
    if plan is None:
        return 0
    done = 0
    for index in range(len(plan.chunks)):
        done += plan.run_chunk(db, index)
        if progress is not None:
            progress(index + 1, len(plan.chunks))
    return done


def try_model(db: Database, workspace_id: int, model: ScoringModel, *, sample: int = 200) -> None:
    """Run the model once on the newest leads, writing nothing, so a model the database cannot run is
    refused (Invalid) before it becomes active rather than failing every rescore after."""
    with db.read() as session:
        ids = list(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id,
                                                         Lead.merged_into_id.is_(None))
                                   .order_by(Lead.id.desc()).limit(sample)))
        if not ids:
            return
        try:
            compute_chunk(session, model, workspace_id, ids)
        except (DBAPIError, OverflowError, ValueError) as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
            raise Invalid([FieldProblem("model", f"the database cannot run this model: {reason}")]) from None


def apply_version(db: Database, workspace_id: int, version: int, *, progress: Progress | None = None,
                  actor: str = "cli") -> int:
    """Make `version` the active model and rescore the workspace with it (also how a rollback is done)."""
    with db.write() as session:
        activate(session, workspace_id, version, actor=actor)
    return rescore_workspace(db, workspace_id, progress=progress)


@dataclass
class Preview:
    leads: int = 0
    temperature_changes: dict[str, int] = field(default_factory=dict)  # "cold->warm": n
    became_mql_ready: int = 0
    no_longer_mql_ready: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)


def preview(db: Database, workspace_id: int, model: ScoringModel, *, examples: int = 10,
            progress: Progress | None = None) -> Preview:
    """What applying `model` would change, computed from the events without writing anything."""
    at = utcnow()
    result = Preview()
    with db.read() as session:
        chunks = lead_chunks(session, workspace_id)
        t0 = latest_event(session, model, workspace_id)
        for index, chunk in enumerate(chunks):
            for lead_id, fit, states, before, after, score in _preview_chunk(session, model, workspace_id,
                                                                             chunk, at, t0):
                result.leads += 1
                if before.temperature != after.temperature:
                    key = f"{before.temperature.value}->{after.temperature.value}"
                    result.temperature_changes[key] = result.temperature_changes.get(key, 0) + 1
                result.became_mql_ready += after.mql_ready and not before.mql_ready
                result.no_longer_mql_ready += before.mql_ready and not after.mql_ready
                if before != after and len(result.examples) < examples:
                    result.examples.append({
                        "lead_id": lead_id, "temperature": [before.temperature.value, after.temperature.value],
                        "mql_ready": [before.mql_ready, after.mql_ready], "score": round(score, 2),
                        "fit": round(fit, 2), "engagement": round(engagement_at(model, states, at), 2)})
            if progress is not None:
                progress(index + 1, len(chunks))
    return result


def _preview_chunk(session: Session, model: ScoringModel, workspace_id: int, chunk: tuple[int, int],
                   at: datetime, t0: datetime | None
                   ) -> Iterator[tuple[int, float, dict[str, RuleState], Band, Band, float]]:
    computed = compute_chunk(session, model, workspace_id, chunk, t0=t0)
    bands = current_bands(session, [lead_id for lead_id, _, _, _ in computed])
    for lead_id, fit, states, _ in computed:
        engagement = engagement_at(model, states, at)
        after = band_of(model, fit, engagement)
        before = bands[lead_id][0] if lead_id in bands else after
        yield lead_id, fit, states, before, after, model.fit_weight * fit + model.engagement_weight * engagement
