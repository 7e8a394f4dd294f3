"""Consent rules: how ledger entries fold into a lead's state, and the French B2C/B2B email rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadline.core.consent import (
    Action,
    ConsentState,
    EmailFacts,
    Entry,
    Purpose,
    changes_from_flags,
    derive,
    email_rule,
    notice_deadline,
    truncate_ip,
)

AT = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def entry(purpose: Purpose, action: Action, source: str = "import") -> Entry:
    return Entry(purpose, action, source, AT)


def test_a_reimport_never_lifts_an_unsubscribe_but_the_person_can() -> None:
    unsubscribed = derive([entry(Purpose.MARKETING_EMAIL, Action.GRANT),
                           entry(Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE, "email_unsubscribe")])
    assert unsubscribed.unsubscribed and unsubscribed.flag(Purpose.MARKETING_EMAIL) is False
    again = derive([entry(Purpose.MARKETING_EMAIL, Action.GRANT, "import")], unsubscribed)
    assert again == unsubscribed
    by_person = derive([entry(Purpose.MARKETING_EMAIL, Action.GRANT, "preference_centre")], unsubscribed)
    assert not by_person.unsubscribed and by_person.flag(Purpose.MARKETING_EMAIL) is True


def test_an_objection_withdraws_every_purpose_at_once_and_only_the_person_undoes_it() -> None:
    state = derive([entry(p, Action.GRANT) for p in Purpose] + [entry(Purpose.MARKETING_EMAIL, Action.OBJECT, "api")])
    assert all(state.flag(p) is False for p in Purpose)
    assert state.objected_at == AT and state.unsubscribed
    assert derive([entry(Purpose.PROFILING, Action.GRANT, "api")], state) == state
    lifted = derive([entry(Purpose.PROFILING, Action.GRANT, "double_opt_in")], state)
    assert lifted.objected_at is None and lifted.flag(Purpose.PROFILING) is True
    assert lifted.flag(Purpose.MARKETING_EMAIL) is False


def test_a_source_saying_what_is_already_known_amounts_to_no_entry() -> None:
    state = ConsentState.of({"consent_email": True})
    assert changes_from_flags(state, email_marketing=True, unsubscribed=None) == []
    assert changes_from_flags(state, email_marketing=False, unsubscribed=None, profiling=False) == [
        (Purpose.MARKETING_EMAIL, Action.WITHDRAW), (Purpose.PROFILING, Action.WITHDRAW)]
    assert changes_from_flags(state, email_marketing=True, unsubscribed=True) == [
        (Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE)]


@pytest.mark.parametrize(("fields", "kind", "customer", "free_mail", "allowed", "reason"), [
    ({}, "consumer", False, True, False, "no consent recorded"),
    ({}, None, False, False, False, "no consent recorded"),
    ({}, "professional", False, False, True, "professional address: opt-out basis (legitimate interest)"),
    ({}, "professional", False, True, False, "no consent recorded"),
    ({}, "consumer", True, True, True, "soft opt-in: existing customer"),
    ({"consent_email": False}, "professional", True, False, False, "consent withdrawn"),
    ({"consent_email": True, "unsubscribed": True}, "consumer", False, True, False, "unsubscribed"),
    ({"objected_at": AT}, "professional", True, False, False, "objected (GDPR Art. 21)"),
    ({"consent_email": True}, "consumer", False, True, True, "consent granted"),
])
def test_b2c_needs_prior_consent_b2b_may_rely_on_opt_out(fields, kind, customer, free_mail, allowed,
                                                         reason) -> None:
    facts = EmailFacts(state=ConsentState.of(fields), subject_type=kind, is_customer=customer,
                       free_mail_address=free_mail)
    assert email_rule(facts) == (allowed, reason)


def test_ip_addresses_are_kept_truncated() -> None:
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_ip("not an ip") is None and truncate_ip(None) is None


def test_the_article_14_notice_is_due_one_calendar_month_later() -> None:
    assert notice_deadline(AT) == datetime(2026, 2, 28, 12, 0, tzinfo=UTC)
    assert notice_deadline(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)
