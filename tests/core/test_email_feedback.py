"""Provider notifications read into one shape: only hard bounces and complaints count."""

from __future__ import annotations

import json

import pytest

from leadline.core.email_feedback import Feedback, UnknownFormat, parse_feedback


def test_ses_permanent_bounces_and_complaints_count_transient_ones_do_not() -> None:
    bounce = {"notificationType": "Bounce", "bounce": {"bounceType": "Transient", "bouncedRecipients": [
        {"emailAddress": "a@example.org"}]}}
    assert parse_feedback(bounce).feedback == ()
    complaint = {"Type": "Notification", "Message": json.dumps({
        "notificationType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "B@Example.org"}],
                                                       "complaintFeedbackType": "abuse"}})}
    assert parse_feedback(complaint).feedback == (Feedback("b@example.org", "complaint", "ses", "abuse"),)


def test_postmark_soft_bounces_are_ignored() -> None:
    assert parse_feedback({"RecordType": "Bounce", "Type": "SoftBounce", "Email": "a@example.org"}).ignored == 1
    hard = parse_feedback({"RecordType": "Bounce", "Type": "HardBounce", "Email": "Ann <a@example.org>"})
    assert hard.feedback == (Feedback("a@example.org", "bounce", "postmark", "HardBounce"),)


def test_sns_subscription_confirmation_is_reported_not_fetched() -> None:
    parsed = parse_feedback({"Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm"})
    assert parsed.subscribe_url == "https://sns.example/confirm" and parsed.feedback == ()


@pytest.mark.parametrize("body", [{"x": 1}, "text", 3, {"Type": "Notification", "Message": "not json"}])
def test_unknown_shapes_are_refused(body: object) -> None:
    with pytest.raises(UnknownFormat):
        parse_feedback(body)
