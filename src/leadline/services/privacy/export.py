"""Access (GDPR Art. 15): everything held about a person, as complete JSON and as readable HTML.

The export walks the same map as erasure (`datamap`): the lead and the leads merged into it, their company,
events (including the person's anonymous visits), visitors, merges, and every row of every table with a
`lead_id` (stage history, scores and their explanation, emails, consents, webhook deliveries, segments,
predictions... and tables added later), plus the derived consent decisions and the suppression status.
"""

from __future__ import annotations

import html
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from leadline.core.identity import json_safe
from leadline.services.consent import may_email, may_profile, may_track
from leadline.services.privacy.datamap import children, generic_tables
from leadline.services.privacy.erasure import _anonymous_ids, _merge_condition, person_events, person_leads
from leadline.services.scoring.explain import explain_lead
from leadline.services.suppression import is_suppressed
from leadline.storage.tables import Company, Event, EventKey, Lead, LeadMerge, Visitor
from leadline.storage.types import utcnow

FORMAT = "leadline-export/1"


def _row(table: Table, row: Any) -> dict[str, Any]:
    values = {}
    for column in table.columns:
        value = row._mapping[column]
        if isinstance(value, bytes):
            value = f"<{len(value)} bytes>"
        values[column.name] = json_safe(value)
    return values


def _rows(session: Session, table: Table, condition: Any) -> list[dict[str, Any]]:
    order = list(table.primary_key.columns)
    return [_row(table, r) for r in session.execute(select(table).where(condition).order_by(*order))]


def _collect(session: Session, tables: dict[str, list[dict[str, Any]]], table: Table, condition: Any,
             depth: int = 0) -> None:
    """The rows, and the rows of tables that reference them (a webhook delivery's attempts), as erasure
    deletes them."""
    tables.setdefault(table.name, []).extend(
        row for row in _rows(session, table, condition) if row not in tables.get(table.name, []))
    if depth < 5:
        for child, column, referenced in children(table):
            if child.name != "leads":
                _collect(session, tables, child, column.in_(select(referenced).where(condition)), depth + 1)


def _explanation(session: Session, workspace_id: int, lead_id: int) -> dict[str, Any] | None:
    explanation = explain_lead(session, workspace_id, lead_id)
    result = explanation.result
    if result is None:
        return None
    return json_safe({
        "model_version": explanation.model_version, "score": result.score, "fit": result.fit,
        "engagement": result.engagement, "temperature": result.band.temperature.value,
        "rules": [{"name": r.name, "axis": r.axis, "points": round(r.points, 2), "occurrences": r.occurrences,
                   "last_fired_at": r.last_fired_at} for r in result.rules if r.points or r.occurrences],
    })


