"""The segment filter language (`leadline-filter/1`): parse and validate to a small tree, evaluate it in Python.

A filter document is JSON::

    {"format": "leadline-filter/1",
     "where": {"all": [
        {"event": "page_view", "where": {"field": "path", "starts_with": "/pricing"},
         "at_least": 2, "within_days": 14},
        {"field": "stage", "not_equals": "customer"}]}}

or the same thing in the text syntax (see `parse_text`)::

    did page_view where path starts_with "/pricing" at least 2 times in the last 14 days and stage != customer

Nodes: `all` / `any` (non-empty lists), `not`, a field leaf `{"field": F, <operator>: value}` over lead fields,
`company.*` and `custom.<key>`, and an event leaf `{"event": TYPE, "where": <event condition>, "at_least": N,
"within_days": D}` (the lead did TYPE at least N times, default 1, in the last D days, default ever; "never did"
is `not` of it). Event conditions are scoring's conditions (`core.scoring.conditions`) over the event's
promoted fields and `properties.<key>`, so a segment and an engagement rule read an event the same way.

Semantics are scoring's: text operators are case-sensitive, a value only equals a value of the same kind, and a
missing value satisfies only `not_equals`, `not_in` and `exists: false`. Unlike scoring, values are checked
against the field's kind when parsing (`score equals "high"` is an error, not a silent no-match).

Every error names the node (`where.all[1].in[0]`) and the reason. The tree is bounded (depth, leaves, list and
text sizes, numbers that fit in 64 bits) so that any accepted filter compiles to a reasonable SQL statement.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from leadline.core.leads import EVENT_TYPE_PATTERN, Stage, Temperature
from leadline.core.scoring import conditions as event_conditions

FORMAT = "leadline-filter/1"
MAX_DEPTH = 8
MAX_LEAVES = 64
MAX_LIST = 1000
MAX_TEXT = 1000
MAX_COUNT = 1_000_000
MAX_DAYS = 3660
MAX_SOURCE = 20_000
_INT_LIMIT = 2**63
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class FilterError(ValueError):
    """A filter that cannot be understood: `where` is the path to the bad node, `reason` says why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    TIME = "time"
    ID = "id"
    JSON = "json"  # custom.<key>: any scalar


_COMPARE = frozenset({"gt", "gte", "lt", "lte", "between"})
_TEXT = frozenset({"contains", "starts_with", "ends_with"})
_EQUALITY = frozenset({"equals", "not_equals", "in", "not_in", "exists"})
OPERATORS_BY_KIND: dict[Kind, frozenset[str]] = {
    Kind.TEXT: _EQUALITY | _TEXT,
    Kind.NUMBER: _EQUALITY | _COMPARE,
    Kind.BOOL: frozenset({"equals", "not_equals", "exists"}),
    Kind.TIME: _COMPARE | frozenset({"exists"}),
    Kind.ID: _EQUALITY,
    Kind.JSON: _EQUALITY | _COMPARE | _TEXT,
}
OPERATORS = tuple(sorted(frozenset().union(*OPERATORS_BY_KIND.values())))
LIST_OPERATORS = frozenset({"in", "not_in", "between"})
MISSING_SATISFIES = frozenset({"not_equals", "not_in"})


@dataclass(frozen=True, slots=True)
class FieldSpec:
    kind: Kind
    choices: tuple[str, ...] = ()


