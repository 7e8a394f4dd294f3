"""The pure identity rules: richer values, consent that never widens, undo plans, duplicate scores."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from leadline.core.identity import (
    Consent,
    Person,
    combine_consent,
    combine_touches,
    company_key,
    consent_after_undo,
    full_name,
    is_empty,
    json_safe,
    plan_merge,
    plan_undo,
    richer_custom,
    richer_fields,
    score_pair,
)

T0 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "empty"), [
    (None, True), ("", True), ("   ", True), ([], True), ({}, True), (False, False), (0, False), ("x", False),
])
def test_what_counts_as_empty(value, empty):
    assert is_empty(value) is empty


def test_survivor_keeps_its_values_and_fills_only_empty_ones():
    survivor = {"first_name": "Jean", "last_name": "", "job_title": None, "phone": "+33600000001"}
    other = {"first_name": "John", "last_name": "Dupont", "job_title": "CEO", "phone": "+33600000002"}
    assert richer_fields(survivor, other) == {"last_name": "Dupont", "job_title": "CEO"}


def test_the_email_is_never_copied_onto_the_survivor():
    assert "email" not in richer_fields({"email": None}, {"email": "b@example.org"})


def test_custom_fields_are_merged_key_by_key():
    assert richer_custom({"a": 1, "b": "", "d": False}, {"a": 2, "b": "x", "c": [1], "d": True}) == \
        {"a": 1, "b": "x", "c": [1], "d": False}
    assert richer_custom(None, {"c": 3}) == {"c": 3}


def test_touches_keep_the_earliest_first_and_the_latest_last():
    survivor = {"first_touch": {"channel": "email"}, "first_touch_at": T0, "first_channel": "email",
                "last_touch_at": T0, "last_touch": {"channel": "email"}, "last_channel": "email",
                "last_non_direct_touch_at": None}
    other = {"first_touch": {"channel": "sea"}, "first_touch_at": T0 - timedelta(days=3), "first_channel": "sea",
             "first_campaign": "brand", "last_touch_at": T0 - timedelta(days=1), "last_touch": {"channel": "sea"},
             "last_non_direct_touch_at": T0 - timedelta(days=1), "last_non_direct_touch": {"channel": "sea"},
             "last_non_direct_channel": "sea"}
    changes = combine_touches(survivor, other)
    assert changes["first_channel"] == "sea" and changes["first_touch_at"] == T0 - timedelta(days=3)
    assert changes["first_campaign"] == "brand"
    assert "last_touch_at" not in changes  # the survivor's last touch is later
    assert changes["last_non_direct_channel"] == "sea"  # the survivor had none


def test_equal_first_touch_times_keep_the_survivors():
    assert combine_touches({"first_touch_at": T0}, {"first_touch_at": T0, "first_channel": "sea"}) == {}


@pytest.mark.parametrize(("survivor", "other", "expected"), [
    (Consent(email=None), Consent(email=True), Consent(email=None)),  # another record's grant never carries over
    (Consent(email=True), Consent(email=None), Consent(email=True)),
    (Consent(email=True), Consent(email=False), Consent(email=False)),
    (Consent(email=False), Consent(email=True), Consent(email=False)),
    (Consent(email=True), Consent(unsubscribed=True), Consent(email=False, unsubscribed=True)),
    (Consent(unsubscribed=True), Consent(email=True), Consent(email=False, unsubscribed=True)),
    (Consent(tracking=True), Consent(tracking=False), Consent(tracking=False)),
    (Consent(tracking=None), Consent(tracking=True), Consent(tracking=None)),
])
def test_consent_never_widens(survivor, other, expected):
    result = combine_consent(survivor, other)
    assert (result.email, result.tracking, result.unsubscribed) == \
        (expected.email, expected.tracking, expected.unsubscribed)


def test_consent_source_follows_the_side_that_decided():
    survivor = Consent(email=True, source="webinar form", legal_basis="consent")
    withdrawn = Consent(email=False, unsubscribed=True, source="preference centre", legal_basis="consent")
    assert combine_consent(survivor, withdrawn).source == "preference centre"
    assert combine_consent(survivor, Consent(email=True, source="import")).source == "webinar form"


def test_plan_merge_collects_every_change_and_nothing_else():
    survivor = {"first_name": "Jean", "custom": {"a": 1}, "created_at": T0, "consent_email": True,
                "unsubscribed": False, "consent_source": "form"}
    other = {"first_name": "J.", "job_title": "CTO", "custom": {"a": 9, "b": 2},
             "created_at": T0 - timedelta(days=30), "consent_email": None, "unsubscribed": True,
             "consent_source": "unsubscribe link"}
    changes = plan_merge(survivor, other)
    assert changes == {"job_title": "CTO", "custom": {"a": 1, "b": 2}, "created_at": T0 - timedelta(days=30),
                       "consent_email": False, "unsubscribed": True, "consent_source": "unsubscribe link"}


def test_plan_merge_of_identical_leads_changes_nothing():
    lead = {"first_name": "Jean", "custom": {"a": 1}, "created_at": T0, "consent_email": None,
            "unsubscribed": False}
    assert plan_merge(lead, dict(lead)) == {}


def test_undo_restores_what_the_merge_set_unless_it_changed_since():
    before = {"job_title": None, "phone": None, "first_touch_at": json_safe(T0), "unsubscribed": False,
              "consent_email": True}
    applied = json_safe({"job_title": "CEO", "phone": "+33600000002", "first_touch_at": T0 - timedelta(days=2),
                         "unsubscribed": True, "consent_email": False})
    current = json_safe({"job_title": "CTO", "phone": "+33600000002", "first_touch_at": T0 - timedelta(days=2),
                         "unsubscribed": True, "consent_email": False})
    assert plan_undo(before, applied, current) == {"phone": None, "first_touch_at": json_safe(T0),
                                                   "unsubscribed": False, "consent_email": True}


def test_undo_keeps_the_consent_group_when_any_part_changed_since():
    before = {"unsubscribed": False, "consent_email": None, "consent_source": None}
    applied = {"consent_email": False, "consent_source": "import"}
    current = {"unsubscribed": True, "consent_email": False, "consent_source": "unsubscribe link"}
    assert plan_undo(before, applied, current) == {}


def test_a_withdrawal_made_while_merged_also_binds_the_restored_lead():
    before = Consent(email=True, tracking=True)
    applied = Consent(email=True, tracking=True)
    assert consent_after_undo(before, applied, Consent(email=False, tracking=True, unsubscribed=True)) == \
        Consent(email=False, tracking=True, unsubscribed=True)
    assert consent_after_undo(before, applied, applied) == before
    # a withdrawal the merge itself brought in (from the survivor) is not the restored lead's
    assert consent_after_undo(before, Consent(email=False), Consent(email=False)) == before


def test_json_safe_turns_datetimes_into_utc_iso_strings():
    paris = timezone(timedelta(hours=1))
    value = json_safe({"at": datetime(2025, 1, 10, 10, 0, tzinfo=paris), "nested": [T0], "n": 1})
    assert value == {"at": "2025-01-10T09:00:00+00:00", "nested": ["2025-01-10T09:00:00+00:00"], "n": 1}
    json.dumps(value)


def test_names_are_compared_without_case_accents_or_punctuation():
    assert full_name("Jérôme", "D'Arc") == "arc d jerome"
    assert full_name("Jean", "Dupont") == full_name("DUPONT", "Jean")
    assert full_name(None, "  ") == ""
    assert company_key("ACME S.A.S.") == company_key("Acme") == "acme"
    assert company_key("SAS") == "sas"


def test_similar_names_at_the_same_company_are_duplicates():
    match = score_pair(Person(1, "Jean", "Dupont", company_id=7), Person(2, "Jean", "Dupond", company_id=7))
    assert match.score >= 85
    assert "same company" in match.reasons and any(r.startswith("similar name") for r in match.reasons)


def test_similar_company_names_count_as_the_same_company():
    match = score_pair(Person(1, "Jean", "Dupont", company_id=1, company_name="Acme SAS"),
                       Person(2, "Dupont", "Jean", company_id=2, company_name="ACME"))
    assert match.score == 100
    assert match.reasons == ("same name", "similar company name (100)")


def test_a_name_alone_is_not_enough():
    match = score_pair(Person(1, "Jean", "Dupont", company_id=1), Person(2, "Jean", "Dupont", company_id=2))
    assert match.score < 85
    assert score_pair(Person(1, "Jean", "Dupont"), Person(2, "Jean", "Dupont")).score < 85


def test_unrelated_people_at_one_company_score_low():
    match = score_pair(Person(1, "Jean", "Dupont", company_id=7), Person(2, "Marie", "Curie", company_id=7))
    assert match.score < 50
    assert match.reasons == ("same company",)


def test_a_shared_phone_is_strong_unless_the_names_clearly_differ():
    same = score_pair(Person(1, "Jean", "Dupont", phone="+33612345678"),
                      Person(2, "J", "Dupont", phone="+33612345678"))
    assert same.score >= 85 and same.reasons[0] == "same phone"
    nameless = score_pair(Person(1, phone="+33612345678"), Person(2, "Jean", "Dupont", phone="+33612345678"))
    assert nameless.score == 90
    switchboard = score_pair(Person(1, "Jean", "Dupont", phone="+33100000000"),
                             Person(2, "Marie", "Curie", phone="+33100000000"))
    assert switchboard.score < 85
