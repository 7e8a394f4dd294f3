"""The condition language of scoring rules: leaves on one field, combined with all / any / not.

One syntax for fit rules (read lead and company fields) and engagement rules (read event fields). A
condition is parsed once into a small tree, then compiled into a Python predicate for real-time scoring;
the storage layer compiles the same tree into SQL for bulk rescoring, so the two must mean the same:
string operators are case-sensitive, comparisons only hold between values of the same kind (a number is
never equal to the text "5"), and a missing field satisfies nothing but `exists: false`, `not_equals` and
`not_in`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Operators taking one scalar, a list, or a flag. The registry keeps parsing and evaluation in one place.
SCALAR_OPERATORS = ("equals", "not_equals", "gt", "gte", "lt", "lte", "starts_with", "ends_with", "contains",
                    "matches")
LIST_OPERATORS = ("in", "not_in", "between")
OPERATORS = (*SCALAR_OPERATORS, *LIST_OPERATORS, "exists")
NUMERIC_OPERATORS = frozenset({"gt", "gte", "lt", "lte", "between"})
TEXT_OPERATORS = frozenset({"starts_with", "ends_with", "contains", "matches"})
#: Operators a missing value satisfies.
MISSING_SATISFIES = frozenset({"not_equals", "not_in"})

Scalar = str | int | float | bool


class ConditionError(ValueError):
    """A condition that cannot be understood; `where` says which part of it (dotted path)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Leaf:
    field: str
    operator: str
    value: Any  # Scalar, tuple of Scalars, or bool for `exists`


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition


Condition = Leaf | AllOf | AnyOf | Not


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_kind(a: Any, b: Any) -> bool:
    """Numbers compare with numbers, text with text, booleans with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str))


def _scalar(where: str, value: Any) -> Scalar:
    if isinstance(value, str | bool) or _is_number(value):
        return value  # type: ignore[no-any-return]
    raise ConditionError(where, f"expected a text, number or boolean, got {type(value).__name__}")


#: Limits that keep a condition cheap to evaluate and to compile to SQL (deep trees overflow SQL parsers).
MAX_DEPTH = 8
MAX_LEAVES = 64
#: A group with a quantifier inside, quantified again: `(a+)+`, the classic catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\([^()]*[+*}][^()]*\)[+*{]")
#: Python-only syntax, or syntax PostgreSQL reads differently (`\b` is a backspace there).
_NOT_PORTABLE = re.compile(r"\(\?[PR<=!#>]|\\[bBAZ]")


def check_pattern(pattern: str, *, portable: bool) -> str | None:
    """Why a `matches` pattern is refused, or None. Event patterns also run as PostgreSQL regular
    expressions in bulk rescoring, so they must mean the same there (`portable`)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    if _NESTED_QUANTIFIER.search(pattern):
        return "nested quantifiers such as (a+)+ can take exponential time; simplify the pattern"
    if portable and _NOT_PORTABLE.search(pattern):
        return ("event patterns run on PostgreSQL too: use classes, alternation, anchors ^ $ and a leading "
                "(?i), not \\b, \\A, \\Z, lookarounds or named groups")
    return None


def parse_condition(raw: Any, where: str = "", *, fields: Callable[[str], str | None] | None = None,
                    portable: bool = False) -> Condition:
    """Parse the file form of a condition. `fields` checks a field name and returns why it is refused;
    `portable` holds regular expressions to what PostgreSQL reads the same way."""
    condition = _parse(raw, where, fields, portable, 0)
    if _leaves(condition) > MAX_LEAVES:
        raise ConditionError(where, f"more than {MAX_LEAVES} leaves; split the rule")
    return condition


def _leaves(condition: Condition) -> int:
    if isinstance(condition, Leaf):
        return 1
    if isinstance(condition, Not):
        return _leaves(condition.part)
    return sum(_leaves(p) for p in condition.parts)


def _parse(raw: Any, where: str, fields: Callable[[str], str | None] | None, portable: bool, depth: int
           ) -> Condition:
    if depth > MAX_DEPTH:
        raise ConditionError(where, f"nested more than {MAX_DEPTH} levels deep")
    if not isinstance(raw, Mapping):
        raise ConditionError(where, "a condition is a mapping: {field: ..., <operator>: ...} or all/any/not")
    keys = set(raw)
    for combinator in ("all", "any"):
        if combinator in raw:
            if keys != {combinator}:
                raise ConditionError(where, f"'{combinator}' stands alone; found also {sorted(keys - {combinator})}")
            items = raw[combinator]
            if not isinstance(items, list) or not items:
                raise ConditionError(f"{where}.{combinator}", "expected a non-empty list of conditions")
            parts = tuple(_parse(item, f"{where}.{combinator}[{i}]", fields, portable, depth + 1)
                          for i, item in enumerate(items))
            return AllOf(parts) if combinator == "all" else AnyOf(parts)
    if "not" in raw:
        if keys != {"not"}:
            raise ConditionError(where, f"'not' stands alone; found also {sorted(keys - {'not'})}")
        return Not(_parse(raw["not"], f"{where}.not", fields, portable, depth + 1))
    return _parse_leaf(raw, where, fields, portable)


