"""Identity rules without I/O: what a merge keeps, how consents combine, and how alike two leads are.

Leads are handled here as plain mappings from lead column names to values (what `Lead` rows hold), so the
same rules serve a merge, its undo and the tests.

**Field values.** The survivor keeps every value it has; an empty one (None, blank text, empty list or dict) is
filled from the other lead. Custom fields follow the same rule key by key. The email is never copied (it is
unique per workspace and stays on the merged lead, so a later capture with it follows to the survivor).
Attribution keeps the earliest first touch and the latest last touches; `created_at` keeps the earliest (the
person became a lead when the first of the two records was created). Stage, scores and temperature stay the
survivor's: they are recomputed from the moved events, not combined.

**Consent never widens** (`combine_consent`):

* unsubscribed on either side -> unsubscribed, and email consent is withdrawn;
* a withdrawal (`False`) on either side wins over a grant;
* a grant (`True`) survives only when it is the survivor's own. The other record's grant was given by, and is
  proven for, that record only: a merge made by mistake must not put someone on a mailing list. So survivor
  unknown + other granted gives unknown;
* source and legal basis follow the side that decided the result (the survivor's when both agree).

**Undo** (`plan_undo`) puts back a value the merge set only while it is still the value the merge set: what
changed since (a newer touch, an edit) is kept. Consent is handled as one group; a withdrawal made while the
leads were merged also applies to the restored lead (`consent_after_undo`), since nobody can tell whose it was.

**Duplicates** (`score_pair`): a similar full name counts only at the same company or at a company with a
similar name (a name alone is weak: there are many Jean Martins); a shared phone is strong unless the names
clearly differ (a switchboard number). Scores run from 0 to 100.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rapidfuzz import fuzz

#: Profile columns filled from the other lead when the survivor's are empty.
MERGE_FIELDS: tuple[str, ...] = (
    "phone", "first_name", "last_name", "job_title", "country", "language", "external_id", "company_id",
    "owner_id", "status",
)
CONSENT_FIELDS: tuple[str, ...] = (
    "consent_email", "consent_tracking", "unsubscribed", "consent_source", "consent_legal_basis",
)
#: (time column, columns moved together, the earliest wins?)
TOUCH_GROUPS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("first_touch_at", ("first_touch", "first_touch_at", "first_channel", "first_campaign"), True),
    ("last_touch_at", ("last_touch", "last_touch_at", "last_channel"), False),
    ("last_non_direct_touch_at", ("last_non_direct_touch", "last_non_direct_touch_at", "last_non_direct_channel",
                                  "last_non_direct_campaign"), False),
)

#: Below this name similarity a name is not given as a reason.
NAME_REASON_MIN = 80.0
#: A company name at least this similar counts as the same company.
COMPANY_MIN = 85.0
#: How much a similar name alone (no company evidence) is worth: never enough for the default threshold.
NAME_ONLY_WEIGHT = 0.6
_LEGAL_FORMS = frozenset({
    "sa", "sas", "sasu", "sarl", "eurl", "sci", "scop", "inc", "incorporated", "ltd", "limited", "llc", "llp",
    "plc", "gmbh", "ag", "kg", "bv", "nv", "srl", "spa", "corp", "corporation", "co", "company", "group",
    "groupe", "the",
})
_NON_WORD = re.compile(r"[^\w]+")


# --- field values -------------------------------------------------------------------------------------------


def is_empty(value: object) -> bool:
    """None, blank text and empty containers count as "no value"; False and 0 are values."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set)):
        return len(value) == 0
    return False


def richer_fields(survivor: Mapping[str, Any], other: Mapping[str, Any],
                  fields: tuple[str, ...] = MERGE_FIELDS) -> dict[str, Any]:
    """The survivor's empty fields that the other lead can fill: only the changes."""
    return {name: other.get(name) for name in fields
            if is_empty(survivor.get(name)) and not is_empty(other.get(name))}


