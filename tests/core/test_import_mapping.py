"""The column mapping of CSV imports: alias table, value conversions, and the hand-over to build_lead_input."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from leadline.core.import_mapping import (
    HeaderError,
    count_known,
    custom_key,
    header_key,
    map_headers,
    parse_number,
    parse_size,
    row_to_lead_input,
    row_to_raw,
)
from leadline.core.lead_input import ConsentInput, InvalidLeadInput, build_lead_input

HUBSPOT = ["Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number", "Job Title",
           "Company Name", "Website URL", "Country/Region", "Industry", "Number of Employees", "Annual Revenue",
           "Original Source", "Create Date", "Unsubscribed from all email", "Lifecycle Stage", "Favourite Colour"]
SALESFORCE = ["First Name", "Last Name", "Email", "Phone", "Title", "Company", "Account Name", "Lead Source",
              "Email Opt Out", "HasOptedOutOfEmail", "Created Date", "Industry", "NumberOfEmployees",
              "AnnualRevenue", "Country", "Website"]
MAUTIC = ["id", "title", "firstname", "lastname", "email", "phone", "mobile", "position", "company", "website",
          "country", "preferred_locale", "doNotContact", "utm_source", "utm_medium", "utm_campaign",
          "date_added", "points"]
FRENCH = ["Prénom", "Nom", "Société", "Téléphone", "E-mail", "Pays", "Désinscrit", "Langue", "Fonction",
          "Site web", "Secteur", "Effectif", "Chiffre d'affaires", "Date de création", "Consentement",
          "Base légale", "Source"]


def problems_of(exc: pytest.ExceptionInfo[InvalidLeadInput]) -> dict[str, str]:
    return {p.field: p.reason for p in exc.value.problems}


# --- headers ----------------------------------------------------------------------------------------------


def test_hubspot_headers_map_to_leadline_fields() -> None:
    mapping = map_headers(HUBSPOT)
    assert mapping.fields == {
        "Record ID": "external_id", "First Name": "first_name", "Last Name": "last_name", "Email": "email",
        "Phone Number": "phone", "Mobile Phone Number": "phone", "Job Title": "job_title",
        "Company Name": "company.name", "Website URL": "company.domain", "Country/Region": "country",
        "Industry": "company.industry", "Number of Employees": "company.size",
        "Annual Revenue": "company.revenue", "Original Source": "source.channel", "Create Date": "created_at",
        "Unsubscribed from all email": "consent.unsubscribed",
    }
    assert mapping.custom == {"Lifecycle Stage": "lifecycle_stage", "Favourite Colour": "favourite_colour"}
    assert mapping.by_field["phone"] == ("Phone Number", "Mobile Phone Number")


def test_salesforce_headers_map_to_leadline_fields() -> None:
    mapping = map_headers(SALESFORCE)
    assert mapping.fields["Title"] == "job_title"  # no other job title column: Title is the job title
    assert mapping.by_field["company.name"] == ("Company", "Account Name")
    assert mapping.by_field["consent.unsubscribed"] == ("Email Opt Out", "HasOptedOutOfEmail")
    assert mapping.fields["Lead Source"] == "source.channel"
    assert mapping.fields["Created Date"] == "created_at"
    assert mapping.fields["NumberOfEmployees"] == "company.size"
    assert mapping.fields["AnnualRevenue"] == "company.revenue"
    assert mapping.fields["Website"] == "company.domain"
    assert not mapping.custom


def test_mautic_title_is_a_salutation_when_position_gives_the_job_title() -> None:
    mapping = map_headers(MAUTIC)
    assert mapping.fields["position"] == "job_title"
    assert "title" not in mapping.fields
    assert mapping.custom["title"] == "title"
    assert mapping.fields["doNotContact"] == "consent.unsubscribed"
    assert mapping.fields["date_added"] == "created_at"
    assert mapping.fields["preferred_locale"] == "language"
    assert mapping.by_field["phone"] == ("phone", "mobile")
    assert {mapping.fields[h] for h in ("utm_source", "utm_medium", "utm_campaign")} == {
        "source.utm_source", "source.utm_medium", "source.utm_campaign"}
    assert mapping.custom["points"] == "score"


def test_french_headers_map_to_leadline_fields() -> None:
    mapping = map_headers(FRENCH)
    assert mapping.fields == {
        "Prénom": "first_name", "Nom": "last_name", "Société": "company.name", "Téléphone": "phone",
        "E-mail": "email", "Pays": "country", "Désinscrit": "consent.unsubscribed", "Langue": "language",
        "Fonction": "job_title", "Site web": "company.domain", "Secteur": "company.industry",
        "Effectif": "company.size", "Chiffre d'affaires": "company.revenue", "Date de création": "created_at",
        "Consentement": "consent.email_marketing", "Base légale": "consent.legal_basis",
        "Source": "source.channel",
    }


@pytest.mark.parametrize(("header", "field"), [
    ("EMAIL", "email"), ("e_mail", "email"), (" E-Mail ", "email"), ("Courriel", "email"),
    ("Adresse e-mail", "email"), ("PRENOM", "first_name"), ("prénom", "first_name"),
    ("nom-de-famille", "last_name"), ("Societe", "company.name"), ("ENTREPRISE", "company.name"),
    ("telephone", "phone"), ("Portable", "phone"), ("Poste", "job_title"), ("chiffre d affaires", "company.revenue"),
    ("Date de creation", "created_at"), ("desinscrit", "consent.unsubscribed"), ("UTM Source", "source.utm_source"),
    ("utm-medium", "source.utm_medium"), ("GCLID", "source.gclid"), ("fbclid", "source.fbclid"),
    ("li_fat_id", "source.li_fat_id"), ("MSCLKID", "source.msclkid"), ("Referrer", "source.referrer"),
    ("Landing page", "source.landing_page"), ("landing_page", "source.landing_page"),
    ("Nom de famille", "last_name"), ("country_region", "country"),
])
def test_matching_ignores_case_accents_spaces_underscores_and_punctuation(header: str, field: str) -> None:
    assert map_headers([header]).fields == {header: field}


def test_unknown_columns_go_to_custom_under_an_ascii_slug() -> None:
    mapping = map_headers(["Email", "Intérêt principal", "Score (0-100)", "###"])
    assert mapping.custom == {"Intérêt principal": "interet_principal", "Score (0-100)": "score_0_100",
                              "###": "column"}
    assert custom_key("  Déjà vu / Ça va?  ") == "deja_vu_ca_va"
    assert header_key("Country/Région") == "countryregion"


def test_two_columns_never_share_a_custom_key() -> None:
    mapping = map_headers(["Email", "points", "Lead Score", "Score"])
    assert mapping.custom == {"points": "score", "Lead Score": "lead_score", "Score": "score_2"}
    raw = row_to_raw(mapping, {"Email": "a@b.fr", "points": "1", "Lead Score": "2", "Score": "3"})
    assert raw["custom"] == {"score": "1", "lead_score": "2", "score_2": "3"}


def test_duplicate_headers_are_refused_even_when_spelt_differently() -> None:
    with pytest.raises(HeaderError, match="'Email' and 'email'"):
        map_headers(["Email", "Name", "email"])
    with pytest.raises(HeaderError, match="same name"):
        map_headers(["E-mail", "Prénom", "Prenom"])


def test_a_nameless_column_is_refused() -> None:
    with pytest.raises(HeaderError, match="column 2"):
        map_headers(["Email", "  ", "Prénom"])


def test_count_known_counts_fields_and_well_known_custom_columns() -> None:
    assert count_known(["Email", "Prénom", "City", "Favourite Colour"]) == 3
    assert count_known(["Email;Prénom;Nom"]) == 0


def test_identity_needs_an_email_a_phone_or_a_name() -> None:
    assert map_headers(["Nom", "Ville"]).has_identity()
    assert not map_headers(["Company", "City"]).has_identity()


# --- values -----------------------------------------------------------------------------------------------


def test_empty_cells_are_absent() -> None:
    mapping = map_headers([*FRENCH, "Couleur"])
    assert row_to_raw(mapping, {h: "" for h in [*FRENCH, "Couleur"]}) == {}
    assert row_to_raw(mapping, {"E-mail": "  a@b.fr ", "Prénom": "   ", "Couleur": " "}) == {"email": "a@b.fr"}


@pytest.mark.parametrize(("cell", "expected"), [
    ("yes", True), ("TRUE", True), ("1", True), ("Oui", True), ("vrai", True), ("x", True), ("X", True),
    ("opted out", True), ("Opted-Out", True), ("unsubscribed", True), ("Désinscrit", True),
    ("no", False), ("False", False), ("0", False), ("NON", False), ("faux", False),
])
def test_unsubscribe_columns_read_yes_and_no_words(cell: str, expected: bool) -> None:
    mapping = map_headers(["Email", "Unsubscribed"])
    raw = row_to_raw(mapping, {"Email": "a@b.fr", "Unsubscribed": cell})
    assert raw["consent"] == ConsentInput(unsubscribed=expected)


@pytest.mark.parametrize("header", ["Unsubscribed from all email", "Email Opt Out", "doNotContact", "Désinscrit",
                                    "HasOptedOutOfEmail", "dnc"])
def test_every_opt_out_column_unsubscribes(header: str) -> None:
    raw = row_to_raw(map_headers(["Email", header]), {"Email": "a@b.fr", header: "1"})
    assert raw["consent"].unsubscribed is True
    assert raw["consent"].email_marketing is None


def test_opted_out_in_a_consent_column_means_no_consent() -> None:
    mapping = map_headers(["Email", "Consentement"])
    assert row_to_raw(mapping, {"Email": "a@b.fr", "Consentement": "opted out"})["consent"] == ConsentInput(
        email_marketing=False)
    assert row_to_raw(mapping, {"Email": "a@b.fr", "Consentement": "Oui"})["consent"] == ConsentInput(
        email_marketing=True)


def test_any_opt_out_column_wins_over_another_saying_no() -> None:
    mapping = map_headers(["Email", "Email Opt Out", "Unsubscribed"])
    raw = row_to_raw(mapping, {"Email": "a@b.fr", "Email Opt Out": "0", "Unsubscribed": "true"})
    assert raw["consent"].unsubscribed is True


def test_an_unknown_word_in_a_consent_column_is_an_error_naming_the_column() -> None:
    mapping = map_headers(["Email", "Désinscrit", "Consentement"])
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_raw(mapping, {"Email": "a@b.fr", "Désinscrit": "peut-être", "Consentement": "bof"})
    problems = problems_of(exc)
    assert set(problems) == {"Désinscrit", "Consentement"}
    assert "peut-être" in problems["Désinscrit"] and "oui/non" in problems["Désinscrit"]


def test_consent_text_columns_are_kept() -> None:
    mapping = map_headers(["Email", "Base légale", "Source du consentement"])
    raw = row_to_raw(mapping, {"Email": "a@b.fr", "Base légale": "Intérêt légitime",
                               "Source du consentement": "Salon 2024"})
    assert raw["consent"] == ConsentInput(legal_basis="Intérêt légitime", source="Salon 2024")


@pytest.mark.parametrize(("cell", "expected"), [
    ("2024-12-31", datetime(2024, 12, 31, tzinfo=UTC)),
    ("2024-12-31 14:05", datetime(2024, 12, 31, 14, 5, tzinfo=UTC)),
    ("2024-12-31T14:05:33Z", datetime(2024, 12, 31, 14, 5, 33, tzinfo=UTC)),
    ("2024-12-31T14:05:33.000+0000", datetime(2024, 12, 31, 14, 5, 33, tzinfo=UTC)),
    ("2024-12-31T16:05:33+02:00", datetime(2024, 12, 31, 14, 5, 33, tzinfo=UTC)),
    ("31/12/2024", datetime(2024, 12, 31, tzinfo=UTC)),
    ("31/12/2024 14:05", datetime(2024, 12, 31, 14, 5, tzinfo=UTC)),
    ("31/12/2024 14:05:59", datetime(2024, 12, 31, 14, 5, 59, tzinfo=UTC)),
    ("31.12.2024", datetime(2024, 12, 31, tzinfo=UTC)),
    ("31-12-2024", datetime(2024, 12, 31, tzinfo=UTC)),
    ("1/2/2024", datetime(2024, 2, 1, tzinfo=UTC)),
    ("01/02/2024 9h30", datetime(2024, 2, 1, 9, 30, tzinfo=UTC)),
])
def test_dates_are_iso_or_day_first_and_come_back_in_utc(cell: str, expected: datetime) -> None:
    raw = row_to_raw(map_headers(["Email", "Create Date"]), {"Email": "a@b.fr", "Create Date": cell})
    assert raw["created_at"] == expected
    assert raw["created_at"].utcoffset() is not None


def test_slashed_dates_are_never_read_month_first() -> None:
    mapping = map_headers(["Email", "Date de création"])
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_raw(mapping, {"Email": "a@b.fr", "Date de création": "12/31/2024"})
    assert "day first" in problems_of(exc)["Date de création"]


@pytest.mark.parametrize("cell", ["hier", "2024-13-01", "32/01/2024", "31/12/24"])
def test_unreadable_dates_are_errors_naming_the_column(cell: str) -> None:
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_raw(map_headers(["Email", "Created Date"]), {"Email": "a@b.fr", "Created Date": cell})
    assert list(problems_of(exc)) == ["Created Date"]


def test_naive_times_can_be_read_in_a_local_timezone() -> None:
    raw = row_to_raw(map_headers(["Email", "Date de création"]), {"Email": "a@b.fr",
                                                                 "Date de création": "31/07/2024 14:05"},
                     naive_timezone=ZoneInfo("Europe/Paris"))
    assert raw["created_at"] == datetime(2024, 7, 31, 12, 5, tzinfo=UTC)
    assert raw["created_at"].tzinfo is UTC


@pytest.mark.parametrize(("cell", "expected"), [
    ("1 234,5", 1234.5), ("1\u202f234,5", 1234.5), ("1.234,5", 1234.5), ("1,234.5", 1234.5),
    ("1234.5", 1234.5), ("2,5", 2.5), ("12 000 €", 12000.0), ("1.234.567", 1234567.0), ("0", 0.0),
])
def test_numbers_accept_french_formatting(cell: str, expected: float) -> None:
    assert parse_number(cell) == expected


@pytest.mark.parametrize(("cell", "expected"), [
    ("250", 250), ("1 000", 1000), ("1.000", 1000), ("11-50", 11), ("10 à 49", 10), ("250+", 250), ("12.0", 12),
])
def test_company_sizes_accept_ranges_as_their_lower_bound(cell: str, expected: int) -> None:
    assert parse_size(cell) == expected


def test_bad_numbers_are_errors_naming_the_columns() -> None:
    mapping = map_headers(["Email", "Effectif", "Chiffre d'affaires"])
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_raw(mapping, {"Email": "a@b.fr", "Effectif": "beaucoup", "Chiffre d'affaires": "-5"})
    assert set(problems_of(exc)) == {"Effectif", "Chiffre d'affaires"}


def test_company_cells_become_the_company() -> None:
    mapping = map_headers(FRENCH)
    raw = row_to_raw(mapping, {"E-mail": "a@b.fr", "Société": "Acme SAS", "Site web": "https://www.acme.fr/fr/",
                               "Effectif": "1 200", "Chiffre d'affaires": "3 500 000,50", "Secteur": "Logiciel"})
    assert raw["company"] == {"name": "Acme SAS", "domain": "https://www.acme.fr/fr/", "size": 1200,
                              "revenue": 3500000.5, "industry": "Logiciel"}
    lead = build_lead_input(raw, default_country="FR")
    assert lead.company is not None and lead.company.domain == "acme.fr"
    assert lead.company.size == 1200 and lead.company.revenue == 3500000.5


def test_a_second_column_for_one_field_is_a_fallback_and_its_value_is_not_lost() -> None:
    mapping = map_headers(["Email", "Phone Number", "Mobile Phone Number"])
    only_mobile = row_to_raw(mapping, {"Email": "a@b.fr", "Phone Number": "", "Mobile Phone Number": "0612345678"})
    assert only_mobile["phone"] == "0612345678" and "custom" not in only_mobile
    both = row_to_raw(mapping, {"Email": "a@b.fr", "Phone Number": "0140000000", "Mobile Phone Number": "0612345678"})
    assert both["phone"] == "0140000000"
    assert both["custom"] == {"mobile_phone_number": "0612345678"}


def test_source_labels_set_the_channel_when_they_name_one() -> None:
    mapping = map_headers(["Email", "Original Source", "utm_source", "utm_medium"])
    paid = build_lead_input(row_to_raw(mapping, {"Email": "a@b.fr", "Original Source": "Paid Search"}))
    assert paid.source.channel == "sea"
    salon = build_lead_input(row_to_raw(map_headers(["Email", "Source"]), {"Email": "a@b.fr", "Source": "Salon"}))
    assert salon.source.channel == "events"


def test_an_unknown_source_label_is_kept_in_custom_and_utm_decide_the_channel() -> None:
    mapping = map_headers(["Email", "Lead Source", "utm_source", "utm_medium"])
    raw = row_to_raw(mapping, {"Email": "a@b.fr", "Lead Source": "Purchased List", "utm_source": "linkedin",
                               "utm_medium": "cpc"})
    assert raw["custom"] == {"lead_source": "Purchased List"}
    assert "channel" not in raw["source"]
    assert build_lead_input(raw).source.channel == "paid_social"


def test_click_ids_referrer_and_landing_page_reach_the_touch() -> None:
    headers = ["Email", "gclid", "Referrer", "Landing Page", "utm_campaign", "utm_term", "utm_content"]
    row = {"Email": "a@b.fr", "gclid": "Cj0KCQ", "Referrer": "https://www.google.fr/",
           "Landing Page": "https://acme.fr/offre", "utm_campaign": "printemps", "utm_term": "crm",
           "utm_content": "v2"}
    lead = build_lead_input(row_to_raw(map_headers(headers), row))
    assert lead.source.gclid == "Cj0KCQ" and lead.source.channel == "sea"
    assert lead.source.referrer == "https://www.google.fr/"
    assert lead.source.landing_page == "https://acme.fr/offre"
    assert (lead.source.utm_term, lead.source.utm_content, lead.source.campaign) == ("crm", "v2", "printemps")


# --- with build_lead_input --------------------------------------------------------------------------------


def test_a_french_row_goes_through_build_lead_input() -> None:
    mapping = map_headers(FRENCH)
    row = {"Prénom": "Élodie", "Nom": "Durand", "Société": "Acme", "Téléphone": "06 12 34 56 78",
           "E-mail": "Elodie.Durand@Acme.FR", "Pays": "France", "Désinscrit": "Oui", "Langue": "Français",
           "Fonction": "DAF", "Date de création": "31/12/2024 14:05", "Base légale": "Intérêt légitime"}
    lead = build_lead_input(row_to_raw(mapping, row), default_country="BE")
    assert lead.email == "elodie.durand@acme.fr"
    assert lead.phone == "+33612345678"  # the row's country wins over the default one
    assert (lead.first_name, lead.last_name, lead.job_title, lead.country, lead.language) == (
        "Élodie", "Durand", "DAF", "FR", "fr")
    assert lead.consent == ConsentInput(unsubscribed=True, legal_basis="Intérêt légitime")
    assert lead.created_at == datetime(2024, 12, 31, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(("country", "default", "expected"), [
    ("Belgique", "FR", "+32470123456"), ("BE", None, "+32470123456"), ("", "BE", "+32470123456"),
])
def test_national_phone_numbers_take_the_row_country_or_the_default_one(
    country: str, default: str | None, expected: str
) -> None:
    mapping = map_headers(["Téléphone", "Pays"])
    lead = row_to_lead_input(mapping, {"Téléphone": "0470 12 34 56", "Pays": country}, default_country=default)
    assert lead.phone == expected


def test_international_numbers_keep_their_prefix() -> None:
    lead = row_to_lead_input(map_headers(["Phone"]), {"Phone": "+44 20 7946 0958"}, default_country="FR")
    assert lead.phone == "+442079460958"


def test_row_to_lead_input_names_columns_for_every_problem_at_once() -> None:
    mapping = map_headers(["E-mail", "Téléphone", "Pays", "Site web", "Désinscrit"])
    row = {"E-mail": "pas-un-email", "Téléphone": "12", "Pays": "Atlantide", "Site web": "pas un site",
           "Désinscrit": "bof"}
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_lead_input(mapping, row, default_country="FR")
    assert set(problems_of(exc)) == {"E-mail", "Téléphone", "Pays", "Site web", "Désinscrit"}


def test_a_row_without_email_or_phone_is_refused_under_the_email_column() -> None:
    mapping = map_headers(["Prénom", "Nom", "Courriel"])
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_lead_input(mapping, {"Prénom": "Jean", "Nom": "Dupont", "Courriel": ""})
    assert list(problems_of(exc)) == ["Courriel"]