def _parse_leaf(raw: Mapping[str, Any], where: str, fields: Callable[[str], str | None] | None,
                portable: bool) -> Leaf:
    field = raw.get("field")
    if not isinstance(field, str) or not field:
        raise ConditionError(where, "missing 'field' (or use all / any / not)")
    if fields is not None and (problem := fields(field)) is not None:
        raise ConditionError(f"{where}.field", problem)
    operators = [k for k in raw if k != "field"]
    unknown = [k for k in operators if k not in OPERATORS]
    if unknown:
        raise ConditionError(where, f"unknown operator {unknown[0]!r}; expected one of {', '.join(OPERATORS)}")
    if len(operators) != 1:
        raise ConditionError(where, "a leaf has exactly one operator; combine several with 'all'")
    op = operators[0]
    return Leaf(field, op, _leaf_value(op, raw[op], f"{where}.{op}", portable))


def _leaf_value(op: str, value: Any, at: str, portable: bool = False) -> Any:
    if op == "exists":
        if not isinstance(value, bool):
            raise ConditionError(at, "expected true or false")
        return value
    if op in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            raise ConditionError(at, "expected a non-empty list")
        items = tuple(_scalar(f"{at}[{i}]", v) for i, v in enumerate(value))
        if op == "between" and (len(items) != 2 or not all(_is_number(v) for v in items)
                                or items[0] > items[1]):  # type: ignore[operator]
            raise ConditionError(at, "expected [low, high], two numbers with low <= high")
        return items
    scalar = _scalar(at, value)
    if op in NUMERIC_OPERATORS and not _is_number(scalar):
        raise ConditionError(at, "expected a number")
    if op in TEXT_OPERATORS:
        if not isinstance(scalar, str) or not scalar:
            raise ConditionError(at, "expected a non-empty text")
        if op == "matches" and (problem := check_pattern(scalar, portable=portable)) is not None:
            raise ConditionError(at, problem)
    return scalar


MISSING: Any = object()
Facts = Callable[[str], Any]  # field name -> value, or MISSING
Predicate = Callable[[Facts], bool]


def _leaf_predicate(leaf: Leaf) -> Predicate:  # noqa: C901 - one branch per operator, flat and obvious
    field, op, expected = leaf.field, leaf.operator, leaf.value
    if op == "exists":
        return lambda facts: (facts(field) not in (MISSING, None, "")) is expected

    def check(test: Callable[[Any], bool]) -> Predicate:
        missing_result = op in MISSING_SATISFIES

        def predicate(facts: Facts) -> bool:
            value = facts(field)
            if value is MISSING or value is None:
                return missing_result
            return test(value)
        return predicate

    if op == "equals":
        return check(lambda v: same_kind(v, expected) and v == expected)
    if op == "not_equals":
        return check(lambda v: not (same_kind(v, expected) and v == expected))
    if op in ("in", "not_in"):
        members = expected
        hit: Callable[[Any], bool] = lambda v: any(same_kind(v, m) and v == m for m in members)  # noqa: E731
        return check(hit if op == "in" else (lambda v: not hit(v)))
    if op in ("gt", "gte", "lt", "lte"):
        compare: Callable[[Any, Any], bool] = {
            "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}[op]
        return check(lambda v: _is_number(v) and compare(v, expected))
    if op == "between":
        low, high = expected
        return check(lambda v: _is_number(v) and low <= v <= high)
    if op == "starts_with":
        return check(lambda v: isinstance(v, str) and v.startswith(expected))
    if op == "ends_with":
        return check(lambda v: isinstance(v, str) and v.endswith(expected))
    if op == "contains":
        return check(lambda v: isinstance(v, str) and expected in v)
    if op == "matches":
        pattern = re.compile(expected)
        return check(lambda v: isinstance(v, str) and pattern.search(v) is not None)
    raise ConditionError(field, f"unknown operator {op!r}")  # parse_condition refuses these first


def compile_condition(condition: Condition) -> Predicate:
    if isinstance(condition, Leaf):
        return _leaf_predicate(condition)
    if isinstance(condition, Not):
        inner = compile_condition(condition.part)
        return lambda facts: not inner(facts)
    parts = tuple(compile_condition(p) for p in condition.parts)
    if isinstance(condition, AllOf):
        return lambda facts: all(p(facts) for p in parts)
    return lambda facts: any(p(facts) for p in parts)


def fields_of(condition: Condition) -> frozenset[str]:
    """The fields a condition reads (to know when a change may alter it)."""
    if isinstance(condition, Leaf):
        return frozenset({condition.field})
    if isinstance(condition, Not):
        return fields_of(condition.part)
    return frozenset().union(*(fields_of(p) for p in condition.parts))
