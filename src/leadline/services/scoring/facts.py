"""What rules read: a lead's fit fields (lead + company) and an event's fields, as `Facts` lookups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from leadline.core.contacts import email_domain
from leadline.core.freemail import is_free_mail
from leadline.core.scoring.conditions import MISSING, Facts
from leadline.storage.tables import Company, Lead

_LEAD_COLUMNS = ("email", "phone", "first_name", "last_name", "job_title", "country", "language", "stage",
                 "status", "owner_id", "first_channel", "first_campaign", "last_channel",
                 "last_non_direct_channel", "last_non_direct_campaign", "custom")
_COMPANY_COLUMNS = ("name", "domain", "industry", "size", "revenue", "country")
_INDEX = {name: i + 1 for i, name in enumerate(_LEAD_COLUMNS)}
_COMPANY_INDEX = {f"company.{name}": i + 1 + len(_LEAD_COLUMNS) for i, name in enumerate(_COMPANY_COLUMNS)}


def fit_rows_query(workspace_id: int) -> Select[Any]:
    """id, the lead's fit columns, then its company's (NULLs without one); merged leads left out."""
    return (select(Lead.id, *(Lead.__table__.c[c] for c in _LEAD_COLUMNS),
                   *(Company.__table__.c[c] for c in _COMPANY_COLUMNS))
            .outerjoin(Company, Company.id == Lead.company_id)
            .where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None)))


def fit_rows(session: Session, workspace_id: int, lead_ids: Sequence[int]) -> list[Any]:
    if not lead_ids:
        return []
    return list(session.execute(fit_rows_query(workspace_id).where(Lead.id.in_(lead_ids))))


def fit_key(fields: tuple[str, ...], row: Sequence[Any]) -> tuple[Any, ...] | None:
    """The values of the fields a model's fit rules read: leads alike on those score alike. None when a value
    cannot be a dict key (a list or mapping in custom fields)."""
    facts = fit_facts(row)
    # With the type: True == 1 as dict keys, but `equals: true` does not hold for the number 1.
    key = tuple((type(value), value) for value in (facts(f) for f in fields))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def fit_facts(row: Sequence[Any]) -> Facts:
    def lookup(field: str) -> Any:
        index = _INDEX.get(field) or _COMPANY_INDEX.get(field)
        if index is not None:
            value = row[index]
            return MISSING if value is None else value
        email = row[_INDEX["email"]]
        if field == "email_domain":
            return email_domain(email) if email else MISSING
        if field == "email_is_free":
            return is_free_mail(email_domain(email)) if email else MISSING
        if field == "has_owner":
            return row[_INDEX["owner_id"]] is not None
        if field.startswith("custom."):
            custom = row[_INDEX["custom"]] or {}
            return custom.get(field.removeprefix("custom."), MISSING)
        return MISSING
    return lookup


def event_facts(columns: dict[str, int], row: Sequence[Any], properties: dict[str, Any] | None) -> Facts:
    """Facts of one stored event row; `columns` maps promoted field names to positions in `row`."""
    def lookup(field: str) -> Any:
        index = columns.get(field)
        if index is not None:
            value = row[index]
            return MISSING if value is None else value
        if field.startswith("properties.") and properties:
            return properties.get(field.removeprefix("properties."), MISSING)
        return MISSING
    return lookup
