"""Segment filters as SQL (SQLAlchemy Core): every value is a bound parameter, never text in the statement.

The meaning is `core.segments.evaluate`'s (tests hold the two to the same members): text operators are
case-sensitive and run as substr/instr (strpos/right on PostgreSQL), so `%` and `_` in a value are plain
characters; a missing value (NULL) satisfies only `not_equals`, `not_in` and `exists: false`.

Event conditions come in two shapes, chosen by the caller:
- `scan` (a whole workspace: counts, first build): `leads.id IN (SELECT lead_id FROM events WHERE type = ...
  GROUP BY lead_id HAVING count(*) >= N)`, one pass over the matching events;
- `probe` (a few leads: re-checking dirty ones): a correlated `EXISTS` / `count(*)` per lead through the
  `(workspace_id, lead_id, occurred_at)` index.
Event `where` conditions compile with scoring's compiler, so a segment reads an event as a scoring rule does.
Every query is filtered by workspace and leaves merged-away leads out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Numeric,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.expression import FromClause

from leadline.core.segments import AllOf, EventLeaf, FieldLeaf, Filter, Kind, Node, Not
from leadline.storage.scoring_sql import _Compiler as EventConditionCompiler
from leadline.storage.tables import Company, Event, Lead

Mode = Literal["scan", "probe"]

LEADS = Lead.__table__
COMPANIES = Company.__table__
EVENTS = Event.__table__


def _safe(expr: ColumnElement[Any]) -> ColumnElement[bool]:
    """NULL (missing) becomes false, so that NOT of it is true, as in Python."""
    return type_coerce(func.coalesce(expr, false()), Boolean)


class _Custom:
    """`custom.<key>` in the lead's JSON document, read with its JSON kind (the key is checked at parse time:
    letters, digits, _ and -, so the JSON path holds no quote; it is a bound parameter anyway)."""

    def __init__(self, key: str, pg: bool) -> None:
        self.key, self.pg = key, pg
        self.column = LEADS.c.custom

    def kind(self) -> ColumnElement[Any]:
        if self.pg:
            kind = func.jsonb_typeof(self.column.op("->")(self.key))
            return case((kind == "string", "text"), (kind == "number", "number"), (kind == "boolean", "boolean"),
                        (kind == "null", "null"), else_=kind)
        kind = func.json_type(self.column, f'$."{self.key}"')
        return case((kind.in_(("integer", "real")), "number"), (kind.in_(("true", "false")), "boolean"),
                    else_=kind)

    def text(self) -> ColumnElement[Any]:
        raw = self.column.op("->>")(self.key) if self.pg else func.json_extract(self.column, f'$."{self.key}"')
        return case((self.kind() == "text", raw))

    def number(self) -> ColumnElement[Any]:
        raw = self.column.op("->>")(self.key) if self.pg else func.json_extract(self.column, f'$."{self.key}"')
        return case((self.kind() == "number", cast(raw, Numeric) if self.pg else raw))

    def boolean(self) -> ColumnElement[Any]:
        if self.pg:
            return case((self.kind() == "boolean", cast(self.column.op("->>")(self.key), Boolean)))
        kind = func.json_type(self.column, f'$."{self.key}"')
        return case((kind == "true", true()), (kind == "false", false()))

    def present(self) -> ColumnElement[bool]:
        kind = self.kind()
        return and_(kind.is_not(None), kind != "null", or_(kind != "text", self.text() != ""))

    def typed(self, value: Any) -> ColumnElement[Any]:
        if isinstance(value, bool):
            return self.boolean()
        return self.text() if isinstance(value, str) else self.number()


class SegmentCompiler:
    def __init__(self, *, workspace_id: int, now: datetime, dialect: str, mode: Mode) -> None:
        self.workspace_id, self.now, self.mode = workspace_id, now, mode
        self.pg = dialect == "postgresql"
        self.events = EventConditionCompiler(dialect)

    # -- field leaves -------------------------------------------------------------------------------------------
    def _column(self, field: str) -> ColumnElement[Any]:
        if field.startswith("company."):
            return COMPANIES.c[field.removeprefix("company.")]
        return LEADS.c[field]

    def _typed(self, leaf: FieldLeaf, value: Any) -> ColumnElement[Any]:
        if leaf.kind is Kind.JSON:
            return _Custom(leaf.field.removeprefix("custom."), self.pg).typed(value)
        return self._column(leaf.field)

    def _present(self, leaf: FieldLeaf) -> ColumnElement[bool]:
        if leaf.kind is Kind.JSON:
            return _safe(_Custom(leaf.field.removeprefix("custom."), self.pg).present())
        column = self._column(leaf.field)
        if leaf.kind is Kind.TEXT:
            return and_(column.is_not(None), column != "")
        return column.is_not(None)

    def _text_op(self, typed: ColumnElement[Any], op: str, value: str) -> ColumnElement[bool]:
        if op == "starts_with":
            return func.substr(typed, 1, len(value)) == value
        if op == "ends_with":
            return (func.right(typed, len(value)) if self.pg else func.substr(typed, -len(value))) == value
        return (func.strpos(typed, value) if self.pg else func.instr(typed, value)) > 0

    def field(self, leaf: FieldLeaf) -> ColumnElement[bool]:
        op, value = leaf.operator, leaf.value
        if op == "exists":
            present = self._present(leaf)
            return present if value else not_(present)
        if op in ("equals", "not_equals"):
            hit = _safe(self._typed(leaf, value) == value)
            return hit if op == "equals" else not_(hit)
        if op in ("in", "not_in"):
            hit = _safe(or_(*(self._typed(leaf, v) == v for v in value)))
            return hit if op == "in" else not_(hit)
        typed = self._typed(leaf, value[0] if op == "between" else value)
        if op == "between":
            return _safe(typed.between(value[0], value[1]))
        if op in ("gt", "gte", "lt", "lte"):
            return _safe({"gt": typed > value, "gte": typed >= value, "lt": typed < value,
                          "lte": typed <= value}[op])
        return _safe(self._text_op(typed, op, value))

    # -- event leaves -------------------------------------------------------------------------------------------
    def event_match(self, leaf: EventLeaf) -> ColumnElement[bool]:
        """The events this leaf counts (any lead's), as a WHERE clause on `events`."""
        parts: list[ColumnElement[bool]] = [EVENTS.c.workspace_id == self.workspace_id,
                                            EVENTS.c.type == leaf.event_type]
        if leaf.within_days is not None:
            parts.append(EVENTS.c.occurred_at >= self.now - timedelta(days=leaf.within_days))
        if leaf.where is not None:
            parts.append(_safe(self.events.condition(leaf.where)))
        return and_(*parts)

    def event(self, leaf: EventLeaf) -> ColumnElement[bool]:
        match = self.event_match(leaf)
        if self.mode == "probe":
            correlated = and_(match, EVENTS.c.lead_id == LEADS.c.id)
            if leaf.at_least == 1:
                return exists(select(EVENTS.c.id).where(correlated))
            counted = select(func.count()).select_from(EVENTS).where(correlated).scalar_subquery()
            return counted >= leaf.at_least
        # coalesce: anonymous events (NULL lead) read as lead 0, which is no lead, so NOT IN stays exact; and no
        # predicate on lead_id tempts SQLite into walking the whole (workspace, lead) index in lead order.
        lead = func.coalesce(EVENTS.c.lead_id, 0)
        grouped = select(lead).where(match)
        if leaf.at_least > 1:
            grouped = grouped.group_by(lead).having(func.count() >= leaf.at_least)
        return LEADS.c.id.in_(grouped)

    # -- the tree -----------------------------------------------------------------------------------------------
    def node(self, node: Node) -> ColumnElement[bool]:
        if isinstance(node, FieldLeaf):
            return self.field(node)
        if isinstance(node, EventLeaf):
            return self.event(node)
        if isinstance(node, Not):
            return not_(self.node(node.part))
        parts = [self.node(p) for p in node.parts]
        return and_(*parts) if isinstance(node, AllOf) else or_(*parts)


def _reads_company(flt: Filter) -> bool:
    return any(name.startswith("company.") for name in flt.fields)


def _source(flt: Filter) -> FromClause:
    if _reads_company(flt):
        return LEADS.outerjoin(COMPANIES, COMPANIES.c.id == LEADS.c.company_id)
    return LEADS


def matching_leads(flt: Filter, *, workspace_id: int, now: datetime, dialect: str, mode: Mode = "scan",
                   lead_ids: list[int] | None = None) -> Select[tuple[int]]:
    """`SELECT leads.id` of the workspace's current (not merged-away) leads that meet the filter at `now`,
    among `lead_ids` when given."""
    compiler = SegmentCompiler(workspace_id=workspace_id, now=now, dialect=dialect, mode=mode)
    query = select(LEADS.c.id).select_from(_source(flt)).where(
        LEADS.c.workspace_id == workspace_id, LEADS.c.merged_into_id.is_(None), compiler.node(flt.root))
    if lead_ids is not None:
        query = query.where(LEADS.c.id.in_(lead_ids))
    return query


def count_query(flt: Filter, *, workspace_id: int, now: datetime, dialect: str) -> Select[tuple[int]]:
    inner = matching_leads(flt, workspace_id=workspace_id, now=now, dialect=dialect, mode="scan")
    return select(func.count()).select_from(inner.subquery())


def window_starts(leaf: EventLeaf, *, workspace_id: int, now: datetime, dialect: str, lead_ids: list[int]
                  ) -> Select[tuple[int, datetime]]:
    """Per lead, the oldest event this windowed leaf counts now: the leaf's count first drops when that event
    leaves the window (`occurred_at + within_days`), the next moment membership may change by time alone."""
    compiler = SegmentCompiler(workspace_id=workspace_id, now=now, dialect=dialect, mode="probe")
    return (select(EVENTS.c.lead_id, func.min(EVENTS.c.occurred_at))
            .where(compiler.event_match(leaf), EVENTS.c.lead_id.in_(lead_ids))
            .group_by(EVENTS.c.lead_id))