def richer_custom(survivor: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> dict[str, Any]:
    """Custom fields: the survivor's values, with its missing or empty keys filled from the other lead."""
    combined = dict(survivor or {})
    for key, value in (other or {}).items():
        if is_empty(combined.get(key)) and not is_empty(value):
            combined[key] = value
    return combined


def combine_touches(survivor: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """The earliest first touch and the latest last touches of the two leads (ties keep the survivor's)."""
    changes: dict[str, Any] = {}
    for time_field, group, earliest in TOUCH_GROUPS:
        theirs = other.get(time_field)
        if theirs is None:
            continue
        ours = survivor.get(time_field)
        if ours is None or (theirs < ours if earliest else theirs > ours):
            changes.update({name: other.get(name) for name in group})
    return changes


# --- consent ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    """A lead's consent flags: True granted, False withdrawn, None unknown."""

    email: bool | None = None
    tracking: bool | None = None
    unsubscribed: bool = False
    source: str | None = None
    legal_basis: str | None = None

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Consent:
        return cls(email=fields.get("consent_email"), tracking=fields.get("consent_tracking"),
                   unsubscribed=bool(fields.get("unsubscribed")), source=fields.get("consent_source"),
                   legal_basis=fields.get("consent_legal_basis"))

    def as_fields(self) -> dict[str, Any]:
        return {"consent_email": self.email, "consent_tracking": self.tracking, "unsubscribed": self.unsubscribed,
                "consent_source": self.source, "consent_legal_basis": self.legal_basis}


def _narrowest(survivor: bool | None, other: bool | None) -> bool | None:
    if survivor is False or other is False:
        return False
    return survivor  # True only if it is the survivor's own grant; the other's grant never carries over


def combine_consent(survivor: Consent, other: Consent) -> Consent:
    """The merged lead's consent: never wider than either side's (see the module notes)."""
    unsubscribed = survivor.unsubscribed or other.unsubscribed
    email = False if unsubscribed else _narrowest(survivor.email, other.email)
    tracking = _narrowest(survivor.tracking, other.tracking)
    # source and legal basis describe the email consent: the other's when its withdrawal decided the result
    other_decided = email is False and survivor.email is not False and not survivor.unsubscribed
    source, basis = (other.source, other.legal_basis) if other_decided else (survivor.source, survivor.legal_basis)
    return Consent(email=email, tracking=tracking, unsubscribed=unsubscribed, source=source, legal_basis=basis)


def consent_after_undo(before: Consent, applied: Consent, current: Consent) -> Consent:
    """The restored lead's consent on undo: its own from before the merge, narrowed by any withdrawal made on the
    merged lead since the merge (`current` narrower than what the merge set, `applied`)."""
    unsubscribed = before.unsubscribed or (current.unsubscribed and not applied.unsubscribed)
    email = before.email
    if unsubscribed or (current.email is False and applied.email is not False):
        email = False
    tracking = False if current.tracking is False and applied.tracking is not False else before.tracking
    return Consent(email=email, tracking=tracking, unsubscribed=unsubscribed, source=before.source,
                   legal_basis=before.legal_basis)


# --- merge and undo plans -----------------------------------------------------------------------------------


def plan_merge(survivor: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """Every change the survivor takes from the other lead, as {column: new value} (unchanged ones left out)."""
    changes = richer_fields(survivor, other)
    custom = richer_custom(survivor.get("custom"), other.get("custom"))
    if custom != dict(survivor.get("custom") or {}):
        changes["custom"] = custom
    changes.update(combine_touches(survivor, other))
    theirs, ours = other.get("created_at"), survivor.get("created_at")
    if theirs is not None and ours is not None and theirs < ours:
        changes["created_at"] = theirs
    consent = combine_consent(Consent.of(survivor), Consent.of(other)).as_fields()
    changes.update({name: value for name, value in consent.items() if value != survivor.get(name)})
    return changes


def plan_undo(before: Mapping[str, Any], applied: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """What to put back on the survivor: each value the merge set (`applied`) that is still current returns to
    its value from `before`. The consent columns move as one group. All three mappings hold JSON-safe values
    (see `json_safe`); so does the answer."""
    restore: dict[str, Any] = {}
    consent_applied = {name: value for name, value in applied.items() if name in CONSENT_FIELDS}
    for name, value in applied.items():
        if name not in CONSENT_FIELDS and json_safe(current.get(name)) == json_safe(value):
            restore[name] = before.get(name)
    if consent_applied and all(json_safe(current.get(name)) == json_safe(value)
                               for name, value in consent_applied.items()):
        restore.update({name: before.get(name) for name in consent_applied})
    return restore


def json_safe(value: Any) -> Any:
    """A value as JSON can hold it: datetimes as UTC ISO strings, dates as ISO, decimals as strings."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


# --- duplicate candidates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """What duplicate detection reads of a lead."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    company_id: int | None = None
    company_name: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    score: int
    reasons: tuple[str, ...]


def normalise_text(value: str | None) -> str:
    """Casefolded, accents removed, punctuation turned into single spaces: "Jérôme D'Arc" -> "jerome d arc"."""
    if not value:
        return ""
    plain = value.casefold()
    if not plain.isascii():
        plain = "".join(char for char in unicodedata.normalize("NFKD", plain) if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", plain).replace("_", " ").split())


def full_name(first_name: str | None, last_name: str | None) -> str:
    """The normalised full name, words sorted: names are compared on this, so word order does not matter
    ("Dupont Jean" = "Jean Dupont"; "" when there is no name)."""
    parts = " ".join(part for part in (normalise_text(first_name), normalise_text(last_name)) if part)
    return " ".join(sorted(parts.split()))


def name_similarity(a: str, b: str) -> float:
    """0-100 between two `full_name`s. Duplicate search pre-filters blocks with this same scorer
    (`NAME_SCORER`), so both agree. The words are sorted once in `full_name`, which makes a plain ratio a
    token-sort ratio without re-sorting at each of the millions of comparisons."""
    if not a or not b:
        return 0.0
    return float(NAME_SCORER(a, b))


NAME_SCORER = fuzz.ratio
#: Compares two `company_key`s.
COMPANY_SCORER = fuzz.ratio


def company_key(name: str | None) -> str:
    """A company name without case, accents, punctuation or legal form: "ACME S.A.S." -> "acme"."""
    words: list[str] = []
    in_initials = False
    for word in normalise_text(name).split():
        if len(word) == 1 and in_initials:
            words[-1] += word  # "s a s" (from "S.A.S.") -> "sas"
        else:
            words.append(word)
            in_initials = len(word) == 1
    kept = [word for word in words if word not in _LEGAL_FORMS]
    return " ".join(kept or words)


def company_similarity(a: Person, b: Person) -> float | None:
    """100 for the same company record, the similarity of the names otherwise, None when unknown."""
    if a.company_id is not None and a.company_id == b.company_id:
        return 100.0
    key_a, key_b = company_key(a.company_name), company_key(b.company_name)
    if not key_a or not key_b:
        return None
    return float(COMPANY_SCORER(key_a, key_b))


def score_pair(a: Person, b: Person) -> Match:
    """How likely two leads are one person (0-100), and why."""
    name_a, name_b = full_name(a.first_name, a.last_name), full_name(b.first_name, b.last_name)
    names_known = bool(name_a and name_b)
    name = name_similarity(name_a, name_b) if names_known else 0.0
    company = company_similarity(a, b)
    same_company = company is not None and company >= COMPANY_MIN
    reasons: list[str] = []
    score = 0.0
    if names_known and name >= NAME_REASON_MIN:
        reasons.append("same name" if name == 100 else f"similar name ({round(name)})")
    if same_company and company is not None:
        reasons.append("same company" if a.company_id is not None and a.company_id == b.company_id
                       else f"similar company name ({round(company)})")
    if names_known:
        score = min(name, company) if same_company and company is not None else name * NAME_ONLY_WEIGHT
    if a.phone and a.phone == b.phone:
        reasons.insert(0, "same phone")
        score = max(score, 60 + 0.4 * name if names_known else 90.0)
    return Match(score=max(0, min(100, round(score))), reasons=tuple(reasons))
