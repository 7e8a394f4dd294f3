"""Why a lead has its score: each rule that fired, its points now (after decay and caps), when it last fired.

Computed at the moment asked, so decay is exact; the rules' points add up to the axes as documented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import LeadScore, fit_rules_fired, next_band_change, score_lead
from leadline.services.errors import NotFound
from leadline.services.scoring.facts import fit_facts, fit_rows
from leadline.services.scoring.models import active_model
from leadline.services.scoring.state import load_states
from leadline.storage.types import utcnow


@dataclass(frozen=True, slots=True)
class Explanation:
    lead_id: int
    model_version: int | None
    model: ScoringModel | None
    result: LeadScore | None
    next_change_at: datetime | None


def explain_lead(session: Session, workspace_id: int, lead_id: int, *, at: datetime | None = None) -> Explanation:
    at = at or utcnow()
    rows = fit_rows(session, workspace_id, [lead_id])
    if not rows:
        raise NotFound("lead not found", field="lead_id")
    active = active_model(session, workspace_id)
    if active is None:
        return Explanation(lead_id, None, None, None, None)
    states = load_states(session, [lead_id]).get(lead_id, {})
    result = score_lead(active.model, fit_rules_fired(active.model, fit_facts(rows[0])), states, at)
    return Explanation(lead_id, active.version, active.model, result,
                       next_band_change(active.model, result.fit, states, at))