#: Lead and company fields a filter may read; `custom.<key>` is added on the fly. The storage layer maps each
#: name to a column (`storage.segment_sql`), so adding a field here and there is all it takes.
FIELDS: dict[str, FieldSpec] = {
    **{name: FieldSpec(Kind.TEXT) for name in (
        "email", "phone", "first_name", "last_name", "country", "job_title", "language", "status",
        "external_id", "first_channel", "first_campaign", "last_channel", "last_non_direct_channel",
        "last_non_direct_campaign")},
    "stage": FieldSpec(Kind.TEXT, tuple(s.value for s in Stage)),
    "temperature": FieldSpec(Kind.TEXT, tuple(t.value for t in Temperature)),
    **{name: FieldSpec(Kind.NUMBER) for name in ("score", "fit_score", "engagement_score")},
    **{name: FieldSpec(Kind.BOOL) for name in ("unsubscribed", "consent_email", "mql_ready")},
    **{name: FieldSpec(Kind.TIME) for name in ("created_at", "updated_at", "first_touch_at", "last_touch_at",
                                               "assigned_at", "first_sales_touch_at")},
    "owner_id": FieldSpec(Kind.ID),
    "company_id": FieldSpec(Kind.ID),
    **{f"company.{name}": FieldSpec(Kind.TEXT) for name in ("name", "domain", "industry", "country")},
    **{f"company.{name}": FieldSpec(Kind.NUMBER) for name in ("size", "revenue")},
}
#: Event fields an event condition may read (promoted columns), besides `properties.<key>`.
EVENT_FIELDS = ("path", "url", "campaign", "channel", "referrer", "email_id", "utm_source", "utm_medium",
                "utm_campaign", "utm_term", "utm_content")
#: Pseudo-fields that score-reading filters depend on (scores move with events, not only with field writes).
SCORE_FIELDS = frozenset({"score", "fit_score", "engagement_score", "temperature", "mql_ready"})


def field_spec(name: str) -> FieldSpec | None:
    if name.startswith("custom."):
        return FieldSpec(Kind.JSON) if _KEY.fullmatch(name.removeprefix("custom.")) else None
    return FIELDS.get(name)


# -- the tree ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FieldLeaf:
    field: str
    operator: str
    value: Any  # scalar, tuple of scalars, datetime, or bool for `exists`
    kind: Kind


@dataclass(frozen=True, slots=True)
class EventLeaf:
    event_type: str
    where: event_conditions.Condition | None
    at_least: int = 1
    within_days: int | None = None
    source: Any = None  # the `where` as written, to give the document back


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


Node = FieldLeaf | EventLeaf | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class Filter:
    """A parsed filter, with what it reads: `fields` and `event_types` decide which changes can alter a
    lead's membership; `windowed` says memberships expire with time; `enters_by_time` says a lead can also
    *enter* by time alone (a window under `not`: "did not visit in the last 14 days")."""

    root: Node
    fields: frozenset[str]
    event_types: frozenset[str]
    windowed: bool
    enters_by_time: bool

    def to_document(self) -> dict[str, Any]:
        return {"format": FORMAT, "where": _document(self.root)}

    @property
    def reads_scores(self) -> bool:
        return bool(self.fields & SCORE_FIELDS)


# -- parsing the JSON form ---------------------------------------------------------------------------------------
def parse_filter(raw: Any) -> Filter:
    """Parse a filter document (already decoded JSON) into a `Filter`, or raise `FilterError`."""
    if not isinstance(raw, Mapping):
        raise FilterError("", 'a filter is an object: {"format": "leadline-filter/1", "where": {...}}')
    unknown = sorted(set(raw) - {"format", "where"})
    if unknown:
        raise FilterError(unknown[0], "unknown key; a filter has 'format' and 'where'")
    if raw.get("format") != FORMAT:
        raise FilterError("format", f"expected {FORMAT!r}, got {raw.get('format')!r}")
    if "where" not in raw:
        raise FilterError("where", "missing: the condition leads must meet")
    root = _parse(raw["where"], "where", 0)
    leaves = _count_leaves(root)
    if leaves > MAX_LEAVES:
        raise FilterError("where", f"{leaves} conditions; at most {MAX_LEAVES}")
    return Filter(root, frozenset(_fields(root)), frozenset(_event_types(root)), _windowed(root),
                  _enters_by_time(root, negated=False))


