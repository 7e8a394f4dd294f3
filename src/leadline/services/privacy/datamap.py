"""Where a lead's data lives, found by introspecting the schema so that tables added later are covered.

* **Generic:** every table with a `lead_id` column or a foreign key to `leads.id` holds rows about one lead;
  tables whose rows reference those rows (a delivery's attempts) follow them (`children`).
* **Explicit:** data keyed otherwise: events (current owner, subject as received, anonymous visitor ids),
  event keys (by the events' client ids), merges (survivor or merged id), the lead's company when no other lead
  uses it, and the leads merged into this one.
* **Not personal:** tables that never hold a lead's data (`NOT_LEAD_DATA`, each with its reason). A new table
  that is neither found by the generic rule nor listed here makes the planted-marker test fail, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from sqlalchemy import Column, Table

from leadline.storage.tables import Base

#: Tables handled by name (keyed otherwise than by a lead id, or the lead itself).
EXPLICIT: frozenset[str] = frozenset({"leads", "events", "event_keys", "visitors", "lead_merges", "companies"})

#: Tables that hold no person's data, and why.
NOT_LEAD_DATA: dict[str, str] = {
    "workspaces": "the customer's account settings",
    "api_keys": "hashed keys of the workspace's integrations",
    "users": "the workspace's own staff (not prospects)",
    "campaigns": "marketing campaigns and their costs",
    "forms": "form definitions",
    "scoring_models": "rule documents written by marketers",
    "segments": "saved filters and lists, written by marketers",
    "assignment_rules": "routing rules",
    "experiments": "A/B test definitions",
    "webhook_subscriptions": "receiver URLs and secrets",
    "workflows": "nurture workflow definitions, written by marketers",
    "broadcasts": "one-off sends: a template and a segment, written by marketers",
    "email_engagement_counts": "opens and clicks counted per workflow step or broadcast, without any identifier",
    "nurture_settings": "the workspace's sending settings (SMTP server, sender, caps)",
    "web_sessions": "the staff's own app logins (hashed session tokens)",
    "tracking_settings": "the workspace's website snippet settings (public key, allowed sites)",
    "tracking_page_counts": "page views counted per day and path without any identifier (no consent, bots)",
    "prediction_models": "trained models: aggregate parameters; retraining after an erasure drops the person "
                         "from the next model (a model is never trained on one person)",
    "suppressions": "keyed hashes only (HMAC with the instance secret): cannot be read back",
    "audit_log": "ids and counts, never personal data (append-only)",
    "privacy_requests": "keyed hash of the address, dates and the identity-check method",
    "privacy_settings": "retention rules",
    "event_monthly_counts": "aggregate counts kept when raw events expire",
}


def _names_a_lead(column: Column[object]) -> bool:
    return column.name == "lead_id" or any(
        fk.column.table.name == "leads" and fk.column.name == "id" for fk in column.foreign_keys)


def lead_columns(table: Table) -> list[Column[object]]:
    return [c for c in table.columns if _names_a_lead(c)]


@cache
def generic_tables() -> list[tuple[Table, list[Column[object]]]]:
    """Tables found by the generic rule, children before parents (a safe deletion order). Computed once: the
    schema is complete when the models are imported."""
    found = []
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in EXPLICIT:
            continue
        columns = lead_columns(table)
        if columns:
            found.append((table, columns))
    return found


def children(table: Table) -> Iterator[tuple[Table, Column[object], Column[object]]]:
    """(child table, its foreign-key column, the referenced column) for tables that reference `table`."""
    yield from _references().get(table.name, ())


@cache
def _references() -> dict[str, tuple[tuple[Table, Column[object], Column[object]], ...]]:
    found: dict[str, list[tuple[Table, Column[object], Column[object]]]] = {}
    for other in Base.metadata.sorted_tables:
        for column in other.columns:
            for fk in column.foreign_keys:
                if fk.column.table is not other:
                    found.setdefault(fk.column.table.name, []).append((other, column, fk.column))
    return {name: tuple(items) for name, items in found.items()}


def unclassified() -> list[str]:
    """Tables neither reached (generic or explicit) nor declared free of personal data."""
    reached = {t.name for t, _ in generic_tables()} | EXPLICIT
    frontier = [Base.metadata.tables[name] for name in reached]
    while frontier:  # rows of tables that reference reached rows are reached too (a delivery's attempts)
        table = frontier.pop()
        for child, _, _ in children(table):
            if child.name not in reached and child.name not in NOT_LEAD_DATA:
                reached.add(child.name)
                frontier.append(child)
    return sorted(t for t in Base.metadata.tables if t not in reached and t not in NOT_LEAD_DATA)
