"""The lifecycle stage machine: which moves are allowed, which need a reason, and what a move records.

    new -> mql -> sql -> opportunity -> customer      forward, skipping allowed (a quote request may go
                                                      straight to sql)
    any open stage -> disqualified (reason from the workspace's list)
    mql, sql, opportunity -> recycled (back to nurturing, with a reason)
    disqualified -> recycled;  recycled -> mql, sql, opportunity, customer

Moving back goes only through disqualified or recycled: a customer never becomes new (customer is final), and
a duplicate is merged, not disqualified. Everything else is refused with the reason, which the API returns as
a 409.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from leadline.core.leads import Stage

#: The forward path, in order.
FUNNEL: tuple[Stage, ...] = (Stage.NEW, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER)
OPEN_STAGES = frozenset({Stage.NEW, Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.RECYCLED})

DEFAULT_DISQUALIFY_REASONS: tuple[str, ...] = ("not_in_target", "competitor", "spam", "unreachable", "other")
DEFAULT_RECYCLE_REASONS: tuple[str, ...] = ("no_budget_yet", "lost_deal", "no_answer", "rejected_by_sales",
                                            "other")
MQL_REJECT_REASONS: tuple[str, ...] = ("not_ready", "bad_fit", "bad_data", "no_answer", "other")
REASON_PATTERN_HELP = "a lower-case code such as not_in_target"


class ActorType(StrEnum):
    USER = "user"
    RULE = "rule"
    API_KEY = "api_key"
    SYSTEM = "system"


class LeadStatus(StrEnum):
    """Where sales is with a lead inside its stage."""

    NEW = "new"
    ATTEMPTING_CONTACT = "attempting_contact"
    CONNECTED = "connected"
    MEETING_BOOKED = "meeting_booked"


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None = None

    def label(self) -> str:
        return f"{self.type.value}:{self.id}" if self.id else self.type.value


@dataclass(frozen=True)
class ReasonLists:
    """A workspace's reason codes (defaults unless it set its own)."""

    disqualify: tuple[str, ...] = DEFAULT_DISQUALIFY_REASONS
    recycle: tuple[str, ...] = DEFAULT_RECYCLE_REASONS


@dataclass(frozen=True)
class TransitionRefused:
    """Why a move is not allowed; `field` names the input to fix when the move is fine but the reason is not."""

    message: str
    field: str = "stage"


def _rank(stage: Stage) -> int:
    return FUNNEL.index(stage) if stage in FUNNEL else -1


def allowed_targets(current: Stage) -> frozenset[Stage]:
    """Every stage `current` may move to."""
    if current is Stage.CUSTOMER:
        return frozenset()
    if current is Stage.DISQUALIFIED:
        return frozenset({Stage.RECYCLED})
    if current is Stage.RECYCLED:
        return frozenset({Stage.MQL, Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER, Stage.DISQUALIFIED})
    forward = {s for s in FUNNEL if _rank(s) > _rank(current)}
    back = {Stage.RECYCLED} if current is not Stage.NEW else set()
    return frozenset(forward | back | {Stage.DISQUALIFIED})


def _reason_problem(target: Stage, reason: str | None, reasons: ReasonLists) -> TransitionRefused | None:
    lists: dict[Stage, Sequence[str]] = {Stage.DISQUALIFIED: reasons.disqualify, Stage.RECYCLED: reasons.recycle}
    choices = lists.get(target)
    if choices is None:
        return None
    if not reason:
        return TransitionRefused(f"moving to {target.value} needs a reason, one of: {', '.join(choices)}", "reason")
    if reason not in choices:
        return TransitionRefused(f"{reason!r} is not a {target.value} reason of this workspace; use one of: "
                                 f"{', '.join(choices)}", "reason")
    return None


def check_transition(current: Stage, target: Stage, reason: str | None,
                     reasons: ReasonLists = ReasonLists()) -> TransitionRefused | None:
    """None when `current -> target` with `reason` is allowed, else why not."""
    if current is target:
        return TransitionRefused(f"the lead is already {target.value}")
    if target not in allowed_targets(current):
        if current is Stage.CUSTOMER:
            return TransitionRefused("a customer stays a customer: no stage change is allowed")
        if target is Stage.NEW:
            return TransitionRefused(f"a lead never goes back to new (it is {current.value}); "
                                     "use recycled to send it back to nurturing")
        if current is Stage.DISQUALIFIED:
            return TransitionRefused("a disqualified lead comes back only through recycled")
        if target is Stage.RECYCLED:
            return TransitionRefused("only an mql, sql or opportunity can be recycled")
        return TransitionRefused(f"{current.value} -> {target.value} moves backwards; go through "
                                 "disqualified or recycled")
    return _reason_problem(target, reason, reasons)


def is_forward(current: Stage, target: Stage) -> bool:
    return _rank(target) > _rank(current) >= 0


def mql_ready_moves(current: Stage) -> bool:
    """Crossing the MQL threshold makes a lead MQL only from new or recycled: never backwards, never out of
    disqualified (a person decided that), never down from sql and beyond."""
    return current in (Stage.NEW, Stage.RECYCLED)