def parse_any(source: str | Mapping[str, Any]) -> Filter:
    """A filter given as a decoded document, a JSON text, or the text syntax."""
    if isinstance(source, Mapping):
        return parse_filter(source)
    if len(source) > MAX_SOURCE:
        raise FilterError("", f"the filter is longer than {MAX_SOURCE} characters")
    stripped = source.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise FilterError("", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return parse_filter(document)
    return parse_text(stripped)


def _parse(raw: Any, where: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise FilterError(where, f"nested more than {MAX_DEPTH} levels deep")
    if not isinstance(raw, Mapping):
        raise FilterError(where, "a condition is an object: all / any / not, {field: ...} or {event: ...}")
    keys = set(raw)
    for combinator in ("all", "any"):
        if combinator in keys:
            _alone(keys, combinator, where)
            items = raw[combinator]
            if not isinstance(items, list) or not items:
                raise FilterError(f"{where}.{combinator}", "expected a non-empty list of conditions")
            parts = tuple(_parse(item, f"{where}.{combinator}[{i}]", depth + 1) for i, item in enumerate(items))
            return AllOf(parts) if combinator == "all" else AnyOf(parts)
    if "not" in keys:
        _alone(keys, "not", where)
        return Not(_parse(raw["not"], f"{where}.not", depth + 1))
    if "event" in keys:
        return _parse_event(raw, where)
    if "field" in keys:
        return _parse_field(raw, where)
    raise FilterError(where, "expected all / any / not, a field condition {field: ...} or an event {event: ...}")


def _alone(keys: set[str], key: str, where: str) -> None:
    if keys != {key}:
        raise FilterError(where, f"'{key}' stands alone; found also {sorted(keys - {key})}")


def _parse_field(raw: Mapping[str, Any], where: str) -> FieldLeaf:
    name = raw["field"]
    if not isinstance(name, str) or (spec := field_spec(name)) is None:
        raise FilterError(f"{where}.field", f"unknown field {name!r}; expected one of {', '.join(FIELDS)}, "
                                            "or custom.<key> (letters, digits, _ and -)")
    operators = [k for k in raw if k != "field"]
    if len(operators) != 1:
        raise FilterError(where, "a field condition has exactly one operator; combine several with 'all'")
    op = operators[0]
    if op not in OPERATORS:
        raise FilterError(f"{where}.{op}", f"unknown operator; expected one of {', '.join(OPERATORS)}")
    if op not in OPERATORS_BY_KIND[spec.kind]:
        raise FilterError(f"{where}.{op}", f"not an operator for {name} ({spec.kind.value}); use one of "
                                           f"{', '.join(sorted(OPERATORS_BY_KIND[spec.kind]))}")
    return FieldLeaf(name, op, _value(op, raw[op], f"{where}.{op}", spec), spec.kind)


def _value(op: str, value: Any, at: str, spec: FieldSpec) -> Any:
    if op == "exists":
        if not isinstance(value, bool):
            raise FilterError(at, "expected true or false")
        return value
    if op in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            raise FilterError(at, "expected a non-empty list")
        if len(value) > MAX_LIST:
            raise FilterError(at, f"more than {MAX_LIST} values")
        items = tuple(_scalar(v, f"{at}[{i}]", spec, op) for i, v in enumerate(value))
        if op == "between" and (len(items) != 2 or items[0] > items[1]):
            raise FilterError(at, "expected [low, high] with low <= high")
        return items
    return _scalar(value, at, spec, op)


def _scalar(value: Any, at: str, spec: FieldSpec, op: str) -> Any:  # noqa: C901 - one check per kind
    if isinstance(value, bool):
        if spec.kind in (Kind.BOOL, Kind.JSON) and op in ("equals", "not_equals", "in", "not_in"):
            return value
        raise FilterError(at, f"expected a {_expected(spec, op)}, got a boolean")
    if isinstance(value, int | float):
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) >= _INT_LIMIT:
            raise FilterError(at, "number out of range (at most 2**63 in size, and finite)")
        if spec.kind in (Kind.NUMBER, Kind.JSON) or (spec.kind is Kind.ID and isinstance(value, int) and value > 0):
            return value
        raise FilterError(at, f"expected a {_expected(spec, op)}, got a number")
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise FilterError(at, f"text longer than {MAX_TEXT} characters")
        if spec.kind is Kind.TIME:
            return _time(value, at)
        if spec.kind is Kind.ID:
            if value.isascii() and value.isdigit() and 0 < int(value) < _INT_LIMIT:
                return int(value)
            raise FilterError(at, "expected an id")
        if spec.kind not in (Kind.TEXT, Kind.JSON) or (spec.kind is Kind.JSON and op in _COMPARE):
            raise FilterError(at, f"expected a {_expected(spec, op)}, got a text")
        if op in _TEXT and not value:
            raise FilterError(at, "expected a non-empty text")
        if spec.choices and op in ("equals", "not_equals", "in", "not_in") and value not in spec.choices:
            raise FilterError(at, f"unknown value {value!r}; expected one of {', '.join(spec.choices)}")
        return value
    raise FilterError(at, f"expected a {_expected(spec, op)}, got {type(value).__name__}")


def _expected(spec: FieldSpec, op: str) -> str:
    if spec.kind is Kind.JSON:
        return "number" if op in _COMPARE else "text, number or boolean"
    return {Kind.TEXT: "text", Kind.NUMBER: "number", Kind.BOOL: "boolean", Kind.TIME: "ISO 8601 date-time",
            Kind.ID: "id", Kind.JSON: "value"}[spec.kind]


def _time(value: str, at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(at, "expected an ISO 8601 date or date-time, e.g. 2026-01-31T00:00:00Z") from None
    if moment.tzinfo is None:  # a bare date or a local time means UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _event_field_problem(name: str) -> str | None:
    if name in EVENT_FIELDS:
        return None
    if name.startswith("properties.") and _KEY.fullmatch(name.removeprefix("properties.")):
        return None
    return f"unknown event field {name!r}; expected one of {', '.join(EVENT_FIELDS)} or properties.<key>"


def _parse_event(raw: Mapping[str, Any], where: str) -> EventLeaf:
    unknown = sorted(set(raw) - {"event", "where", "at_least", "within_days"})
    if unknown:
        raise FilterError(f"{where}.{unknown[0]}", "unknown key; an event condition has event, where, at_least "
                                                   "and within_days")
    event_type = raw["event"]
    if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise FilterError(f"{where}.event", "expected an event type (lower case letters, digits, _ . : -)")
    condition = None
    if raw.get("where") is not None:
        try:
            condition = event_conditions.parse_condition(raw["where"], f"{where}.where",
                                                         fields=_event_field_problem, portable=True)
        except event_conditions.ConditionError as exc:
            raise FilterError(exc.where, exc.reason) from None
        if any(op == "matches" for op in _operators(condition)):
            raise FilterError(f"{where}.where", "'matches' is not available in segments; use starts_with, "
                                                "ends_with, contains, equals or in")
    at_least = _bounded_int(raw.get("at_least", 1), f"{where}.at_least", 1, MAX_COUNT)
    within = raw.get("within_days")
    days = None if within is None else _bounded_int(within, f"{where}.within_days", 1, MAX_DAYS)
    return EventLeaf(event_type, condition, at_least, days, raw.get("where"))


def _operators(condition: event_conditions.Condition) -> Iterable[str]:
    if isinstance(condition, event_conditions.Leaf):
        yield condition.operator
    elif isinstance(condition, event_conditions.Not):
        yield from _operators(condition.part)
    else:
        for part in condition.parts:
            yield from _operators(part)


def _bounded_int(value: Any, at: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FilterError(at, f"expected a whole number from {low} to {high}")
    return value


# -- what a filter reads -----------------------------------------------------------------------------------------
def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, AllOf | AnyOf):
        return node.parts
    if isinstance(node, Not):
        return (node.part,)
    return ()


def _count_leaves(node: Node) -> int:
    if isinstance(node, FieldLeaf | EventLeaf):
        return 1 + (sum(1 for _ in _operators(node.where)) if isinstance(node, EventLeaf) and node.where else 0)
    return sum(_count_leaves(c) for c in _children(node))


def _fields(node: Node) -> set[str]:
    if isinstance(node, FieldLeaf):
        return {node.field}
    return set().union(*(_fields(c) for c in _children(node)))


def _event_types(node: Node) -> set[str]:
    if isinstance(node, EventLeaf):
        return {node.event_type}
    return set().union(*(_event_types(c) for c in _children(node)))


def _windowed(node: Node) -> bool:
    if isinstance(node, EventLeaf):
        return node.within_days is not None
    return any(_windowed(c) for c in _children(node))


def _enters_by_time(node: Node, *, negated: bool) -> bool:
    if isinstance(node, EventLeaf):
        return negated and node.within_days is not None
    if isinstance(node, Not):
        return _enters_by_time(node.part, negated=not negated)
    return any(_enters_by_time(c, negated=negated) for c in _children(node))


def windowed_leaves(node: Node) -> list[EventLeaf]:
    """The event leaves with a time window (their expiry decides when a membership must be re-checked)."""
    if isinstance(node, EventLeaf):
        return [node] if node.within_days is not None else []
    return [leaf for c in _children(node) for leaf in windowed_leaves(c)]


def _document(node: Node) -> dict[str, Any]:
    if isinstance(node, AllOf):
        return {"all": [_document(p) for p in node.parts]}
    if isinstance(node, AnyOf):
        return {"any": [_document(p) for p in node.parts]}
    if isinstance(node, Not):
        return {"not": _document(node.part)}
    if isinstance(node, EventLeaf):
        out: dict[str, Any] = {"event": node.event_type}
        if node.source is not None:
            out["where"] = node.source
        if node.at_least != 1:
            out["at_least"] = node.at_least
        if node.within_days is not None:
            out["within_days"] = node.within_days
        return out
    value = node.value
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, tuple):
        value = [v.isoformat() if isinstance(v, datetime) else v for v in value]
    if node.kind is Kind.ID and node.operator != "exists":
        value = [str(v) for v in value] if isinstance(value, list) else str(value)
    return {"field": node.field, node.operator: value}


# -- the text syntax ---------------------------------------------------------------------------------------------
TEXT_SYNTAX = """\
expression := term (("and" | "or") term)*        -- "and" binds tighter than "or"; parentheses group
term       := "not" term | "(" expression ")" | field-test | event-test
field-test := FIELD "=" | "!=" | ">" | ">=" | "<" | "<=" | "is" | "is not" | "contains" | "starts_with"
              | "ends_with" VALUE
            | FIELD "in" | "not in" "[" VALUE ("," VALUE)* "]"
            | FIELD "between" VALUE "and" VALUE
            | FIELD "exists" | FIELD "is missing"
event-test := ("did" | "never did") EVENT ["where" (field-test | "(" event-expression ")")]
              ["at least" N ("times" | "time")] ["in the last" N ("days" | "day")]
            | "visited" PATH ...   -- did page_view where path starts_with PATH
VALUE      := "double-quoted text" | number | true | false | bare-word
"""

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w./@-]))
    | (?P<op>!=|>=|<=|=|>|<|\(|\)|\[|\]|,)
    | (?P<word>[A-Za-z_/][\w./@:+-]*)
    )""", re.VERBOSE)
_COMPARISON = {"=": "equals", "is": "equals", "!=": "not_equals", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte",
               "contains": "contains", "starts_with": "starts_with", "ends_with": "ends_with"}
_COUNT_WORDS = {"once": 1, "twice": 2}
_KEYWORDS = frozenset({"and", "or", "not", "in", "between", "exists", "is", "missing", "did", "never", "where",
                       "at", "least", "times", "time", "the", "last", "days", "day", "visited", "once", "twice",
                       "true", "false", "contains", "starts_with", "ends_with"})


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string | number | op | word | end
    text: str
    position: int


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        if source[position:].strip() == "":
            break
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            at = len(source) - len(source[position:].lstrip())
            raise FilterError(f"column {at + 1}", f"unexpected character {source[at]!r}")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(_Token("end", "", len(source)))
    return tokens


class _TextParser:
    """Recursive descent over the tokens; produces the JSON form, which `parse_filter` then validates."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0

    # token helpers
    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def error(self, reason: str, token: _Token | None = None) -> FilterError:
        token = token or self.token
        found = f"found {token.text!r}" if token.kind != "end" else "found the end"
        return FilterError(f"column {token.position + 1}", f"{reason}; {found}")

    def is_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.text.lower() in words

    def take_word(self, *words: str) -> bool:
        if self.is_word(*words):
            self.index += 1
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.take_word(word):
            raise self.error(f"expected {word!r}")

    def take_op(self, op: str) -> bool:
        if self.token.kind == "op" and self.token.text == op:
            self.index += 1
            return True
        return False

    # grammar
    def parse(self) -> dict[str, Any]:
        node = self.expression()
        if self.token.kind != "end":
            raise self.error("expected 'and', 'or' or the end")
        return {"format": FORMAT, "where": node}

    def expression(self) -> dict[str, Any]:
        parts = [self.conjunction()]
        while self.take_word("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else {"any": parts}

    def conjunction(self) -> dict[str, Any]:
        parts = [self.term()]
        while self.take_word("and"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else {"all": parts}

    def term(self) -> dict[str, Any]:
        if self.take_word("not"):
            return {"not": self.term()}
        if self.take_op("("):
            node = self.expression()
            if not self.take_op(")"):
                raise self.error("expected ')'")
            return node
        if self.is_word("did", "never", "visited"):
            return self.event_test()
        return self.field_test()

    def event_test(self) -> dict[str, Any]:
        negated = self.take_word("never")
        node: dict[str, Any]
        if self.take_word("visited"):
            node = {"event": "page_view", "where": {"field": "path", "starts_with": self.value()}}
        else:
            self.expect_word("did")
            if self.token.kind != "word" or self.token.text.lower() in _KEYWORDS:
                raise self.error("expected an event type after 'did'")
            node = {"event": self.token.text}
            self.index += 1
            if self.take_word("where"):
                if self.take_op("("):
                    node["where"] = self.expression()
                    if not self.take_op(")"):
                        raise self.error("expected ')'")
                else:
                    node["where"] = self.field_test()
        self.event_suffix(node)
        return {"not": node} if negated else node

    def event_suffix(self, node: dict[str, Any]) -> None:
        if self.is_word("once", "twice"):
            node["at_least"] = _COUNT_WORDS[self.token.text.lower()]
            self.index += 1
        elif self.take_word("at"):
            self.expect_word("least")
            if self.is_word("once", "twice"):
                node["at_least"] = _COUNT_WORDS[self.token.text.lower()]
                self.index += 1
            else:
                node["at_least"] = self.whole_number()
                if not self.take_word("times", "time"):
                    raise self.error("expected 'times'")
        if self.take_word("in"):
            self.take_word("the")
            self.expect_word("last")
            node["within_days"] = self.whole_number()
            if not self.take_word("days", "day"):
                raise self.error("expected 'days'")

    def whole_number(self) -> int:
        token = self.token
        if token.kind != "number" or not token.text.lstrip("-").isdigit():
            raise self.error("expected a whole number")
        self.index += 1
        return int(token.text)

    def field_test(self) -> dict[str, Any]:
        token = self.token
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.error("expected a field name, 'did', 'never did', 'visited', 'not' or '('")
        self.index += 1
        field = token.text
        if self.take_word("exists"):
            return {"field": field, "exists": True}
        if self.take_word("is"):
            if self.take_word("missing"):
                return {"field": field, "exists": False}
            op = "not_equals" if self.take_word("not") else "equals"
            return {"field": field, op: self.value()}
        if self.take_word("not"):
            if not self.take_word("in"):
                raise self.error("expected 'in' after 'not'")
            return {"field": field, "not_in": self.value_list()}
        if self.take_word("in"):
            return {"field": field, "in": self.value_list()}
        if self.take_word("between"):
            low = self.value()
            self.expect_word("and")
            return {"field": field, "between": [low, self.value()]}
        op_token = self.token
        name = op_token.text.lower() if op_token.kind in ("op", "word") else ""
        if name not in _COMPARISON or name == "is":
            raise self.error(f"expected an operator after {field!r} (=, !=, >, >=, <, <=, in, not in, between, "
                             "contains, starts_with, ends_with, exists, is missing)")
        self.index += 1
        return {"field": field, _COMPARISON[name]: self.value()}

    def value_list(self) -> list[Any]:
        if not self.take_op("["):
            raise self.error("expected '[' to open a list")
        values = [self.value()]
        while self.take_op(","):
            values.append(self.value())
        if not self.take_op("]"):
            raise self.error("expected ',' or ']'")
        return values

    def value(self) -> Any:
        token = self.token
        if token.kind == "string":
            self.index += 1
            try:
                return json.loads(token.text)
            except json.JSONDecodeError:
                raise self.error("invalid escape in text", token) from None
        if token.kind == "number":
            self.index += 1
            number = float(token.text)
            return int(token.text) if token.text.lstrip("-").isdigit() else number
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            self.index += 1
            return token.text.lower() == "true"
        if token.kind == "word" and token.text.lower() not in _KEYWORDS:
            self.index += 1
            return token.text
        raise self.error("expected a value (\"text\", number, true, false or a bare word)")


def parse_text(source: str) -> Filter:
    """Parse the readable syntax (`TEXT_SYNTAX`) into the same `Filter` the JSON form gives. Syntax errors
    name the column; meaning errors (unknown field, wrong kind) name the node of the JSON form."""
    if len(source) > MAX_SOURCE:
        raise FilterError("", f"the filter is longer than {MAX_SOURCE} characters")
    if not source.strip():
        raise FilterError("", "empty filter")
    parser = _TextParser(source)
    try:
        document = parser.parse()
    except RecursionError:
        raise FilterError("", f"nested more than {MAX_DEPTH} levels deep") from None
    return parse_filter(document)


# -- evaluation in Python (the reference the SQL is tested against) ---------------------------------------------
MISSING: Any = event_conditions.MISSING


@dataclass(frozen=True, slots=True)
class EventFacts:
    type: str
    occurred_at: datetime
    fields: Mapping[str, Any]  # path, url, ..., properties.<key>


LeadFacts = Callable[[str], Any]  # field name -> value, MISSING or None


def evaluate(flt: Filter, lead: LeadFacts, events: Sequence[EventFacts], now: datetime) -> bool:
    """Does a lead (its fields, its events) meet the filter at `now`? Slow and obvious on purpose."""
    return _eval(flt.root, lead, events, now)


def _eval(node: Node, lead: LeadFacts, events: Sequence[EventFacts], now: datetime) -> bool:
    if isinstance(node, AllOf):
        return all(_eval(p, lead, events, now) for p in node.parts)
    if isinstance(node, AnyOf):
        return any(_eval(p, lead, events, now) for p in node.parts)
    if isinstance(node, Not):
        return not _eval(node.part, lead, events, now)
    if isinstance(node, EventLeaf):
        return _event_count(node, events, now) >= node.at_least
    return _leaf(node, lead(node.field))


def _event_count(leaf: EventLeaf, events: Sequence[EventFacts], now: datetime) -> int:
    since = now - timedelta(days=leaf.within_days) if leaf.within_days is not None else None
    predicate = event_conditions.compile_condition(leaf.where) if leaf.where is not None else None
    count = 0
    for event in events:
        if event.type != leaf.event_type or (since is not None and event.occurred_at < since):
            continue
        if predicate is None or predicate(event.fields.get):  # a missing key reads as None: missing
            count += 1
    return count


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return isinstance(a, datetime) and isinstance(b, datetime)
    return event_conditions.same_kind(a, b)


def _equal(a: Any, b: Any) -> bool:
    return _same_kind(a, b) and bool(a == b)


def _compare(op: str, value: Any, expected: Any) -> bool:
    if op == "between":
        return bool(expected[0] <= value <= expected[1])
    return bool({"gt": value > expected, "gte": value >= expected, "lt": value < expected,
                 "lte": value <= expected}[op])


def _leaf(leaf: FieldLeaf, value: Any) -> bool:
    op, expected = leaf.operator, leaf.value
    if op == "exists":
        return (value not in (MISSING, None, "")) is expected
    if value is MISSING or value is None:
        return op in MISSING_SATISFIES
    if op == "equals":
        return _equal(value, expected)
    if op == "not_equals":
        return not _equal(value, expected)
    if op in ("in", "not_in"):
        hit = any(_equal(value, m) for m in expected)
        return hit if op == "in" else not hit
    if op in _COMPARE:
        probe = expected[0] if op == "between" else expected
        if not _same_kind(value, probe) or isinstance(value, bool | str):
            return False
        return _compare(op, value, expected)
    if not isinstance(value, str):
        return False
    if op == "contains":
        return bool(expected in value)
    if op == "starts_with":
        return value.startswith(expected)
    return value.endswith(expected)