def export_person(session: Session, *, workspace_id: int, lead_id: int, key: bytes,
                  now: datetime | None = None) -> dict[str, Any]:
    """The complete export as a JSON-ready document."""
    leads = person_leads(session, workspace_id, lead_id)
    ids = [lead.id for lead in leads]
    main = leads[0]
    lead_table: Table = Lead.__table__  # type: ignore[assignment]
    anonymous = _anonymous_ids(session, workspace_id, ids)
    companies = {lead.company_id for lead in leads if lead.company_id is not None}
    events = person_events(session, workspace_id, ids, anonymous)
    event_ids = [event_id for event_id, _ in events]
    event_keys = [key for _, key in events if key is not None]
    tables: dict[str, list[dict[str, Any]]] = {
        "leads": _rows(session, lead_table, (Lead.workspace_id == workspace_id) & Lead.id.in_(ids)),
        "companies": _rows(session, Company.__table__, Company.id.in_(companies)) if companies else [],  # type: ignore[arg-type]
        "events": [row for start in range(0, len(event_ids), 500) for row in _rows(
            session, Event.__table__, Event.id.in_(event_ids[start:start + 500]))],  # type: ignore[arg-type]
        "visitors": _rows(session, Visitor.__table__, (Visitor.workspace_id == workspace_id)  # type: ignore[arg-type]
                          & Visitor.lead_id.in_(ids)),
        "lead_merges": _rows(session, LeadMerge.__table__, _merge_condition(workspace_id, ids)),  # type: ignore[arg-type]
    }
    if event_keys:
        tables["event_keys"] = [row for start in range(0, len(event_keys), 500) for row in _rows(
            session, EventKey.__table__, (EventKey.workspace_id == workspace_id)  # type: ignore[arg-type]
            & EventKey.event_key.in_(event_keys[start:start + 500]))]
    for table, columns in generic_tables():
        condition = or_(*(column.in_(ids) for column in columns))
        if "workspace_id" in table.columns:
            condition = condition & (table.columns["workspace_id"] == workspace_id)
        _collect(session, tables, table, condition)
    decisions = {name: {"allowed": d.allowed, "reason": d.reason}
                 for name, d in (("marketing_email", may_email(main)), ("tracking", may_track(main)),
                                 ("profiling", may_profile(main)))}
    suppressed = any(is_suppressed(session, key=key, workspace_id=workspace_id, email=lead.email)
                     for lead in leads if lead.email)
    return {
        "format": FORMAT,
        "generated_at": json_safe(now or utcnow()),
        "workspace_id": str(workspace_id),
        "lead_id": str(main.id),
        "merged_lead_ids": [str(i) for i in ids[1:]],
        "profile": tables["leads"][0],
        "score_explanation": _explanation(session, workspace_id, main.id),
        "consent": {"decisions": decisions, "suppressed": suppressed},
        "tables": {name: rows for name, rows in tables.items() if rows},
    }


# --- HTML ---------------------------------------------------------------------------------------------------

_TITLES = {"leads": "Your profile", "companies": "Your company", "events": "What you did (events)",
           "consent_records": "Your consents and their history", "stage_transitions": "Stage history",
           "score_changes": "Score changes", "lead_rule_scores": "Scoring rules", "activities": "Sales activity",
           "deals": "Deals", "consent_emails": "Confirmation emails", "notification_emails": "Notifications",
           "webhook_deliveries": "Data shared with connected systems (webhooks)"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        import json

        return f"<code>{html.escape(json.dumps(value, ensure_ascii=False, default=str))}</code>"
    if isinstance(value, (float, Decimal)):
        return html.escape(f"{value:g}" if isinstance(value, float) else str(value))
    return html.escape(str(value))


def _table_html(title: str, rows: list[dict[str, Any]]) -> str:
    columns = [c for c in rows[0] if any(r.get(c) not in (None, "", {}, []) for r in rows)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<h2>{html.escape(title)} ({len(rows)})</h2>\n<table><tr>{head}</tr>{body}</table>\n"


def export_html(document: dict[str, Any]) -> str:
    """The same export, readable by the person: one section per kind of data, empty columns left out."""
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Your data</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:90%}"
             "</style></head><body>",
             "<h1>The data we hold about you</h1>",
             f"<p>Generated {html.escape(str(document['generated_at']))}, reference lead "
             f"{html.escape(document['lead_id'])}.</p>"]
    decisions = document["consent"]["decisions"]
    parts.append("<h2>What we may do</h2><ul>" + "".join(
        f"<li>{html.escape(name.replace('_', ' '))}: {'yes' if d['allowed'] else 'no'} "
        f"({html.escape(d['reason'])})</li>" for name, d in decisions.items()) + "</ul>")
    explanation = document.get("score_explanation")
    if explanation:
        parts.append(_table_html(f"Why your score is {explanation['score']:g}", explanation["rules"])
                     if explanation["rules"] else "")
    for name, rows in document["tables"].items():
        parts.append(_table_html(_TITLES.get(name, name.replace("_", " ").capitalize()), rows))
    parts.append("</body></html>")
    return "".join(parts)
