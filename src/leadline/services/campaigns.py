"""Campaigns: name, channel, cost and dates (cost per lead is computed from them by analytics)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.storage.tables import Campaign

CAMPAIGN_FIELDS = ("name", "channel", "utm_campaign", "cost", "currency", "starts_on", "ends_on")


def _check(session: Session, workspace_id: int, values: dict[str, Any], exclude_id: int | None = None) -> None:
    starts, ends = values.get("starts_on"), values.get("ends_on")
    if starts and ends and ends < starts:
        raise Invalid([FieldProblem("ends_on", "ends before it starts")])
    if "name" in values:
        query = select(Campaign.id).where(Campaign.workspace_id == workspace_id, Campaign.name == values["name"])
        if exclude_id is not None:
            query = query.where(Campaign.id != exclude_id)
        if session.scalar(query) is not None:
            raise Conflict(f"a campaign named {values['name']!r} already exists", field="name")


def create_campaign(session: Session, workspace_id: int, values: dict[str, Any]) -> Campaign:
    _check(session, workspace_id, values)
    campaign = Campaign(workspace_id=workspace_id, **{k: v for k, v in values.items() if k in CAMPAIGN_FIELDS})
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(session: Session, workspace_id: int, campaign_id: int) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.workspace_id == workspace_id,
                                                     Campaign.id == campaign_id))
    if campaign is None:
        raise NotFound("campaign not found")
    return campaign


REQUIRED = ("name", "channel", "currency")


def update_campaign(session: Session, workspace_id: int, campaign_id: int, changes: dict[str, Any]) -> Campaign:
    nulls = [name for name in REQUIRED if name in changes and changes[name] is None]
    if nulls:
        raise Invalid([FieldProblem(name, "cannot be null") for name in nulls])
    campaign = get_campaign(session, workspace_id, campaign_id)
    merged = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS} | changes
    _check(session, workspace_id, {k: merged[k] for k in ("starts_on", "ends_on")} |
           ({"name": changes["name"]} if "name" in changes else {}), exclude_id=campaign.id)
    for name, value in changes.items():
        if name in CAMPAIGN_FIELDS:
            setattr(campaign, name, value)
    session.flush()
    return campaign


def list_campaigns(session: Session, workspace_id: int, *, after_id: int | None, limit: int) -> list[Campaign]:
    query = select(Campaign).where(Campaign.workspace_id == workspace_id)
    if after_id is not None:
        query = query.where(Campaign.id > after_id)
    return list(session.scalars(query.order_by(Campaign.id).limit(limit)))


def delete_campaign(session: Session, workspace_id: int, campaign_id: int) -> None:
    session.delete(get_campaign(session, workspace_id, campaign_id))
    session.flush()
