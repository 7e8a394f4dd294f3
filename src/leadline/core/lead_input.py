"""The one way raw lead data (API body, form post, CSV row, demo file) becomes a normalised `LeadInput`.

`build_lead_input` collects every problem as a `FieldProblem` (field path + reason) instead of stopping at the
first, so an API answer or an import error report can name them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leadline.core.channels import Touch
from leadline.core.contacts import (
    InvalidContact,
    normalise_country,
    normalise_email,
    normalise_language,
    normalise_phone,
)

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    reason: str


class InvalidLeadInput(ValueError):
    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class CompanyInput:
    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    size: int | None = None
    revenue: float | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentInput:
    """Consent facts carried by a source. `None` means "this source says nothing" and never overwrites."""

    email_marketing: bool | None = None
    unsubscribed: bool | None = None
    source: str | None = None
    legal_basis: str | None = None
    # The other purposes of the consent ledger, the person's kind and the proof (see `leadline.core.consent`).
    tracking: bool | None = None
    profiling: bool | None = None
    partner_sharing: bool | None = None
    subject_type: str | None = None  # consumer | professional
    text_version: str | None = None
    form_id: int | None = None
    ip: str | None = None
    user_agent: str | None = None
    #: Lists from someone else: {"list", "partner", "partner_proof", "collected_at"}; its presence means an
    #: Art. 14 notice is owed within a month.
    provenance: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LeadInput:
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None
    country: str | None = None
    language: str | None = None
    company: CompanyInput | None = None
    source: Touch = field(default_factory=Touch)
    custom: dict[str, Any] = field(default_factory=dict)
    consent: ConsentInput | None = None
    external_id: str | None = None
    created_at: datetime | None = None

    def profile_fields(self) -> dict[str, Any]:
        """The plain lead columns this input sets (None = not given)."""
        return {
            "email": self.email, "phone": self.phone, "first_name": self.first_name,
            "last_name": self.last_name, "job_title": self.job_title, "country": self.country,
            "language": self.language, "external_id": self.external_id,
        }


def _text(value: Any, max_len: int = NAME_MAX) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:max_len] or None


def normalise_domain(raw: str) -> str:
    text = raw.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0].split(":", 1)[0].removeprefix("www.")
    if not _DOMAIN.match(text):
        raise InvalidContact(f"not a domain name: {raw!r}")
    return text


def _company(raw: Mapping[str, Any] | None, problems: list[FieldProblem]) -> CompanyInput | None:
    if not raw:
        return None
    domain = None
    if raw.get("domain"):
        try:
            domain = normalise_domain(str(raw["domain"]))
        except InvalidContact as exc:
            problems.append(FieldProblem("company.domain", str(exc)))
    country = None
    if raw.get("country"):
        try:
            country = normalise_country(str(raw["country"]))
        except InvalidContact as exc:
            problems.append(FieldProblem("company.country", str(exc)))
    company = CompanyInput(
        name=_text(raw.get("name")), domain=domain, industry=_text(raw.get("industry")),
        size=_optional_int(raw.get("size"), "company.size", problems),
        revenue=_optional_float(raw.get("revenue"), "company.revenue", problems), country=country,
    )
    return None if company == CompanyInput() else company


def _optional_int(value: Any, name: str, problems: list[FieldProblem]) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).replace(" ", "").replace("\u202f", ""))
    except ValueError:
        problems.append(FieldProblem(name, "must be a whole number"))
        return None
    if number < 0:
        problems.append(FieldProblem(name, "must not be negative"))
        return None
    return number


def _optional_float(value: Any, name: str, problems: list[FieldProblem]) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(str(value).replace(" ", "").replace("\u202f", "").replace(",", "."))
    except ValueError:
        problems.append(FieldProblem(name, "must be a number"))
        return None
    if number < 0 or number != number or number in (float("inf"),):
        problems.append(FieldProblem(name, "must be a finite, non-negative number"))
        return None
    return number


def _consent(raw: ConsentInput | Mapping[str, Any] | None) -> ConsentInput | None:
    if raw is None or isinstance(raw, ConsentInput):
        return raw
    provenance = raw.get("provenance")
    return ConsentInput(
        email_marketing=raw.get("email_marketing"), unsubscribed=raw.get("unsubscribed"),
        source=_text(raw.get("source")), legal_basis=_text(raw.get("legal_basis")),
        tracking=raw.get("tracking"), profiling=raw.get("profiling"), partner_sharing=raw.get("partner_sharing"),
        subject_type=_text(raw.get("subject_type")), text_version=_text(raw.get("text_version")),
        provenance=dict(provenance) if isinstance(provenance, Mapping) and provenance else None,
    )


def build_lead_input(
    raw: Mapping[str, Any], *, default_country: str | None = None, require_identity: bool = True
) -> LeadInput:
    """Normalise one lead's raw fields. Raises `InvalidLeadInput` listing every problem found."""
    problems: list[FieldProblem] = []
    email = phone = country = language = None
    if raw.get("email"):
        try:
            email = normalise_email(str(raw["email"]))
        except InvalidContact as exc:
            problems.append(FieldProblem("email", str(exc)))
    if raw.get("country"):
        try:
            country = normalise_country(str(raw["country"]))
        except InvalidContact as exc:
            problems.append(FieldProblem("country", str(exc)))
    if raw.get("phone"):
        try:
            phone = normalise_phone(str(raw["phone"]), country or default_country)
        except InvalidContact as exc:
            problems.append(FieldProblem("phone", str(exc)))
    if raw.get("language"):
        try:
            language = normalise_language(str(raw["language"]))
        except InvalidContact as exc:
            problems.append(FieldProblem("language", str(exc)))
    if require_identity and not raw.get("email") and not raw.get("phone"):
        problems.append(FieldProblem("email", "a lead needs an email or a phone number"))
    company = _company(raw.get("company"), problems)
    if problems:
        raise InvalidLeadInput(problems)
    custom = raw.get("custom") or {}
    return LeadInput(
        email=email, phone=phone, first_name=_text(raw.get("first_name")), last_name=_text(raw.get("last_name")),
        job_title=_text(raw.get("job_title")), country=country, language=language, company=company,
        source=Touch.from_mapping(raw.get("source")).with_derived_channel() if raw.get("source") else Touch(),
        custom=dict(custom), consent=_consent(raw.get("consent")), external_id=_text(raw.get("external_id")),
        created_at=raw.get("created_at"),
    )
