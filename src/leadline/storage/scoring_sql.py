"""Engagement rules as SQL, for bulk rescoring.

The same condition tree that `core.scoring.conditions` compiles to Python is compiled here to SQL, with the
same meaning (case-sensitive text operators, no cross-kind equality, missing values satisfying only
`not_equals`, `not_in` and `exists: false`): the property test in tests/services/scoring holds the two paths
to the same results. Regular expressions run Python's `re` on SQLite (a registered function) and
PostgreSQL's `~` there (keep patterns to the common subset: classes, alternation, anchors, `(?i)` excepted).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Numeric,
    Select,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    not_,
    or_,
    table,
    true,
    type_coerce,
)
from sqlalchemy.sql.expression import TableClause

from leadline.core.scoring.conditions import AllOf, Condition, Leaf, Not
from leadline.core.scoring.model import EngagementRule
from leadline.core.scoring.signals import AUTOMATED_PROPERTY, CHECKED_TYPES
from leadline.storage.tables import Event

_EVENTS = Event.__table__
#: Below this exponent the decay factor is 0 (PostgreSQL's power() raises on underflow instead).
_MIN_EXPONENT = -1000.0


def register_sqlite_functions(conn: Connection) -> None:
    """`REGEXP` on SQLite runs Python's `re`, exactly as real-time scoring does."""
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if raw is None:
        return
    cache: dict[str, re.Pattern[str]] = {}

    def regexp(pattern: str, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        compiled = cache.get(pattern) or cache.setdefault(pattern, re.compile(pattern))
        return compiled.search(value) is not None

    raw.create_function("regexp", 2, regexp, deterministic=True)


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"

    # -- properties.<key> ------------------------------------------------------------------------------
    def _json_kind(self, key: str) -> ColumnElement[Any]:
        """'text' | 'number' | 'boolean' | NULL (missing or JSON null)."""
        if self.pg:
            kind = func.jsonb_typeof(_EVENTS.c.properties.op("->")(key))
            return case((kind == "string", "text"), (kind == "number", "number"), (kind == "boolean", "boolean"))
        kind = func.json_type(_EVENTS.c.properties, f'$."{key}"')
        return case((kind == "text", "text"), (kind.in_(("integer", "real")), "number"),
                    (kind.in_(("true", "false")), "boolean"))

    def _json_text(self, key: str) -> ColumnElement[Any]:
        if self.pg:
            return _EVENTS.c.properties.op("->>")(key)
        return func.json_extract(_EVENTS.c.properties, f'$."{key}"')

    def _json_number(self, key: str) -> ColumnElement[Any]:
        if self.pg:  # NUMERIC, not float: exact like Python's int comparisons, and no overflow on 1e400
            return case((self._json_kind(key) == "number", cast(self._json_text(key), Numeric)))
        return case((self._json_kind(key) == "number", func.json_extract(_EVENTS.c.properties, f'$."{key}"')))

    def _json_bool(self, key: str) -> ColumnElement[Any]:
        if self.pg:
            return case((self._json_kind(key) == "boolean", cast(self._json_text(key), Boolean)))
        kind = func.json_type(_EVENTS.c.properties, f'$."{key}"')
        return case((kind == "true", true()), (kind == "false", false()))

    # -- leaves ------------------------------------------------------------------------------------------
    def _typed(self, field: str, value: Any) -> ColumnElement[Any] | None:
        """The field as SQL of the same kind as `value`; None when the field can never hold that kind."""
        if field.startswith("properties."):
            key = field.removeprefix("properties.")
            if isinstance(value, bool):
                return self._json_bool(key)
            if isinstance(value, str):
                return case((self._json_kind(key) == "text", self._json_text(key)))
            return self._json_number(key)
        column = _EVENTS.c[field]
        return column if isinstance(value, str) else None  # promoted event fields are all text

    def _present(self, field: str) -> ColumnElement[bool]:
        """Any value but JSON null and the empty text (arrays and objects are present, as in Python)."""
        if field.startswith("properties."):
            key = field.removeprefix("properties.")
            if self.pg:
                kind = func.jsonb_typeof(_EVENTS.c.properties.op("->")(key))
                return and_(kind.is_not(None), kind != "null",
                            or_(kind != "string", self._json_text(key) != ""))
            kind = func.json_type(_EVENTS.c.properties, f'$."{key}"')
            return and_(kind.is_not(None), kind != "null", or_(kind != "text", self._json_text(key) != ""))
        column = _EVENTS.c[field]
        return and_(column.is_not(None), column != "")

    def _equals(self, field: str, value: Any) -> ColumnElement[bool]:
        typed = self._typed(field, value)
        return false() if typed is None else typed == value

    def _text_op(self, field: str, op: str, value: str) -> ColumnElement[bool]:
        typed = self._typed(field, value)
        if typed is None:
            return false()
        if op == "starts_with":
            return func.substr(typed, 1, len(value)) == value
        if op == "ends_with":
            return (func.right(typed, len(value)) if self.pg else func.substr(typed, -len(value))) == value
        if op == "contains":
            return (func.strpos(typed, value) if self.pg else func.instr(typed, value)) > 0
        return typed.op("~")(value) if self.pg else typed.op("REGEXP")(value)

    def leaf(self, leaf: Leaf) -> ColumnElement[bool]:
        field, op, value = leaf.field, leaf.operator, leaf.value
        if op == "exists":
            present = self._present(field)
            return present if value else not_(present)
        if op == "equals":
            expr = self._equals(field, value)
        elif op == "not_equals":
            return not_(_safe(self._equals(field, value)))
        elif op in ("in", "not_in"):
            hit = or_(*(self._equals(field, v) for v in value))
            return _safe(hit) if op == "in" else not_(_safe(hit))
        elif op in ("gt", "gte", "lt", "lte", "between"):
            number = self._typed(field, 0)
            if number is None:
                return false()
            expr = {"gt": lambda: number > value, "gte": lambda: number >= value, "lt": lambda: number < value,
                    "lte": lambda: number <= value, "between": lambda: number.between(value[0], value[1])}[op]()
        else:
            expr = self._text_op(field, op, value)
        return _safe(expr)

    def condition(self, condition: Condition) -> ColumnElement[bool]:
        if isinstance(condition, Leaf):
            return self.leaf(condition)
        if isinstance(condition, Not):
            return not_(self.condition(condition.part))
        parts = [self.condition(p) for p in condition.parts]
        return and_(*parts) if isinstance(condition, AllOf) else or_(*parts)


def _safe(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """NULL (a missing value) becomes false, so NOT of it is true, as in Python."""
    return type_coerce(func.coalesce(expr, false()), Boolean)


def rule_match(rule: EngagementRule, dialect: str) -> ColumnElement[bool]:
    """Events this rule counts (before its daily cap): type, condition, and not flagged as automated."""
    expr: ColumnElement[bool] = _EVENTS.c.type == rule.event
    if rule.condition is not None:
        expr = and_(expr, _Compiler(dialect).condition(rule.condition))
    if rule.event in CHECKED_TYPES:  # flagged at ingest: the key is there at all (as real time checks it)
        flagged = (_EVENTS.c.properties.op("?", is_comparison=True)(AUTOMATED_PROPERTY) if dialect == "postgresql" else
                   func.json_type(_EVENTS.c.properties, f'$."{AUTOMATED_PROPERTY}"').is_not(None))
        expr = and_(expr, not_(func.coalesce(flagged, false())))
    return expr


def seconds_since(moment: datetime, dialect: str) -> ColumnElement[float]:
    """occurred_at - moment, in seconds, exact to the microsecond on both databases.

    SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds by unixepoch(), the fraction read as a number
    (its julianday() keeps only milliseconds, which would put bulk and real time apart).
    """
    moment = moment.astimezone(UTC)
    column = _EVENTS.c.occurred_at
    if dialect == "postgresql":
        return cast(func.extract("epoch", column - literal(moment)), Float)
    whole = int(moment.replace(microsecond=0).timestamp())
    seconds = func.unixepoch(func.substr(column, 1, 19)) - whole
    fraction = cast(func.substr(column, 20), Float) - moment.microsecond / 1e6
    return type_coerce(seconds + fraction, Float)


def decay_sum(rule: EngagementRule, seconds: ColumnElement[float], dialect: str) -> ColumnElement[float]:
    """2 ** ((occurred_at - T0) / half-life), or 1 for a rule that does not decay."""
    if rule.half_life_seconds is None:
        return literal(1.0, Float)
    exponent = seconds / rule.half_life_seconds
    power = func.power(2.0, exponent) if dialect == "postgresql" else func.pow(2.0, exponent)
    return case((exponent < _MIN_EXPONENT, 0.0), else_=power)


def utc_day(dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", _EVENTS.c.occurred_at), "YYYY-MM-DD")
    return func.substr(_EVENTS.c.occurred_at, 1, 10)


def materialize(conn: Connection, name: str, query: Select[Any]) -> TableClause:
    """Run `query` once into a temporary table (dropped by the caller) and return it for further queries."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = f"CREATE TEMPORARY TABLE {name} AS {compiled}"
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
    if compiled.positional:
        conn.exec_driver_sql(sql, tuple(compiled.params[key] for key in compiled.positiontup or ()))
    else:
        conn.exec_driver_sql(sql, compiled.params)
    return table(name, *(column(c.key) for c in query.selected_columns))
