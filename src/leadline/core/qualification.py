"""What sales records to qualify a lead: BANT facts, activities, deals."""

from __future__ import annotations

from enum import StrEnum


class Authority(StrEnum):
    DECISION_MAKER = "decision_maker"
    INFLUENCER = "influencer"
    USER = "user"
    NONE = "none"
    UNKNOWN = "unknown"


class Timeline(StrEnum):
    NOW = "now"
    THIS_QUARTER = "this_quarter"
    NEXT_QUARTER = "next_quarter"
    THIS_YEAR = "this_year"
    LATER = "later"
    UNKNOWN = "unknown"


class ActivityKind(StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"

    @property
    def is_contact(self) -> bool:
        """A note is not a touch: speed-to-lead counts the first call, email or meeting."""
        return self is not ActivityKind.NOTE


class DealOutcome(StrEnum):
    WON = "won"
    LOST = "lost"
