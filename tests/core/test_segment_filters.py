"""The segment filter language: JSON and text give the same tree; bad filters say where and why."""

from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.segments import (
    FORMAT,
    EventFacts,
    FilterError,
    evaluate,
    parse_any,
    parse_filter,
    parse_text,
)

PRICING = ('did page_view where path starts_with "/pricing" at least 2 times in the last 14 days '
           'and stage != customer')


def test_the_issue_example_in_text_and_json_is_one_filter():
    text = parse_text(PRICING)
    document = {"format": FORMAT, "where": {"all": [
        {"event": "page_view", "where": {"field": "path", "starts_with": "/pricing"}, "at_least": 2,
         "within_days": 14},
        {"field": "stage", "not_equals": "customer"}]}}
    assert text == parse_filter(document)
    assert text.to_document() == document
    assert parse_filter(text.to_document()) == text
    assert text.fields == {"stage"} and text.event_types == {"page_view"}
    assert text.windowed and not text.enters_by_time
    assert parse_text('visited "/pricing" twice in the last 14 days and stage is not customer') == text


def test_text_syntax_precedence_lists_and_negation():
    flt = parse_text('country in [FR, "BE"] or score >= 50 and not company.size < 10')
    assert flt.to_document()["where"] == {"any": [
        {"field": "country", "in": ["FR", "BE"]},
        {"all": [{"field": "score", "gte": 50}, {"not": {"field": "company.size", "lt": 10}}]}]}
    never = parse_text("never did email_click in the last 30 days and custom.plan exists")
    assert never.enters_by_time and never.fields == {"custom.plan"}
    assert parse_any(never.to_document()) == never
    assert parse_any('{"format": "leadline-filter/1", "where": {"field": "owner_id", "equals": "12"}}'
                     ).to_document()["where"] == {"field": "owner_id", "equals": "12"}


@pytest.mark.parametrize(("raw", "where", "reason"), [
    ({"format": "leadline-filter/2", "where": {}}, "format", "expected 'leadline-filter/1'"),
    ({"format": FORMAT}, "where", "missing"),
    ({"format": FORMAT, "where": {"all": []}}, "where.all", "non-empty list"),
    ({"format": FORMAT, "where": {"all": [{"field": "stage", "equals": "x"}]}}, "where.all[0].equals",
     "unknown value 'x'"),
    ({"format": FORMAT, "where": {"field": "score", "contains": "a"}}, "where.contains", "not an operator for score"),
    ({"format": FORMAT, "where": {"field": "score", "in": [1, "2"]}}, "where.in[1]", "expected a number"),
    ({"format": FORMAT, "where": {"field": "nope", "equals": 1}}, "where.field", "unknown field 'nope'"),
    ({"format": FORMAT, "where": {"field": "custom.a\"b", "equals": 1}}, "where.field", "unknown field"),
    ({"format": FORMAT, "where": {"field": "score", "gt": 2**70}}, "where.gt", "out of range"),
    ({"format": FORMAT, "where": {"field": "created_at", "gt": "yesterday"}}, "where.gt", "ISO 8601"),
    ({"format": FORMAT, "where": {"field": "score", "between": [5, 1]}}, "where.between", "low <= high"),
    ({"format": FORMAT, "where": {"event": "page_view", "at_least": 0}}, "where.at_least", "whole number"),
    ({"format": FORMAT, "where": {"event": "page_view", "within_days": True}}, "where.within_days", "whole number"),
    ({"format": FORMAT, "where": {"event": "Page View"}}, "where.event", "event type"),
    ({"format": FORMAT, "where": {"event": "page_view", "where": {"field": "lead", "equals": 1}}},
     "where.where.field", "unknown event field"),
    ({"format": FORMAT, "where": {"event": "page_view", "where": {"field": "path", "matches": "a"}}},
     "where.where", "'matches' is not available"),
    ({"format": FORMAT, "where": {"field": "stage", "equals": "new", "not_equals": "mql"}}, "where",
     "exactly one operator"),
    ({"format": FORMAT, "where": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {"not": {
        "field": "stage", "exists": True}}}}}}}}}}}, "where.not.not.not.not.not.not.not.not.not", "levels deep"),
    ({"format": FORMAT, "where": {"any": [{"field": "score", "gt": i} for i in range(65)]}}, "where",
     "at most 64"),
])
def test_errors_name_the_node_and_the_reason(raw, where, reason):
    with pytest.raises(FilterError) as caught:
        parse_filter(raw)
    assert caught.value.where == where
    assert reason in caught.value.reason


@pytest.mark.parametrize(("text", "where", "reason"), [
    ("country in [FR", "column 15", "expected ',' or ']'"),
    ("stage = customer and", "column 21", "expected a field name"),
    ("did page_view at least two times", "column 24", "expected a whole number"),
    ("score ~ 3", "column 7", "unexpected character"),
    ("(stage = new", "column 13", "expected ')'"),
    ("stage = custmer", "where.equals", "unknown value"),
    ("", "", "empty filter"),
])
def test_text_errors_point_at_the_column(text, where, reason):
    with pytest.raises(FilterError) as caught:
        parse_text(text)
    assert caught.value.where == where and reason in caught.value.reason


def test_evaluation_counts_events_in_the_window_only():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    flt = parse_text(PRICING)
    lead = {"stage": "mql"}.get
    visits = [EventFacts("page_view", now - timedelta(days=d), {"path": "/pricing/team"}) for d in (1, 13)]
    assert evaluate(flt, lead, visits, now)
    assert not evaluate(flt, lead, visits, now + timedelta(days=2))  # the 13-day-old visit aged out
    assert not evaluate(flt, {"stage": "customer"}.get, visits, now)
    assert not evaluate(flt, lead, [EventFacts("page_view", now, {"path": "/blog"})] * 3, now)
