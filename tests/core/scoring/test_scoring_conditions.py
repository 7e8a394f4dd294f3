"""The condition language: one field per leaf, all / any / not, same-kind comparisons, precise parse errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scoring_factories import facts, holds

from leadline.core.scoring.conditions import (
    MISSING,
    OPERATORS,
    AllOf,
    AnyOf,
    ConditionError,
    Leaf,
    Not,
    compile_condition,
    fields_of,
    parse_condition,
    same_kind,
)
from leadline.core.scoring.model import check_event_field, check_fit_field

scalars = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.text(max_size=8),
                    st.booleans())


# --- every operator ------------------------------------------------------------------------------------------

OPERATOR_CASES = [
    ({"equals": "FR"}, "FR", True),
    ({"equals": "FR"}, "fr", False),  # text comparisons are case-sensitive
    ({"equals": 5}, 5.0, True),  # an int and a float are both numbers
    ({"equals": False}, False, True),
    ({"not_equals": "FR"}, "DE", True),
    ({"not_equals": "FR"}, "FR", False),
    ({"in": ["FR", "BE"]}, "BE", True),
    ({"in": ["FR", "BE"]}, "DE", False),
    ({"in": [1, 2]}, 2, True),
    ({"not_in": ["FR", "BE"]}, "DE", True),
    ({"not_in": ["FR", "BE"]}, "FR", False),
    ({"gt": 10}, 10.5, True),
    ({"gt": 10}, 10, False),
    ({"gte": 10}, 10, True),
    ({"gte": 10}, 9.99, False),
    ({"lt": 10}, 9, True),
    ({"lt": 10}, 10, False),
    ({"lte": 10}, 10, True),
    ({"lte": 10}, 10.01, False),
    ({"between": [50, 500]}, 50, True),  # both bounds included
    ({"between": [50, 500]}, 500, True),
    ({"between": [50, 500]}, 275.5, True),
    ({"between": [50, 500]}, 49, False),
    ({"between": [50, 500]}, 501, False),
    ({"starts_with": "/pricing"}, "/pricing/pro", True),
    ({"starts_with": "/pricing"}, "/en/pricing", False),
    ({"starts_with": "/pricing"}, "/Pricing", False),
    ({"ends_with": ".pdf"}, "/files/guide.pdf", True),
    ({"ends_with": ".pdf"}, "/files/guide.PDF", False),
    ({"contains": "price"}, "low-price-plan", True),
    ({"contains": "price"}, "pricing", False),
    ({"matches": r"(?i)\bceo\b"}, "Founder & CEO", True),  # search, not full match
    ({"matches": r"(?i)\bceo\b"}, "ceofficer", False),
    ({"matches": r"^\d{5}$"}, "75011", True),
    ({"matches": r"^\d{5}$"}, "750110", False),
    ({"exists": True}, "x", True),
    ({"exists": True}, 0, True),  # zero and false are values
    ({"exists": True}, False, True),
    ({"exists": True}, "", False),  # empty text counts as absent
    ({"exists": False}, "", True),
    ({"exists": False}, "x", False),
]


@pytest.mark.parametrize(("condition", "value", "expected"), OPERATOR_CASES)
def test_each_operator(condition, value, expected):
    assert holds({"field": "f", **condition}, f=value) is expected


def test_the_table_above_covers_every_operator():
    covered = {op for (condition, _, _) in OPERATOR_CASES for op in condition}
    assert covered == set(OPERATORS)


@pytest.mark.parametrize(("condition", "value"), [
    ({"gt": 1}, "5"), ({"between": [1, 10]}, "5"), ({"lte": 10}, True),
    ({"starts_with": "1"}, 12), ({"ends_with": "2"}, 12), ({"contains": "1"}, 212), ({"matches": "1"}, 1),
])
def test_numeric_and_text_operators_never_hold_for_the_other_kind(condition, value):
    assert holds({"field": "f", **condition}, f=value) is False


# --- the same-kind rule ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expected", "actual"), [
    (5, "5"), ("5", 5), (True, 1), (1, True), (False, 0), (0, False), ("true", True), (True, "true"), ("", False),
])
def test_values_of_different_kinds_are_never_equal(expected, actual):
    assert not same_kind(expected, actual)
    assert holds({"field": "f", "equals": expected}, f=actual) is False
    assert holds({"field": "f", "in": [expected]}, f=actual) is False
    assert holds({"field": "f", "not_equals": expected}, f=actual) is True
    assert holds({"field": "f", "not_in": [expected]}, f=actual) is True


@pytest.mark.parametrize(("a", "b"), [(5, 5.0), (-1, 2.5), ("a", ""), (True, False)])
def test_numbers_text_and_booleans_each_compare_within_their_kind(a, b):
    assert same_kind(a, b)
    assert same_kind(b, a)


@given(expected=scalars, actual=scalars)
def test_equals_holds_exactly_for_equal_values_of_the_same_kind(expected, actual):
    equal = same_kind(expected, actual) and expected == actual
    assert holds({"field": "f", "equals": expected}, f=actual) is equal
    assert holds({"field": "f", "not_equals": expected}, f=actual) is not equal


@given(members=st.lists(scalars, min_size=1, max_size=5), actual=scalars)
def test_not_in_is_the_negation_of_in_for_a_present_value(members, actual):
    assert holds({"field": "f", "in": members}, f=actual) is not holds({"field": "f", "not_in": members}, f=actual)


# --- missing values ---------------------------------------------------------------------------------------------

ONE_LEAF_PER_OPERATOR = [
    {"equals": "x"}, {"not_equals": "x"}, {"in": ["x"]}, {"not_in": ["x"]}, {"gt": 1}, {"gte": 1}, {"lt": 1},
    {"lte": 1}, {"between": [0, 1]}, {"starts_with": "x"}, {"ends_with": "x"}, {"contains": "x"},
    {"matches": ".*"}, {"exists": True}, {"exists": False},
]
HOLD_WHEN_MISSING = [{"not_equals": "x"}, {"not_in": ["x"]}, {"exists": False}]


@pytest.mark.parametrize("absent", [MISSING, None], ids=["missing", "null"])
@pytest.mark.parametrize("condition", ONE_LEAF_PER_OPERATOR, ids=lambda c: next(iter(c)) + "=" + str(c))
def test_a_missing_value_satisfies_only_not_equals_not_in_and_exists_false(condition, absent):
    assert holds({"field": "f", **condition}, f=absent) is (condition in HOLD_WHEN_MISSING)


def test_a_field_absent_from_the_facts_is_missing():
    assert holds({"field": "country", "exists": False}, other="FR")
    assert not holds({"field": "country", "equals": "FR"}, other="FR")


# --- all / any / not --------------------------------------------------------------------------------------------

IS_FR = {"field": "country", "equals": "FR"}
HAS_PHONE = {"field": "phone", "exists": True}


@pytest.mark.parametrize(("country", "phone", "all_", "any_"), [
    ("FR", "+33", True, True),
    ("FR", None, False, True),
    ("DE", "+49", False, True),
    ("DE", None, False, False),
])
def test_all_needs_every_part_and_any_needs_one(country, phone, all_, any_):
    values = {"country": country, "phone": phone}
    assert holds({"all": [IS_FR, HAS_PHONE]}, **values) is all_
    assert holds({"any": [IS_FR, HAS_PHONE]}, **values) is any_
    assert holds({"not": {"all": [IS_FR, HAS_PHONE]}}, **values) is not all_
    assert holds({"not": {"any": [IS_FR, HAS_PHONE]}}, **values) is not any_


def test_not_of_a_comparison_holds_when_the_value_is_missing():
    assert holds({"not": IS_FR}) is True
    assert holds({"not": {"not": IS_FR}}) is False


def test_nested_combinations_read_like_the_starter_models():
    outside_targets = {"all": [{"field": "country", "exists": True}, {"field": "country", "not_in": ["FR", "BE"]}]}
    assert holds(outside_targets, country="US")
    assert not holds(outside_targets, country="FR")
    assert not holds(outside_targets)  # not_in alone would hold for an unknown country
    assert holds({"any": [{"all": [IS_FR, HAS_PHONE]}, {"not": IS_FR}]}, country="DE")


def test_parsing_builds_the_tree():
    assert parse_condition({"any": [IS_FR, {"not": {"field": "size", "between": [1, 9]}}]}) == AnyOf((
        Leaf("country", "equals", "FR"), Not(Leaf("size", "between", (1, 9)))))
    assert parse_condition({"all": [HAS_PHONE]}) == AllOf((Leaf("phone", "exists", True),))


# --- parse errors name the part ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "where", "reason"), [
    ("FR", "x", "a condition is a mapping"),
    ([IS_FR], "x", "a condition is a mapping"),
    ({"all": []}, "x.all", "non-empty list"),
    ({"any": IS_FR}, "x.any", "non-empty list"),
    ({"all": [IS_FR], "field": "country"}, "x", "'all' stands alone"),
    ({"all": [IS_FR], "any": [IS_FR]}, "x", "'all' stands alone"),
    ({"not": IS_FR, "field": "country"}, "x", "'not' stands alone"),
    ({"equals": "FR"}, "x", "missing 'field'"),
    ({"field": "", "equals": "FR"}, "x", "missing 'field'"),
    ({"field": "country"}, "x", "exactly one operator"),
    ({"field": "country", "equals": "FR", "in": ["FR"]}, "x", "exactly one operator"),
    ({"field": "country", "like": "FR"}, "x", "unknown operator 'like'"),
    ({"field": "country", "equals": None}, "x.equals", "expected a text, number or boolean"),
    ({"field": "country", "equals": ["FR"]}, "x.equals", "expected a text, number or boolean"),
    ({"field": "country", "in": []}, "x.in", "non-empty list"),
    ({"field": "country", "not_in": "FR"}, "x.not_in", "non-empty list"),
    ({"field": "country", "in": ["FR", {"a": 1}]}, "x.in[1]", "expected a text, number or boolean"),
    ({"field": "size", "gt": "5"}, "x.gt", "expected a number"),
    ({"field": "size", "lte": True}, "x.lte", "expected a number"),
    ({"field": "size", "between": [500, 50]}, "x.between", "low <= high"),
    ({"field": "size", "between": [1, 2, 3]}, "x.between", "[low, high]"),
    ({"field": "size", "between": [1, "9"]}, "x.between", "two numbers"),
    ({"field": "path", "starts_with": ""}, "x.starts_with", "non-empty text"),
    ({"field": "path", "contains": 5}, "x.contains", "non-empty text"),
    ({"field": "path", "matches": "(unclosed"}, "x.matches", "invalid regular expression"),
    ({"field": "path", "matches": "*"}, "x.matches", "invalid regular expression"),
    ({"field": "phone", "exists": "yes"}, "x.exists", "expected true or false"),
    ({"all": [IS_FR, {"field": "path", "starts_with": 3}]}, "x.all[1].starts_with", "non-empty text"),
    ({"any": [IS_FR, {"not": {"field": "p"}}]}, "x.any[1].not", "exactly one operator"),
    ({"not": {"all": [{"any": [IS_FR, {"field": "s", "gt": []}]}]}}, "x.not.all[0].any[1].gt", "expected a"),
])
def test_a_parse_error_says_where_and_why(raw, where, reason):
    with pytest.raises(ConditionError) as error:
        parse_condition(raw, "x")
    assert error.value.where == where
    assert reason in error.value.reason
    assert str(error.value) == f"{where}: {error.value.reason}"


@pytest.mark.parametrize(("check", "good", "bad"), [
    (check_fit_field, ["job_title", "company.size", "custom.plan_tier"], ["path", "company.ceo", "custom.a b"]),
    (check_event_field, ["path", "utm_source", "properties.plan-id"], ["job_title", "properties.", "props.x"]),
])
def test_field_names_are_checked_and_a_refused_one_is_named(check, good, bad):
    for name in good:
        parse_condition({"field": name, "exists": True}, "x", fields=check)
    for name in bad:
        with pytest.raises(ConditionError) as error:
            parse_condition({"all": [{"field": name, "exists": True}]}, "x", fields=check)
        assert error.value.where == "x.all[0].field"
        assert repr(name) in error.value.reason


# --- fields_of ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "fields"), [
    (IS_FR, {"country"}),
    ({"all": [IS_FR, HAS_PHONE, IS_FR]}, {"country", "phone"}),
    ({"not": {"any": [{"field": "company.size", "gt": 5},
                      {"all": [HAS_PHONE, {"field": "custom.x", "exists": True}]}]}},
     {"company.size", "phone", "custom.x"}),
])
def test_fields_of_lists_every_field_a_condition_reads(raw, fields):
    assert fields_of(parse_condition(raw)) == frozenset(fields)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), scalars))
def test_a_condition_depends_only_on_the_fields_it_names(values: dict[str, Any]):
    condition = parse_condition({"any": [{"field": "a", "gt": 0}, {"not": {"field": "b", "equals": "x"}}]})
    predicate = compile_condition(condition)
    named = {k: v for k, v in values.items() if k in fields_of(condition)}
    assert predicate(facts(**values)) is predicate(facts(**named))
