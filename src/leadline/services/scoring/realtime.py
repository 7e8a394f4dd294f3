"""Scoring in the ingest request: each stored event updates its lead's rule totals, score and temperature.

Constant work per event whatever the lead's history: the batch reads the running totals of the leads it
touches (one row per lead and rule), adds the new occurrences (`RuleState.add`), and writes back one upsert
per lead and rule, plus one score update per lead. Daily caps read and bump one counter per lead, rule and
day. Nothing re-reads past events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from leadline.core.scoring.decay import RuleState
from leadline.core.scoring.model import EngagementRule
from leadline.core.scoring.signals import AUTOMATED_PROPERTY, CHECKED_TYPES
from leadline.services.scoring.facts import event_facts
from leadline.services.scoring.models import active_model
from leadline.services.scoring.state import (
    ScoredLead,
    load_day_counts,
    load_leads_and_states,
    lock_leads,
    save_day_counts,
    save_states,
    write_scores,
)

Match = tuple[int, EngagementRule, datetime]  # lead, rule, occurred_at


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _matches(model: Any, columns: dict[str, int], rows: Sequence[Sequence[Any]]) -> list[Match]:
    lead_at, type_at, time_at, props_at = (columns["lead_id"], columns["type"], columns["occurred_at"],
                                           columns["properties"])
    found: list[Match] = []
    for row in rows:
        lead_id = row[lead_at]
        if lead_id is None:
            continue
        rules = model.rules_for(row[type_at])
        if not rules:
            continue
        properties = row[props_at]
        if row[type_at] in CHECKED_TYPES and properties and AUTOMATED_PROPERTY in properties:
            continue
        facts = None
        for rule in rules:
            if rule.matches is not None:
                facts = facts or event_facts(columns, row, properties)
                if not rule.matches(facts):
                    continue
            found.append((lead_id, rule, row[time_at]))
    return found


def _apply_daily_caps(session: Session, workspace_id: int, matches: list[Match]) -> list[Match]:
    """Keep the occurrences within each rule's daily cap, in arrival order, and count them all."""
    capped_keys = {(lead_id, rule.key, utc_day(at)) for lead_id, rule, at in matches if rule.max_per_day}
    if not capped_keys:
        return matches
    counts = load_day_counts(session, capped_keys)
    kept: list[Match] = []
    touched: dict[tuple[int, str, str], int] = {}
    for lead_id, rule, at in matches:
        if rule.max_per_day is None:
            kept.append((lead_id, rule, at))
            continue
        key = (lead_id, rule.key, utc_day(at))
        seen = touched.get(key, counts.get(key, 0))
        touched[key] = seen + 1
        if seen < rule.max_per_day:
            kept.append((lead_id, rule, at))
    save_day_counts(session, workspace_id, touched)
    return kept


def score_events(session: Session, workspace_id: int, columns: dict[str, int], rows: Sequence[Sequence[Any]],
                 *, now: datetime) -> int:
    """Score freshly stored event rows (tuples; `columns` names their positions). Returns leads rescored."""
    active = active_model(session, workspace_id)
    if active is None:
        return 0
    model = active.model
    matches = _matches(model, columns, rows)
    if not matches:
        return 0
    lead_ids = sorted({lead_id for lead_id, _, _ in matches})
    lock_leads(session, workspace_id, lead_ids)
    matches = _apply_daily_caps(session, workspace_id, matches)
    lead_ids = sorted({lead_id for lead_id, _, _ in matches})  # a lead whose events were all capped is done
    bands, states = load_leads_and_states(session, lead_ids)
    changed: dict[tuple[int, str], RuleState] = {}
    causes: dict[int, str] = {}
    for lead_id, rule, at in matches:
        state = states.setdefault(lead_id, {}).setdefault(rule.key, RuleState())
        state.add(rule.points, at, rule.half_life_seconds)
        changed[(lead_id, rule.key)] = state
        causes[lead_id] = f"event:{rule.event}"
    save_states(session, workspace_id, [(lead_id, key, state) for (lead_id, key), state in changed.items()])
    scored = [ScoredLead(lead_id, bands[lead_id].fit, states[lead_id], bands[lead_id].band, causes[lead_id],
                         bands[lead_id].named_fits)
              for lead_id in lead_ids if lead_id in bands]
    write_scores(session, workspace_id, model, active.version, scored, now)
    return len(scored)
