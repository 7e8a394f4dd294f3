"""Applying marketing touches to a lead: first touch, last touch and last non-direct touch."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, bindparam, update
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
    """The touches a batch of events brings, applied with three set-based UPDATEs instead of loading leads.

    The same rules as `apply_touch`, written as conditions in SQL: an earlier touch than the stored first
    touch replaces it; the latest touch (and latest non-direct touch) replaces the stored one when it is not
    older.
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
        conn = session.connection()
        now = utcnow()
        for chosen, (stmt, names) in zip((self.first, self.last, self.last_non_direct), _touch_updates(),
                                         strict=True):
            if chosen:
                rows = []
                for lead_id, (at, touch) in chosen.items():
                    values = {"_ws": workspace_id, "_id": lead_id, "_at": at, "_now": now, "_channel": touch.channel,
                              "_campaign": touch.campaign,
                              "_touch": {k: v for k, v in touch.as_dict().items() if v is not None}}
                    rows.append(tuple(values[name] for name in names))
                executemany(conn, stmt, names, rows)


@lru_cache(maxsize=1)
def _touch_updates() -> tuple[tuple[ClauseElement, tuple[str, ...]], ...]:
    """(statement, its parameter names) for the first, last and last non-direct touch."""
    leads = Lead.__table__
    c = leads.c

    def stmt(condition: ColumnElement[bool], targets: dict[str, str]) -> tuple[ClauseElement, tuple[str, ...]]:
        targets = {**targets, "updated_at": "_now"}
        values = {column: bindparam(param, type_=c[column].type) for column, param in targets.items()}
        where = (c.workspace_id == bindparam("_ws")) & (c.id == bindparam("_id")) & condition
        return update(leads).where(where).values(values), ("_ws", "_id", *dict.fromkeys(targets.values()))

    at = bindparam("_at", type_=c.first_touch_at.type)
    return (
        stmt(c.first_touch_at.is_(None) | (c.first_touch_at > at),
             {"first_touch": "_touch", "first_touch_at": "_at", "first_channel": "_channel",
              "first_campaign": "_campaign"}),
        stmt(c.last_touch_at.is_(None) | (c.last_touch_at <= at),
             {"last_touch": "_touch", "last_touch_at": "_at", "last_channel": "_channel"}),
        stmt(c.last_non_direct_touch_at.is_(None) | (c.last_non_direct_touch_at <= at),
             {"last_non_direct_touch": "_touch", "last_non_direct_touch_at": "_at",
              "last_non_direct_channel": "_channel", "last_non_direct_campaign": "_campaign"}),
    )
