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

from sqlalchemy import Float, Integer, and_, case, func, literal, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import Band, band_of, engagement_at
from leadline.services.scoring.facts import fit_rows_query
from leadline.services.scoring.models import activate, active_model
from leadline.services.scoring.refresh import fit_of
from leadline.services.scoring.state import (
    ScoredLead,
    current_bands,
    forget_states,
    insert_states,
    write_scores,
)
from leadline.storage.database import Database
from leadline.storage.scoring_sql import decay_sum, register_sqlite_functions, rule_match, seconds_since, utc_day
from leadline.storage.tables import Event, Lead, LeadRuleDay
from leadline.storage.types import UTCDateTime, utcnow

_EVENTS = Event.__table__
#: Leads per chunk: on SQLite a chunk's transaction stays around 100 ms.
CHUNK_LEADS = 2000
Progress = Callable[[int, int], None]
LeadFilter = tuple[int, int] | Sequence[int]  # an id range (inclusive) or a list of ids


def _lead_condition(column: Any, leads: LeadFilter) -> ColumnElement[bool]:
    if isinstance(leads, tuple):
        return column.between(leads[0], leads[1])  # type: ignore[no-any-return]
    return column.in_(list(leads))  # type: ignore[no-any-return]


def aggregate_states(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter
                     ) -> dict[int, dict[str, RuleState]]:
    """Each lead's running total per engagement rule, computed from its stored events.

    Sums are taken against T0 = the chunk's latest event: a lead whose events are all more than ~1,000
    half-lives older sums to 0, which is what its value is worth at any moment from T0 on.
    """
    if not model.engagement:
        return {}
    scope = and_(_EVENTS.c.workspace_id == workspace_id, _lead_condition(_EVENTS.c.lead_id, leads),
                 _EVENTS.c.type.in_(sorted(model.event_types)))
    t0 = session.scalar(select(type_coerce(func.max(_EVENTS.c.occurred_at), UTCDateTime)).where(scope))
    if t0 is None:
        return {}
    conn = session.connection()
    dialect = conn.dialect.name
    register_sqlite_functions(conn)
    columns: list[Any] = [_EVENTS.c.lead_id, _EVENTS.c.id, _EVENTS.c.occurred_at,
                          seconds_since(t0, dialect).label("s")]
    for i, rule in enumerate(model.engagement):
        match = rule_match(rule, dialect)
        columns.append(type_coerce(case((match, 1), else_=0), Integer).label(f"m{i}"))
        if rule.max_per_day is not None:
            columns.append(func.row_number().over(
                partition_by=[_EVENTS.c.lead_id, utc_day(dialect), case((match, 1), else_=0)],
                order_by=_EVENTS.c.id).label(f"r{i}"))
    inner = select(*columns).where(scope).subquery()
    aggregates: list[Any] = [inner.c.lead_id]
    for i, rule in enumerate(model.engagement):
        counted = inner.c[f"m{i}"] == 1
        if rule.max_per_day is not None:
            counted = and_(counted, inner.c[f"r{i}"] <= rule.max_per_day)
        aggregates += [
            type_coerce(func.sum(case((counted, decay_sum(rule, inner.c.s, dialect)))), Float),
            func.count(case((counted, 1))),
            type_coerce(func.max(case((counted, inner.c.occurred_at))), UTCDateTime),
        ]
    states: dict[int, dict[str, RuleState]] = {}
    for row in session.execute(select(*aggregates).group_by(inner.c.lead_id)):
        lead_states: dict[str, RuleState] = {}
        for i, rule in enumerate(model.engagement):
            total, hits, last = row[1 + 3 * i], row[2 + 3 * i], row[3 + 3 * i]
            if hits:
                lead_states[rule.key] = RuleState(rule.points * _rebase(total, last, t0, rule.half_life_seconds),
                                                  last, hits, last)
        if lead_states:
            states[row[0]] = lead_states
    return states


def _rebase(total: float, last: datetime, t0: datetime, half_life_seconds: float | None) -> float:
    """sum 2**((t_i - T0)/h), re-based to the rule's latest event: sum 2**((t_i - last)/h). In log space,
    since a total that underflowed towards 0 meets a factor that would overflow."""
    if half_life_seconds is None:
        return total
    if total <= 0:
        return 0.0
    return math.exp2(math.log2(total) + (t0 - last).total_seconds() / half_life_seconds)


