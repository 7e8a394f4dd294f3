"""The workflow format and the pure step function: precise errors, waits, branches, splits, exits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leadline.core.workflows import (
    FORMAT,
    CallWebhook,
    EnrolmentState,
    Facts,
    InvalidWorkflow,
    SendEmail,
    StepApplied,
    advance,
    parse_workflow,
    split_bucket,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
MAIL = {"subject": "Hi", "text": "Hello"}


def doc(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"format": FORMAT, "key": "wp", "name": "WP", "trigger": {"event": "download"}, "steps": list(steps),
            **extra}


def problems(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidWorkflow) as caught:
        parse_workflow(document)
    return caught.value.problems


def test_errors_name_the_place_and_the_reason() -> None:
    wait = {"id": "a", "wait": {"days": 1}}
    assert problems({**doc(wait), "format": "x"}) == [("format", f"expected {FORMAT!r}")]
    assert problems(doc({"id": "a", "wait": {"days": 0}})) == [
        ("steps[0].wait", "a duration must be longer than zero (days, hours, minutes or seconds)")]
    [(where, why)] = problems(doc({"id": "a", "branch": {"if": {"field": "score", "at_least": 3},
                                                        "then": "end", "else": "end"}}))
    assert where == "steps[0].branch.if" and "unknown operator" in why
    [(where, why)] = problems(doc({"id": "a", "wait": {"days": 1}, "next": "nowhere"}))
    assert where == "steps[0].next" and "no step 'nowhere'" in why
    [(where, why)] = problems(doc({"id": "a", "wait": {"days": 1}, "send_email": MAIL}))
    assert where == "steps[0]" and "exactly one action" in why
    [(where, why)] = problems(doc({"id": "a", "wait_until": {"event": "email_click"}}))
    assert where == "steps[0].wait_until" and "timeout" in why
    assert problems({**doc({"id": "a", "wait": {"days": 1}}), "trigger": {"when": "x"}})[0][0] == "trigger"
    [(where, why)] = problems(doc({"id": "a", "wait": {"days": 1}}, {"id": "a", "wait": {"days": 2}}))
    assert (where, why) == ("steps[1].id", "'a' is used twice")


def test_a_sequence_runs_until_a_wait_and_resumes_when_it_is_over() -> None:
    definition = parse_workflow(doc({"id": "hello", "send_email": MAIL}, {"id": "pause", "wait": {"days": 2}},
                                    {"id": "crm", "webhook": {"name": "crm"}}))
    facts = Facts(stage="new", lead_id=7)
    state, commands = advance(definition, EnrolmentState(step_started_at=T0), T0, facts)
    assert commands == [SendEmail("hello"), StepApplied("hello", 1, "send_email")]
    assert (state.position, state.status, state.due_at) == (1, "active", T0 + timedelta(days=2))
    same, nothing = advance(definition, state, T0 + timedelta(days=1), facts)  # too early: no change
    assert nothing == [] and same.due_at == T0 + timedelta(days=2)
    done, commands = advance(definition, state, T0 + timedelta(days=2), facts)
    assert commands == [StepApplied("pause", 2, "waited"), CallWebhook("crm", "crm"),
                        StepApplied("crm", 3, "webhook")]
    assert done.status == "completed" and done.due_at is None


def test_wait_until_an_event_ends_early_or_times_out() -> None:
    definition = parse_workflow(doc({"id": "w", "wait_until": {"event": "email_click", "timeout": {"days": 3}}}))
    start = EnrolmentState(step_started_at=T0)
    waiting, _ = advance(definition, start, T0, Facts(stage="new"))
    assert waiting.due_at == T0 + timedelta(days=3)
    clicked, commands = advance(definition, waiting, T0 + timedelta(hours=1),
                                Facts(stage="new", events_since_step=frozenset({"email_click"})))
    assert commands == [StepApplied("w", 1, "event")] and clicked.status == "completed"
    timed_out, commands = advance(definition, waiting, T0 + timedelta(days=3), Facts(stage="new"))
    assert timed_out.status == "completed"
    assert commands == [StepApplied("w", 1, "timed out")]


def test_a_branch_follows_its_condition_and_exits_beat_everything() -> None:
    definition = parse_workflow(doc(
        {"id": "b", "branch": {"if": {"field": "score", "gte": 40}, "then": "hot", "else": "end"}},
        {"id": "hot", "notify_owner": {"message": "call"}}))
    _, commands = advance(definition, EnrolmentState(), T0, Facts(stage="new", conditions={"b": True}))
    assert [c.outcome for c in commands if isinstance(c, StepApplied)] == ["then", "notify_owner"]
    state, commands = advance(definition, EnrolmentState(), T0, Facts(stage="new", conditions={"b": False}))
    assert [c.outcome for c in commands if isinstance(c, StepApplied)] == ["else"] and state.status == "completed"
    exited, commands = advance(definition, EnrolmentState(), T0, Facts(stage="sql"))
    assert (exited.status, exited.exit_reason, commands) == ("exited", "stage:sql", [])
    exited, _ = advance(definition, EnrolmentState(), T0, Facts(stage="new", unsubscribed=True))
    assert exited.exit_reason == "unsubscribed"


def test_a_split_is_deterministic_per_lead_and_follows_the_weights() -> None:
    arms_given = [{"weight": 80, "goto": "a"}, {"weight": 20, "goto": "b"}]
    definition = parse_workflow(doc({"id": "ab", "split": arms_given},
                                    {"id": "a", "send_email": MAIL, "next": "end"}, {"id": "b", "send_email": MAIL}))
    arms = []
    for lead in range(2000):
        _, commands = advance(definition, EnrolmentState(), T0, Facts(stage="new", lead_id=lead))
        arms.append(next(c.step for c in commands if isinstance(c, SendEmail)))
        again = advance(definition, EnrolmentState(), T0, Facts(stage="new", lead_id=lead))[1]
        assert next(c.step for c in again if isinstance(c, SendEmail)) == arms[-1]
    assert 0.75 < arms.count("a") / len(arms) < 0.85
    assert 0 <= split_bucket(1, "wp", "ab") < 1


def test_a_branch_loop_without_a_wait_yields_instead_of_spinning() -> None:
    definition = parse_workflow(doc({"id": "x", "set_field": {"field": "custom.n", "value": 1}, "next": "x"}))
    state, commands = advance(definition, EnrolmentState(), T0, Facts(stage="new"))
    assert state.status == "active" and state.due_at == T0 and 0 < len(commands) <= 100
