"""Normalisation of emails, phones, countries and languages."""

import pytest

from leadline.core.contacts import (
    InvalidContact,
    normalise_country,
    normalise_email,
    normalise_language,
    normalise_phone,
)
from leadline.core.lead_input import InvalidLeadInput, build_lead_input


def test_email_is_lowercased_and_trimmed():
    assert normalise_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"


@pytest.mark.parametrize("raw", ["no-at-sign", "a@", "@b.com", "a b@c.com", "a@b..com"])
def test_bad_emails_are_refused_with_a_reason(raw):
    with pytest.raises(InvalidContact) as info:
        normalise_email(raw)
    assert str(info.value)


def test_national_phone_is_completed_from_the_country():
    assert normalise_phone("06 12 34 56 78", "FR") == "+33612345678"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"


def test_national_phone_without_country_is_refused():
    with pytest.raises(InvalidContact):
        normalise_phone("06 12 34 56 78")


@pytest.mark.parametrize(("raw", "code"), [("FR", "FR"), ("fra", "FR"), ("France", "FR"), ("Allemagne", "DE"),
                                           ("united kingdom", "GB")])
def test_countries_become_iso_codes(raw, code):
    assert normalise_country(raw) == code


def test_unknown_country_is_refused():
    with pytest.raises(InvalidContact, match="unknown country"):
        normalise_country("Atlantis")


@pytest.mark.parametrize(("raw", "code"), [("fr", "fr"), ("fr-FR", "fr"), ("French", "fr"), ("en_GB", "en")])
def test_languages_become_iso_639_1(raw, code):
    assert normalise_language(raw) == code


def test_build_lead_input_collects_every_problem():
    with pytest.raises(InvalidLeadInput) as info:
        build_lead_input({"email": "bad", "phone": "12", "country": "Atlantis", "company": {"domain": "not a domain"}})
    fields = {p.field for p in info.value.problems}
    assert fields == {"email", "country", "phone", "company.domain"}


def test_a_lead_needs_an_email_or_a_phone():
    with pytest.raises(InvalidLeadInput, match="email or a phone"):
        build_lead_input({"first_name": "Jane"})
    assert build_lead_input({"phone": "+33612345678"}).phone == "+33612345678"


def test_company_domain_is_normalised_from_a_url():
    lead = build_lead_input({"email": "a@b.fr", "company": {"domain": "https://www.Acme.fr/contact"}})
    assert lead.company is not None and lead.company.domain == "acme.fr"
