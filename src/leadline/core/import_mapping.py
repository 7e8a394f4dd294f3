"""How the columns of an imported spreadsheet (HubSpot, Salesforce, Mautic, a French Excel file...) become
the raw dict that `build_lead_input` normalises.

Header matching
    A header is compared by its *key*: accents removed, lower-cased, everything but ASCII letters and digits
    dropped. "E-mail", "e_mail", "EMAIL " and "É-mail" are one header; "Country/Region" is "countryregion".
    `FIELD_ALIASES` lists, per Leadline field, the headers known to carry it, best first. `CUSTOM_ALIASES`
    lists well-known columns with no Leadline field (city, lifecycle stage...), kept in `custom` under a
    stable key. Any other column also goes to `custom`, under a slug of its header ("Lead Score" ->
    `lead_score`).

    Several columns may feed one field (HubSpot "Phone Number" and "Mobile Phone Number"): the best-ranked
    column with a value wins; the other non-empty values are kept in `custom` under their slug, so nothing is
    lost. "Title" is the job title (Salesforce) unless another column gives the job title (Mautic's "title"
    is Mr/Mrs and its job title is "position"): it then goes to `custom`.

Values
    * empty cells are absent: an import never blanks a field;
    * a website or a URL becomes `company.domain` (`normalise_domain` keeps the host);
    * a language written in French ("Français", "Anglais"...) becomes its ISO 639-1 code;
    * dates accept ISO 8601 (`2024-12-31`, `2024-12-31 14:05`, `2024-12-31T14:05:33+02:00`) and **day-first**
      dates `31/12/2024`, `31.12.2024`, `31-12-2024`, optionally followed by `14:05`, `14:05:33` or `14h05`.
      Leadline is a French/European product: `01/02/2024` is always the 1st of February, and a US date such
      as `12/31/2024` is an error rather than a silent swap. Times without an offset are read in
      `naive_timezone` (UTC unless the caller says otherwise); every date comes back as an aware UTC datetime;
    * numbers accept French formatting: `1 234,5`, `1.234,5`, `1,234.5`, `1234.5`, a currency sign; a lone
      comma is a decimal comma. Company sizes accept ranges (`11-50`, `10 à 49`, `250+`): the lower bound is
      kept;
    * consent columns become a `ConsentInput`. Yes words: yes, y, true, 1, oui, vrai, x; no words: no, n,
      false, 0, non, faux. An opt-out column ("Unsubscribed from all email", "Email Opt Out", "doNotContact",
      "Désinscrit"...) also takes "opted out", "unsubscribed", "désinscrit"... as yes; a consent column takes
      "opted in", "subscribed"... as yes and "opted out" as no. Anything else is an error: a migration must
      never mail someone who opted out because a value was not understood. When several columns speak, the
      strictest wins (any opt-out unsubscribes, any refusal refuses);
    * a source column ("Original Source", "Lead Source", "Source") sets the channel when its value names one
      (HubSpot's "Paid Search" -> `sea`, "Salon" -> `events`...); other values are kept in `custom`, and the
      channel is then derived from the UTM columns as usual.

Problems are reported as `InvalidLeadInput` whose `FieldProblem.field` is the CSV column header, so the
person importing the file can find the cell.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from leadline.core.lead_input import ConsentInput, FieldProblem, InvalidLeadInput, LeadInput, build_lead_input
from leadline.core.leads import Channel

# Leadline field path -> headers that carry it, best first. Sources: HubSpot, Salesforce (report labels and
# API names), Mautic, French exports and hand-made Excel files, Google Analytics style campaign columns.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("Email", "E-mail", "Email Address", "Adresse e-mail", "Adresse email", "Adresse mail",
              "Courriel", "Mail", "Work Email", "Email professionnel", "E-mail professionnel"),
    "phone": ("Phone Number", "Phone", "Téléphone", "Tél", "Numéro de téléphone", "Téléphone fixe",
              "Work Phone", "Telephone", "Mobile Phone Number", "MobilePhone", "Mobile Phone", "Mobile",
              "Téléphone portable", "Téléphone mobile", "Portable", "GSM", "Cell Phone"),
    "first_name": ("First Name", "FirstName", "Prénom", "Given Name"),
    "last_name": ("Last Name", "LastName", "Nom de famille", "Nom", "Surname", "Family Name"),
    "job_title": ("Job Title", "JobTitle", "Position", "Fonction", "Poste", "Intitulé de poste", "Title"),
    "country": ("Country/Region", "Country", "Pays", "Country Code", "Code pays"),
    "language": ("Preferred language", "Language", "Langue", "Locale", "preferred_locale",
                 "Langue préférée"),
    "external_id": ("Record ID", "Contact ID", "Lead ID", "Id", "External ID", "ID externe", "Identifiant"),
    "created_at": ("Create Date", "Created Date", "CreatedDate", "Created At", "Creation Date",
                   "Date Created", "date_added", "Date Added", "Date de création", "Date d'inscription",
                   "Date d'ajout"),
    "company.name": ("Company Name", "Company", "Account Name", "Société", "Entreprise", "Raison sociale",
                     "Organisation", "Organization", "Nom de la société", "Nom de l'entreprise"),
    "company.domain": ("Website URL", "Website", "Company Domain Name", "Domain", "Site web", "Site internet",
                       "Site", "Domaine", "Company Website"),
    "company.industry": ("Industry", "Secteur", "Secteur d'activité", "Company Industry"),
    "company.size": ("Number of Employees", "NumberOfEmployees", "Employees", "Company Size", "companysize",
                     "Effectif", "Effectifs", "Nombre de salariés", "Nombre d'employés",
                     "Taille de l'entreprise"),
    "company.revenue": ("Annual Revenue", "AnnualRevenue", "Revenue", "Chiffre d'affaires", "CA",
                        "Chiffre d'affaires annuel"),
    "company.country": ("Company Country", "Company Country/Region", "Pays de la société",
                        "Pays de l'entreprise"),
    "source.channel": ("Original Source", "Original Traffic Source", "Lead Source", "LeadSource", "Source",
                       "Origine", "Source du lead", "Origine du lead", "Channel", "Canal"),
    "source.campaign": ("Campaign", "Campaign Name", "Campagne"),
    "source.utm_source": ("utm_source", "Campaign Source"),
    "source.utm_medium": ("utm_medium", "Campaign Medium"),
    "source.utm_campaign": ("utm_campaign",),
    "source.utm_term": ("utm_term", "Campaign Term"),
    "source.utm_content": ("utm_content", "Campaign Content"),
    "source.gclid": ("gclid", "Google Click ID", "Google ad click id"),
    "source.fbclid": ("fbclid", "Facebook Click ID"),
    "source.li_fat_id": ("li_fat_id", "LinkedIn Click ID"),
    "source.msclkid": ("msclkid", "Microsoft Click ID", "Bing Click ID"),
    "source.referrer": ("Referrer", "Referer", "HTTP Referer", "Referrer URL", "First Referring Site",
                        "Référent", "Site référent"),
    "source.landing_page": ("Landing Page", "Landing Page URL", "First Page Seen", "Entry Page",
                            "Page d'atterrissage", "Page de destination", "Page d'entrée"),
    "consent.unsubscribed": ("Unsubscribed from all email", "Unsubscribed", "Email Opt Out",
                             "HasOptedOutOfEmail", "Opted out of email", "Opt-out", "Do Not Email",
                             "doNotEmail", "doNotContact", "Do Not Contact", "dnc", "Désinscrit",
                             "Désinscrite", "Désabonné", "Désinscription"),
    "consent.email_marketing": ("Consentement", "Consentement email", "Consentement marketing",
                                "Consentement RGPD", "Consent", "Email Consent", "Marketing Consent",
                                "GDPR Consent", "Opt-in", "Email Opt In"),
    "consent.legal_basis": ("Base légale", "Legal basis", "Legal basis for processing contact's data",
                            "Lawful basis", "Base juridique"),
    "consent.source": ("Consent source", "Source du consentement", "Origine du consentement"),
}

# Well-known columns with no Leadline field: kept in `custom` under a stable key whatever the export says.
CUSTOM_ALIASES: dict[str, tuple[str, ...]] = {
    "lifecycle_stage": ("Lifecycle Stage", "Étape du cycle de vie", "Cycle de vie"),
    "lead_status": ("Lead Status", "Status", "Statut", "Statut du lead"),
    "owner": ("Contact owner", "Lead Owner", "Owner", "Propriétaire", "Commercial"),
    "salutation": ("Salutation", "Civilité"),
    "full_name": ("Full Name", "Name", "Nom complet"),
    "address": ("Street Address", "Address", "address1", "Adresse"),
    "city": ("City", "Ville"),
    "postal_code": ("Postal Code", "Zip", "zipcode", "Zip Code", "Code postal", "CP"),
    "region": ("State/Region", "State", "Région", "Département"),
    "score": ("Lead Score", "HubSpot Score", "points", "Score"),
}

#: Fields that make a file worth importing: without one of them no row can name a person.
IDENTITY_FIELDS = ("email", "phone", "first_name", "last_name")

_WEAK_ALIASES = {"title": "job_title"}  # header key -> field it carries only when nothing better does
_TEXT_LIMIT = 2000

_Converter = Callable[[str, tzinfo], Any]
_Step = tuple[str, str, _Converter | None, tuple[str, ...]]  # group, name, converter (None: text), headers


@dataclass(frozen=True, slots=True)
class _Plan:
    """The conversion steps of a mapping, worked out once per file rather than once per row."""

    text: tuple[tuple[str, str, str], ...]  # header, group, name: a text field fed by one column
    other: tuple[_Step, ...]  # everything else: conversions, consent, several columns for one field


class HeaderError(ValueError):
    """The header row cannot be mapped (duplicate or nameless columns); the message is for a person."""


def header_key(header: str) -> str:
    """The comparison key of a header or a yes/no word: no accents, no case, only ASCII letters and digits."""
    decomposed = unicodedata.normalize("NFKD", header.casefold())
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def custom_key(header: str) -> str:
    """The `custom` key of an unknown column: its header as lowercase ASCII words joined by underscores."""
    decomposed = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", decomposed).strip("_") or "column"


def _alias_index() -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    tables: list[tuple[str, tuple[str, ...]]] = list(FIELD_ALIASES.items())
    tables += [(f"custom.{key}", aliases) for key, aliases in CUSTOM_ALIASES.items()]
    for target, aliases in tables:
        for rank, alias in enumerate(aliases):
            key = header_key(alias)
            if key in index and index[key][0] != target:
                raise AssertionError(f"alias {alias!r} maps to both {index[key][0]} and {target}")
            index.setdefault(key, (target, rank))
    return index


_ALIASES = _alias_index()


@dataclass(frozen=True, slots=True)
class HeaderMapping:
    """What each column of a file means.

    `fields`: header -> Leadline field path ("email", "company.name", "source.utm_source",
    "consent.unsubscribed", "created_at"...); `custom`: header -> key in `LeadInput.custom`; `by_field`:
    field path -> the headers feeding it, best first.
    """

    headers: tuple[str, ...]
    fields: Mapping[str, str]
    custom: Mapping[str, str]
    by_field: Mapping[str, tuple[str, ...]]
    plan: _Plan | None = field(default=None, repr=False, compare=False)

    @property
    def known_headers(self) -> tuple[str, ...]:
        return tuple(h for h in self.headers if h in self.fields)

    def has_identity(self) -> bool:
        """Whether some column can carry an email, a phone or a name."""
        return any(name in self.by_field for name in IDENTITY_FIELDS)

    def column_for(self, field: str, row: Mapping[str, str] | None = None) -> str | None:
        """The header that feeds `field` (in `row`, the one whose value was used), or None."""
        headers = self.by_field.get(field, ())
        if row is not None:
            for header in headers:
                if row.get(header, "").strip():
                    return header
        return headers[0] if headers else None


def count_known(headers: Iterable[str]) -> int:
    """How many headers name a known column (a Leadline field or a well-known custom column)."""
    return sum(1 for header in headers if header_key(header) in _ALIASES)


def map_headers(headers: list[str]) -> HeaderMapping:
    """Map a header row. Raises `HeaderError` on a nameless column or two headers that differ only by case,
    accents or punctuation (the import could not tell their values apart)."""
    keys: dict[str, str] = {}  # comparison key -> header
    for position, header in enumerate(headers, start=1):
        if not header.strip():
            raise HeaderError(f"column {position} of the header row has no name")
        key = header_key(header) or header.strip()
        if key in keys:
            raise HeaderError(
                f"the columns {keys[key]!r} and {header!r} have the same name once case, accents and "
                "punctuation are ignored: rename or remove one of them"
            )
        keys[key] = header
    job_title_given = any(
        _ALIASES.get(k, ("", 0))[0] == "job_title" and k not in _WEAK_ALIASES for k in keys
    )
    ranked: dict[str, list[tuple[int, int, str]]] = {}
    custom: dict[str, str] = {}
    for position, (key, header) in enumerate(keys.items()):
        target, rank = _ALIASES.get(key, ("", 0))
        if key in _WEAK_ALIASES and job_title_given:
            target = ""
        if target and not target.startswith("custom."):
            ranked.setdefault(target, []).append((rank, position, header))
        else:
            custom[header] = _free_key(target.removeprefix("custom.") or custom_key(header), header, custom)
    by_field = {target: tuple(h for _, _, h in sorted(cols)) for target, cols in ranked.items()}
    fields = {header: target for target, cols in by_field.items() for header in cols}
    return HeaderMapping(
        headers=tuple(headers), fields=MappingProxyType(fields), custom=MappingProxyType(custom),
        by_field=MappingProxyType(by_field), plan=_plan(by_field),
    )


def _free_key(key: str, header: str, custom: Mapping[str, str]) -> str:
    """`key`, unless another column already took it ("Lead Score" and "points" are both the score)."""
    taken = set(custom.values())
    if key not in taken:
        return key
    candidate = custom_key(header)
    suffix = 2
    while candidate in taken:
        candidate, suffix = f"{custom_key(header)}_{suffix}", suffix + 1
    return candidate


# --- values ------------------------------------------------------------------------------------------

_YES = frozenset({"yes", "y", "true", "1", "oui", "vrai", "x"})
_NO = frozenset({"no", "n", "false", "0", "non", "faux"})
_OPT_OUT = frozenset({"optedout", "optout", "unsubscribed", "desinscrit", "desinscrite", "desabonne",
                      "desabonnee", "donotcontact", "donotemail", "dnc"})
_OPT_IN = frozenset({"optedin", "optin", "subscribed", "inscrit", "inscrite", "abonne", "abonnee",
                     "consented"})
_YES_NO_HINT = "expected yes or no (oui/non, true/false, 1/0)"

_CHANNEL_WORDS: dict[str, Channel] = {header_key(word): channel for channel, words in {
    Channel.SEO: ("Organic Search", "SEO", "Référencement naturel", "Recherche organique", "Natural search"),
    Channel.SEA: ("Paid Search", "SEA", "Google Ads", "AdWords", "Bing Ads", "Liens sponsorisés", "PPC",
                  "CPC"),
    Channel.SOCIAL: ("Social Media", "Organic Social", "Social", "Réseaux sociaux", "LinkedIn", "Facebook"),
    Channel.PAID_SOCIAL: ("Paid Social", "LinkedIn Ads", "Facebook Ads", "Meta Ads", "Social Ads"),
    Channel.EMAIL: ("Email Marketing", "Email", "E-mail", "Emailing", "Newsletter", "Campagne email"),
    Channel.DISPLAY: ("Display", "Advertisement", "Bannière", "Publicité display"),
    Channel.AFFILIATE: ("Affiliate", "Affiliation", "Affiliés"),
    Channel.CO_REGISTRATION: ("Co-registration", "Coregistration", "Coreg", "Co-enregistrement"),
    Channel.SMS: ("SMS",),
    Channel.EVENTS: ("Events", "Event", "Trade Show", "Tradeshow", "Seminar - Internal", "Seminar - Partner",
                     "Webinar", "Webinaire", "Salon", "Événement", "Événements", "Conférence"),
    Channel.REFERRAL: ("Referrals", "Referral", "Partner Referral", "Employee Referral", "External Referral",
                       "Word of mouth", "Recommandation", "Parrainage", "Bouche à oreille"),
    Channel.DIRECT: ("Direct Traffic", "Direct", "Accès direct", "Trafic direct"),
    Channel.OTHER: ("Other Campaigns", "Offline Sources", "Other", "Autre", "Hors ligne"),
}.items() for word in words}

_CHANNEL_VALUES = {channel.value: channel for channel in Channel}

# `normalise_language` knows ISO codes and English names; French exports write the language in French.
_FRENCH_LANGUAGE_NAMES = {
    "francais": "fr", "anglais": "en", "allemand": "de", "espagnol": "es", "italien": "it",
    "neerlandais": "nl", "hollandais": "nl", "portugais": "pt", "polonais": "pl", "arabe": "ar",
    "chinois": "zh", "japonais": "ja", "russe": "ru", "suedois": "sv", "danois": "da", "norvegien": "no",
    "finnois": "fi", "grec": "el", "turc": "tr", "roumain": "ro", "tcheque": "cs", "hongrois": "hu",
}

_DAY_FIRST = re.compile(
    r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:[ T]+(\d{1,2})[:hH](\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)
_ISO_START = re.compile(r"\d{4}-?\d{2}")
_NUMBER_NOISE = re.compile(r"[\s\u00a0\u202f'’€$£]|EUR|USD|GBP|CHF", re.IGNORECASE)
_SIZE_RANGE = re.compile(r"(\d[\d \u00a0\u202f]*)\s*(?:\+|(?:-|–|à|a|to)\s*\d[\d \u00a0\u202f]*)?")
_THOUSANDS = re.compile(r"\d{1,3}(?:[.,]\d{3})+")


def parse_date(text: str, naive_timezone: tzinfo = UTC) -> datetime:
    """ISO 8601 or day-first `31/12/2024[ 14:05[:33]]` (also `.` and `-`); an aware UTC datetime.
    Raises ValueError with a human reason."""
    value = text.strip()
    try:
        parsed = _parse_datetime(value)
    except ValueError:
        raise ValueError(
            f"not a date: {value!r} (use 2024-12-31, or day first: 31/12/2024 or 31/12/2024 14:05)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_timezone)
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _parse_datetime(value: str) -> datetime:
    if _ISO_START.match(value):
        return datetime.fromisoformat(value.replace(" +", "+"))
    match = _DAY_FIRST.fullmatch(value)
    if match is None:
        raise ValueError(value)
    day, _, month, year, hour, minute, second = match.groups()
    return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))


@lru_cache(maxsize=4096)
def parse_number(text: str) -> float:
    """A non-negative finite number, French or English formatting. Raises ValueError with a human reason."""
    value = _NUMBER_NOISE.sub("", text)
    if "," in value and "." in value:
        if value.rfind(",") > value.rfind("."):
            value = value.replace(".", "").replace(",", ".")
        else:
            value = value.replace(",", "")
    elif value.count(",") == 1:
        value = value.replace(",", ".")
    elif value.count(",") > 1 or value.count(".") > 1:
        value = value.replace(",", "").replace(".", "")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a number: {text.strip()!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be a finite, non-negative number, got {text.strip()!r}")
    return number


@lru_cache(maxsize=4096)
def parse_size(text: str) -> int:
    """A head count: `250`, `1 000`, `1.000`, or a range (`11-50`, `10 à 49`, `250+`): its lower bound."""
    value = text.strip()
    match = _SIZE_RANGE.fullmatch(value)
    if match:
        return int(re.sub(r"\D", "", match.group(1)))
    if _THOUSANDS.fullmatch(value):
        return int(re.sub(r"\D", "", value))
    number = parse_number(value)
    if not number.is_integer():
        raise ValueError(f"must be a whole number of employees, got {value!r}")
    return int(number)


@lru_cache(maxsize=4096)
def parse_flag(text: str, *, opt_out_column: bool) -> bool:
    """A yes/no cell of a consent column. In an opt-out column "opted out" means yes, elsewhere no."""
    word = header_key(text)
    if word in _YES:
        return True
    if word in _NO:
        return False
    if word in _OPT_OUT:
        return opt_out_column
    if word in _OPT_IN:
        return not opt_out_column
    raise ValueError(f"{_YES_NO_HINT}, got {text.strip()!r}")


@lru_cache(maxsize=1024)
def channel_from_label(text: str) -> Channel | None:
    """The Leadline channel a CRM source label names ("Paid Search" -> sea), or None when it names none."""
    return _CHANNEL_VALUES.get(text.strip().lower()) or _CHANNEL_WORDS.get(header_key(text))


# --- rows --------------------------------------------------------------------------------------------


def row_to_raw(
    mapping: HeaderMapping, row: Mapping[str, str], *, naive_timezone: tzinfo = UTC
) -> dict[str, Any]:
    """The raw dict `build_lead_input` takes, from one row keyed by header. Raises `InvalidLeadInput` naming
    the columns whose cells cannot be read."""
    raw, problems = _convert_row(mapping, row, naive_timezone)
    if problems:
        raise InvalidLeadInput(problems)
    return raw


def row_to_lead_input(
    mapping: HeaderMapping, row: Mapping[str, str], *, default_country: str | None = None,
    naive_timezone: tzinfo = UTC,
) -> LeadInput:
    """`build_lead_input(row_to_raw(...))`, with every problem of the row (conversion and validation)
    reported at once under the CSV column headers. A phone number without a country prefix takes the row's
    country, else `default_country`."""
    raw, problems = _convert_row(mapping, row, naive_timezone)
    try:
        lead = build_lead_input(raw, default_country=default_country)
    except InvalidLeadInput as exc:
        named = {p.field for p in problems}
        for problem in exc.problems:
            column = mapping.column_for(problem.field, row) or _identity_column(mapping, problem.field)
            if column not in named:
                problems.append(FieldProblem(column, problem.reason))
        raise InvalidLeadInput(problems) from None
    if problems:
        raise InvalidLeadInput(problems)
    return lead


def _identity_column(mapping: HeaderMapping, field: str) -> str:
    if field == "email":
        return mapping.column_for("phone") or field
    return field


def _convert_row(
    mapping: HeaderMapping, row: Mapping[str, str], naive_timezone: tzinfo
) -> tuple[dict[str, Any], list[FieldProblem]]:
    plan = mapping.plan or _plan(mapping.by_field)
    raw: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {"company": {}, "source": {}, "consent": {}, "custom": {}}
    problems: list[FieldProblem] = []
    for header, group, name in plan.text:  # the hot path: most columns are plain text
        text = row.get(header)
        if text and not text.isspace():
            if name:
                nested[group][name] = text.strip()[:_TEXT_LIMIT]
            else:
                raw[group] = text.strip()[:_TEXT_LIMIT]
    for group, name, convert, headers in plan.other:
        cells = [(h, text.strip()) for h in headers if (text := row.get(h)) and not text.isspace()]
        if cells:
            _convert_cells(group, name, convert, cells, raw, nested, problems, naive_timezone)
    custom = nested["custom"]
    for header, key in mapping.custom.items():
        if (text := row.get(header)) and not text.isspace():
            custom[key] = text.strip()[:_TEXT_LIMIT]
    for group in ("company", "source", "custom"):
        if nested[group]:
            raw[group] = nested[group]
    if nested["consent"]:
        raw["consent"] = ConsentInput(**nested["consent"])
    return raw, problems


def _convert_cells(
    group: str, name: str, convert: _Converter | None, cells: list[tuple[str, str]], raw: dict[str, Any],
    nested: dict[str, dict[str, Any]], problems: list[FieldProblem], naive_timezone: tzinfo,
) -> None:
    if group == "consent":
        _consent_value(name, cells, nested["consent"], problems)
        return
    header, text = cells[0]
    for other, value in cells[1:]:
        if value != text:  # a second column's value is kept, not lost
            nested["custom"][custom_key(other)] = value[:_TEXT_LIMIT]
    try:
        value = convert(text, naive_timezone) if convert else text[:_TEXT_LIMIT]
    except ValueError as exc:
        problems.append(FieldProblem(header, str(exc)))
        return
    if value is None:
        nested["custom"][custom_key(header)] = text[:_TEXT_LIMIT]  # a source label naming no channel
    elif name:
        nested[group][name] = value
    else:
        raw[group] = value


def _language_value(text: str, _: tzinfo) -> str:
    return _FRENCH_LANGUAGE_NAMES.get(header_key(text), text[:_TEXT_LIMIT])


def _channel_value(text: str, _: tzinfo) -> str | None:
    channel = channel_from_label(text)
    return None if channel is None else channel.value


_CONVERTERS: dict[str, _Converter] = {
    "created_at": parse_date,
    "company.size": lambda text, _: parse_size(text),
    "company.revenue": lambda text, _: parse_number(text),
    "source.channel": _channel_value,
    "language": _language_value,
}


def _plan(by_field: Mapping[str, tuple[str, ...]]) -> _Plan:
    text: list[tuple[str, str, str]] = []
    other: list[_Step] = []
    for target, headers in by_field.items():
        group, _, name = target.partition(".")
        convert = _CONVERTERS.get(target)
        if convert is None and group != "consent" and len(headers) == 1:
            text.append((headers[0], group, name))
        else:
            other.append((group, name, convert, headers))
    return _Plan(tuple(text), tuple(other))


def _consent_value(
    name: str, cells: list[tuple[str, str]], consent: dict[str, Any], problems: list[FieldProblem]
) -> None:
    if name in ("legal_basis", "source"):
        consent[name] = cells[0][1][:_TEXT_LIMIT]
        return
    opt_out = name == "unsubscribed"
    flags: list[bool] = []
    for header, text in cells:
        try:
            flags.append(parse_flag(text, opt_out_column=opt_out))
        except ValueError as exc:
            problems.append(FieldProblem(header, str(exc)))
    if flags:
        # The strictest column wins: any opt-out unsubscribes, any refusal refuses.
        consent[name] = any(flags) if opt_out else all(flags)
