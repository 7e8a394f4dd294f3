"""Applying marketing touches to a lead: first touch, last touch and last non-direct touch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam, case, or_, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement

from leadline.core.channels import Touch
from leadline.storage.bulk import executemany
from leadline.storage.tables import Lead
from leadline.storage.types import utcnow


def apply_touch(lead: Lead, touch: Touch, at: datetime) -> None:
    """Record `touch` seen at `at`. An earlier touch than the known first one becomes the first touch (a visitor
    identified late brings older history); later ones move the last touches."""
    if touch.is_empty():
        return
    touch = touch.with_derived_channel()
    data = {k: v for k, v in touch.as_dict().items() if v is not None}
    if lead.first_touch_at is None or at < lead.first_touch_at:
        lead.first_touch, lead.first_touch_at = data, at
        lead.first_channel, lead.first_campaign = touch.channel, touch.campaign
    if lead.last_touch_at is None or at >= lead.last_touch_at:
        lead.last_touch, lead.last_touch_at, lead.last_channel = data, at, touch.channel
    if not touch.is_direct and (lead.last_non_direct_touch_at is None or at >= lead.last_non_direct_touch_at):
        lead.last_non_direct_touch, lead.last_non_direct_touch_at = data, at
        lead.last_non_direct_channel, lead.last_non_direct_campaign = touch.channel, touch.campaign


class TouchBatch:
    """The touches a batch of events brings, applied with one set-based UPDATE per lead instead of loading leads.

    The same rules as `apply_touch`, written as conditions in SQL: an earlier touch than the stored first
    touch replaces it; the latest touch (and latest non-direct touch) replaces the stored one when it is not
    older. Each column is set by a `CASE` on its own condition (SQL evaluates every `SET` against the row as it
    was), and the row is only written when at least one condition holds.
    """

    def __init__(self) -> None:
        self.first: dict[int, tuple[datetime, Touch]] = {}
        self.last: dict[int, tuple[datetime, Touch]] = {}
        self.last_non_direct: dict[int, tuple[datetime, Touch]] = {}

    def add(self, lead_id: int, touch: Touch, at: datetime) -> None:
        """`touch` must already carry its derived channel."""
        first = self.first.get(lead_id)
        if first is None or at < first[0]:
            self.first[lead_id] = (at, touch)
        last = self.last.get(lead_id)
        if last is None or at >= last[0]:
            self.last[lead_id] = (at, touch)
        if touch.channel != "direct":
            lnd = self.last_non_direct.get(lead_id)
            if lnd is None or at >= lnd[0]:
                self.last_non_direct[lead_id] = (at, touch)

    def write(self, session: Session, workspace_id: int) -> None:
        if not self.last:
            return
        conn = session.connection()
        now = utcnow()
        # One document per distinct touch, shared by every lead it lands on (`executemany` encodes it once).
        documents: dict[Touch, dict[str, str | None]] = {}

        def document(touch: Touch) -> dict[str, str | None]:
            doc = documents.get(touch)
            if doc is None:
                doc = documents[touch] = {k: v for k, v in touch.as_dict().items() if v is not None}
            return doc

        with_lnd: list[tuple[Any, ...]] = []
        without_lnd: list[tuple[Any, ...]] = []
        first, lnds = self.first, self.last_non_direct
        for lead_id, (last_at, last) in self.last.items():
            first_at, first_touch = first[lead_id]
            row = (workspace_id, lead_id, now, first_at, document(first_touch), first_touch.channel,
                   first_touch.campaign, last_at, document(last), last.channel)
            lnd = lnds.get(lead_id)
            if lnd is None:
                without_lnd.append(row)
            else:
                lnd_at, lnd_touch = lnd
                with_lnd.append((*row, lnd_at, document(lnd_touch), lnd_touch.channel, lnd_touch.campaign))
        for rows, (stmt, names) in ((with_lnd, _touch_update(True)), (without_lnd, _touch_update(False))):
            if rows:
                executemany(conn, stmt, names, rows)


@lru_cache(maxsize=2)
def _touch_update(with_last_non_direct: bool) -> tuple[ClauseElement, tuple[str, ...]]:
    """(statement, its parameter names) moving the first, last and (optionally) last non-direct touch."""
    leads = Lead.__table__
    c = leads.c
    names = ["_ws", "_id"]

    def param(name: str, column: str) -> BindParameter[Any]:
        names.append(name)
        return bindparam(name, type_=c[column].type)

    values: dict[str, Any] = {"updated_at": param("_now", "updated_at")}
    conditions = []

    def plan(prefix: str, at_column: str, condition: Callable[[Any], ColumnElement[bool]],
             targets: dict[str, str]) -> None:
        at = param(f"_{prefix}_at", at_column)
        when = condition(at)
        conditions.append(when)
        values[at_column] = case((when, at), else_=c[at_column])
        for column, part in targets.items():
            values[column] = case((when, param(f"_{prefix}_{part}", column)), else_=c[column])

    plan("first", "first_touch_at", lambda at: c.first_touch_at.is_(None) | (c.first_touch_at > at),
         {"first_touch": "touch", "first_channel": "channel", "first_campaign": "campaign"})
    plan("last", "last_touch_at", lambda at: c.last_touch_at.is_(None) | (c.last_touch_at <= at),
         {"last_touch": "touch", "last_channel": "channel"})
    if with_last_non_direct:
        plan("lnd", "last_non_direct_touch_at",
             lambda at: c.last_non_direct_touch_at.is_(None) | (c.last_non_direct_touch_at <= at),
             {"last_non_direct_touch": "touch", "last_non_direct_channel": "channel",
              "last_non_direct_campaign": "campaign"})
    where = (c.workspace_id == bindparam("_ws")) & (c.id == bindparam("_id")) & or_(*conditions)
    return update(leads).where(where).values(values), tuple(names)
