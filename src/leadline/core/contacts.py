"""Normalisation of contact data: email, phone, country, language.

Every path that stores a lead (API, forms, CSV import, demo) goes through these functions, so two spellings of
one address can never become two leads.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

# French names are common in imports; pycountry only knows English and ISO names.
_COUNTRY_ALIASES = {
    "allemagne": "DE", "angleterre": "GB", "royaume-uni": "GB", "uk": "GB", "usa": "US", "etats-unis": "US",
    "états-unis": "US", "belgique": "BE", "suisse": "CH", "espagne": "ES", "italie": "IT", "pays-bas": "NL",
    "brésil": "BR", "bresil": "BR", "brasil": "BR", "canada": "CA", "québec": "CA", "irlande": "IE",
    "autriche": "AT", "danemark": "DK", "suède": "SE", "norvège": "NO", "pologne": "PL", "maroc": "MA",
    "tunisie": "TN", "algérie": "DZ", "sénégal": "SN", "côte d'ivoire": "CI", "luxembourg": "LU",
}


class InvalidContact(ValueError):
    """A contact value that cannot be normalised; the message says why."""


# RFC 5322 dot-atom in plain ASCII: the overwhelmingly common local part, which email-validator accepts as is.
_PLAIN_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@lru_cache(maxsize=65536)
def _validated_domain(domain: str) -> str:
    """email-validator's verdict on a domain, once per domain (imports repeat domains thousands of times)."""
    return validate_email(f"a@{domain}", check_deliverability=False).domain


def normalise_email(raw: str) -> str:
    """Validate syntax (no DNS: we run offline and forms must answer fast) and return the lowercased address.

    Lowercasing the local part is technically lossy, but no mainstream provider treats case as significant and
    two case variants of one address must be one lead. A plain ASCII local part is checked here and its domain
    by email-validator (cached); anything else goes through email-validator whole. A property test holds the
    two paths to the same answers.
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    try:
        if at and len(text) <= 200 and len(local) <= 64 and _PLAIN_LOCAL_PART.fullmatch(local):
            return f"{local}@{_validated_domain(domain.lower())}".lower()
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidContact(str(exc)) from exc
    return result.normalized.lower()


def email_lookup_key(raw: str) -> str:
    """Cheap key for matching an event's email against stored leads (no full validation on the hot path)."""
    return raw.strip().lower()


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """Return the E.164 form; a national number needs the lead's country as `default_region`."""
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidContact(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidContact("not a possible phone number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1024)
def normalise_country(raw: str) -> str:
    """ISO 3166-1 alpha-2 code from a code (FR, FRA), an English name or a common French name."""
    text = raw.strip()
    if not text:
        raise InvalidContact("empty country")
    alias = _COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError as exc:
        raise InvalidContact(f"unknown country {raw!r}: use an ISO 3166 code such as FR") from exc


@lru_cache(maxsize=256)
def normalise_language(raw: str) -> str:
    """ISO 639-1 code (`fr`, `en`), accepting `fr-FR`, `French`, `fra`."""
    text = raw.strip().replace("_", "-")
    primary = text.split("-", 1)[0].lower()
    if len(primary) == 2 and pycountry.languages.get(alpha_2=primary) is not None:
        return primary
    try:
        language = pycountry.languages.lookup(text)
    except LookupError as exc:
        raise InvalidContact(f"unknown language {raw!r}: use an ISO 639-1 code such as fr") from exc
    code = getattr(language, "alpha_2", None)
    if code is None:
        raise InvalidContact(f"language {raw!r} has no two-letter code")
    return str(code)