def rebuild_day_counts(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter) -> None:
    conn = session.connection()
    dialect = conn.dialect.name
    table = LeadRuleDay.__table__
    for rule in model.engagement:
        if rule.max_per_day is None:
            continue
        day = utc_day(dialect)
        counts = (select(literal(workspace_id), _EVENTS.c.lead_id, literal(rule.key), day, func.count())
                  .where(_EVENTS.c.workspace_id == workspace_id, _lead_condition(_EVENTS.c.lead_id, leads),
                         rule_match(rule, dialect))
                  .group_by(_EVENTS.c.lead_id, day))
        session.execute(table.insert().from_select(
            ["workspace_id", "lead_id", "rule_key", "day", "occurrences"], counts))


def compute_chunk(session: Session, model: ScoringModel, workspace_id: int, leads: LeadFilter
                  ) -> list[tuple[int, float, dict[str, RuleState]]]:
    """(lead id, fit, rule totals) of every live lead in the chunk."""
    states = aggregate_states(session, model, workspace_id, leads)
    rows = session.execute(fit_rows_query(workspace_id).where(_lead_condition(Lead.id, leads)))
    return [(row[0], fit_of(model, row), states.get(row[0], {})) for row in rows]


def rescore_leads(session: Session, workspace_id: int, lead_ids: Sequence[int], *, cause: str,
                  at: datetime | None = None) -> int:
    """Recompute some leads from their events (after a merge moved events between them)."""
    active = active_model(session, workspace_id)
    if active is None or not lead_ids:
        return 0
    return _rescore_chunk(session, active.model, active.version, workspace_id, list(lead_ids), at or utcnow(),
                          cause)


def _rescore_chunk(session: Session, model: ScoringModel, version: int, workspace_id: int, leads: LeadFilter,
                   at: datetime, cause: str) -> int:
    computed = compute_chunk(session, model, workspace_id, leads)
    forget_states(session, workspace_id, **({"id_range": leads} if isinstance(leads, tuple)
                                            else {"lead_ids": leads}))
    insert_states(session, workspace_id, [(lead_id, key, state) for lead_id, _, states in computed
                                          for key, state in states.items()])
    rebuild_day_counts(session, model, workspace_id, leads)
    bands = current_bands(session, [lead_id for lead_id, _, _ in computed])
    write_scores(session, workspace_id, model, version,
                 [ScoredLead(lead_id, fit, states, bands[lead_id][0] if lead_id in bands else None, cause)
                  for lead_id, fit, states in computed], at)
    return len(computed)


def lead_chunks(session: Session, workspace_id: int, size: int = CHUNK_LEADS) -> list[tuple[int, int]]:
    """Inclusive id ranges holding about `size` live leads each."""
    ids = list(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id,
                                                     Lead.merged_into_id.is_(None)).order_by(Lead.id)))
    return [(ids[i], ids[min(i + size, len(ids)) - 1]) for i in range(0, len(ids), size)]


@dataclass(frozen=True)
class RescorePlan:
    workspace_id: int
    version: int
    model: ScoringModel
    chunks: list[tuple[int, int]]
    at: datetime

    def run_chunk(self, db: Database, index: int) -> int:
        """One chunk in its own short write transaction (callers may pace or gate these)."""
        with db.write() as session:
            return _rescore_chunk(session, self.model, self.version, self.workspace_id, self.chunks[index],
                                  self.at, f"model:{self.version}")


def plan_rescore(db: Database, workspace_id: int, *, at: datetime | None = None,
                 chunk_size: int = CHUNK_LEADS) -> RescorePlan | None:
    with db.read() as session:
        active = active_model(session, workspace_id)
        if active is None:
            return None
        return RescorePlan(workspace_id, active.version, active.model,
                           lead_chunks(session, workspace_id, chunk_size), at or utcnow())


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


def apply_version(db: Database, workspace_id: int, version: int, *, progress: Progress | None = None) -> int:
    """Make `version` the active model and rescore the workspace with it (also how a rollback is done)."""
    with db.write() as session:
        activate(session, workspace_id, version)
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
        for index, chunk in enumerate(chunks):
            for lead_id, fit, states, before, after, score in _preview_chunk(session, model, workspace_id,
                                                                             chunk, at):
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
                   at: datetime) -> Iterator[tuple[int, float, dict[str, RuleState], Band, Band, float]]:
    computed = compute_chunk(session, model, workspace_id, chunk)
    bands = current_bands(session, [lead_id for lead_id, _, _ in computed])
    for lead_id, fit, states in computed:
        engagement = engagement_at(model, states, at)
        after = band_of(model, fit, engagement)
        before = bands[lead_id][0] if lead_id in bands else after
        yield lead_id, fit, states, before, after, model.fit_weight * fit + model.engagement_weight * engagement
