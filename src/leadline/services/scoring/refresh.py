"""Scores that change without a new event: a profile edit (fit), and time passing (decay).

Decay is exact at any moment when read (see `explain`); what a job must do is move the *stored* band of
the leads whose `score_due_at` has come, so lists, segments and routing see a lead cool down on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import fit_rules_fired, fit_value
from leadline.core.segments import SCORE_FIELDS
from leadline.services.scoring.facts import fit_facts, fit_rows
from leadline.services.scoring.models import active_model
from leadline.services.scoring.state import ScoredLead, load_leads_and_states, lock_leads, write_scores
from leadline.services.segments.membership import mark_lead_fields
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow

#: Lead attributes scoring writes (to reload an ORM object after `refresh_leads`).
SCORE_ATTRIBUTES = ("score", "fit_score", "engagement_score", "temperature", "mql_ready", "score_model_version",
                    "score_computed_at", "score_due_at", "named_scores")
#: Leads moved per transaction by the decay job (keeps each SQLite write well under 100 ms).
DUE_BATCH = 500


def fits_of(model: ScoringModel, row: Sequence[object]) -> tuple[float, dict[str, float]]:
    """The main fit and each named score's fit of one lead row."""
    fired = fit_rules_fired(model, fit_facts(row))
    return fit_value(fired), {name: fit_value(fired, name) for name in model.score_names}


def refresh_leads(session: Session, workspace_id: int, lead_ids: Sequence[int], *, cause: str = "profile",
                  at: datetime | None = None) -> int:
    """Recompute fit from the leads' current fields and store their scores (after a create or an edit)."""
    active = active_model(session, workspace_id)
    if active is None or not lead_ids:
        return 0
    at = at or utcnow()
    lock_leads(session, workspace_id, lead_ids)
    rows = fit_rows(session, workspace_id, lead_ids)
    ids = [row[0] for row in rows]
    bands, states = load_leads_and_states(session, ids)
    scored = []
    for row in rows:
        fit, named_fits = fits_of(active.model, row)
        stored = bands[row[0]]
        scored.append(ScoredLead(row[0], fit, states.get(row[0], {}),
                                 stored.band if stored.version is not None else None, cause, named_fits))
    write_scores(session, workspace_id, active.model, active.version, scored, at)
    return len(scored)


def refresh_due(session: Session, *, now: datetime | None = None, limit: int = DUE_BATCH) -> int:
    """Move up to `limit` leads whose band change has come (any workspace); returns how many moved."""
    now = now or utcnow()
    due = session.execute(select(Lead.workspace_id, Lead.id).where(Lead.score_due_at <= now,
                                                                  Lead.merged_into_id.is_(None))
                          .order_by(Lead.score_due_at).limit(limit)).all()
    by_workspace: dict[int, list[int]] = {}
    for workspace_id, lead_id in due:
        by_workspace.setdefault(workspace_id, []).append(lead_id)
    for workspace_id, ids in by_workspace.items():
        active = active_model(session, workspace_id)
        if active is None:  # no model to move them with: stop asking
            session.execute(update(Lead).where(Lead.id.in_(ids)).values(score_due_at=None))
            continue
        lock_leads(session, workspace_id, ids)
        bands, states = load_leads_and_states(session, ids)
        write_scores(session, workspace_id, active.model, active.version,
                     [ScoredLead(i, bands[i].fit, states.get(i, {}), bands[i].band, "decay", bands[i].named_fits)
                      for i in ids], now)
        # Segments that read scores or temperature re-check these leads (decay moved them without an event).
        mark_lead_fields(session, workspace_id, ids, SCORE_FIELDS, now=now)
    return len(due)
