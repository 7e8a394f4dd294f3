"""Public capture forms: a plain HTML form on any site posts to `/f/{key}`."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.channels import TOUCH_FIELDS, Touch
from leadline.core.lead_input import ConsentInput, InvalidLeadInput, build_lead_input
from leadline.core.tracking import (
    CONSENT_PURPOSES,
    ConsentBox,
    FormField,
    filled_too_fast,
    invalid_choices,
    missing_required,
)
from leadline.services import outbox
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.tracking import attach_visitor
from leadline.storage.tables import Form, Lead, Workspace
from leadline.storage.types import utcnow

LEAD_FIELDS = ("email", "first_name", "last_name", "phone", "job_title", "country", "language")
COMPANY_FIELDS = {"company": "name", "company_name": "name", "company_domain": "domain", "website": "domain"}
CONTROL_FIELDS = ("anonymous_id", "consent_email", "consent_text", "event_id",
                  *(f"consent_{p}" for p in CONSENT_PURPOSES))
#: Emitted (instead of granting consent) when a double opt-in form is submitted with boxes ticked.
CONFIRMATION_REQUESTED = "consent.confirmation_requested"
MAX_CUSTOM_FIELDS = 30
TRUTHY = {"on", "yes", "true", "1", "oui"}


@dataclass(frozen=True, slots=True)
class FormSubmission:
    lead: Lead | None
    is_bot: bool


def create_form(session: Session, workspace_id: int, *, name: str, redirect_url: str | None,
                honeypot_field: str = "website", fields: list[FormField] | None = None,
                consent_boxes: list[ConsentBox] | None = None, thank_you_message: str | None = None,
                double_opt_in: bool = False, min_fill_seconds: int = 0) -> Form:
    """`fields` makes the form embeddable (rendered by the snippet or hosted by Leadline); without them it is
    a target for plain HTML forms built elsewhere."""
    form = Form(workspace_id=workspace_id, key=secrets.token_urlsafe(12), name=name, redirect_url=redirect_url,
                honeypot_field=honeypot_field, fields=[f.as_dict() for f in fields] if fields else None,
                consent_boxes=[b.as_dict() for b in consent_boxes] if consent_boxes else None,
                thank_you_message=thank_you_message, double_opt_in=double_opt_in, min_fill_seconds=min_fill_seconds)
    session.add(form)
    session.flush()
    return form


def find_form(session: Session, key: str) -> Form | None:
    if len(key) > 64:
        return None
    return session.scalar(select(Form).where(Form.key == key))


def list_forms(session: Session, workspace_id: int) -> list[Form]:
    return list(session.scalars(select(Form).where(Form.workspace_id == workspace_id).order_by(Form.id)))


def form_fields(form: Form) -> list[FormField]:
    return [FormField(f["name"], f["label"], f.get("type", "text"), bool(f.get("required")),
                      tuple(f.get("options") or ())) for f in form.fields or []]


def consent_boxes(form: Form) -> list[ConsentBox]:
    return [ConsentBox(b["purpose"], b["label"]) for b in form.consent_boxes or []]


def ticked_purposes(form: Form, fields: dict[str, str]) -> list[str]:
    """The purposes whose box was ticked; a plain form without boxes may still send `consent_email`."""
    boxes = consent_boxes(form)
    if not boxes:
        return ["marketing_email"] if fields.get("consent_email", "").lower() in TRUTHY else []
    return [b.purpose for b in boxes if fields.get(b.field_name, "").lower() in TRUTHY]


def _raw_lead(form: Form, fields: dict[str, str], grants: list[str],
              proof: tuple[str | None, str | None] = (None, None)) -> dict[str, Any]:
    raw: dict[str, Any] = {name: fields[name] for name in LEAD_FIELDS if fields.get(name)}
    company = {target: fields[name] for name, target in COMPANY_FIELDS.items()
               if fields.get(name) and name != form.honeypot_field}
    if company:
        raw["company"] = company
    source = {name: fields[name] for name in TOUCH_FIELDS if fields.get(name)}
    if source:
        raw["source"] = source
    known = {*LEAD_FIELDS, *COMPANY_FIELDS, *TOUCH_FIELDS, *CONTROL_FIELDS, form.honeypot_field}
    custom = {k[:64]: v[:2000] for k, v in fields.items() if k not in known and v and not k.startswith("_")}
    if custom:
        raw["custom"] = dict(list(custom.items())[:MAX_CUSTOM_FIELDS])
    if grants:  # each ticked box is a ledger grant with its proof (form, text shown, truncated IP, agent)
        raw["consent"] = ConsentInput(
            email_marketing=True if "marketing_email" in grants else None,
            tracking=True if "tracking" in grants else None,
            source=f"form:{form.key}", legal_basis="consent", form_id=form.id, ip=proof[0], user_agent=proof[1],
            text_version=(fields.get("consent_text") or "")[:200] or None)
    return raw


def submit_form(session: Session, form: Form, fields: dict[str, str], *, secret: bytes | None = None,
                ip: str | None = None, user_agent: str | None = None, now: datetime | None = None
                ) -> FormSubmission:
    """Create or complete the lead (empty fields only) and record a `form_submit` event with its UTM fields.

    A filled honeypot, or a form sent back faster than its `min_fill_seconds` (timed by the signed `_t` field
    it was shown with), means a bot: nothing is stored, and the bot is answered as if all went well. Required
    fields are checked first (`InvalidLeadInput`). Ticked consent boxes grant consent at once, or, on a double
    opt-in form, only ask for a confirmation (`consent.confirmation_requested` in the outbox).
    """
    now = now or utcnow()
    if fields.get(form.honeypot_field):
        return FormSubmission(lead=None, is_bot=True)
    if secret is not None and filled_too_fast(secret, form.key, fields.get("_t"), now, form.min_fill_seconds):
        return FormSubmission(lead=None, is_bot=True)
    definition = form_fields(form)
    problems = missing_required(definition, fields) + invalid_choices(definition, fields)
    if problems:
        raise InvalidLeadInput(problems)
    workspace = session.get(Workspace, form.workspace_id)
    assert workspace is not None
    purposes = ticked_purposes(form, fields)
    grants = [] if form.double_opt_in else purposes
    data = build_lead_input(_raw_lead(form, fields, grants, (ip, user_agent)),
                            default_country=workspace.default_country)
    result = upsert_lead(session, form.workspace_id, data, mode=WriteMode.FILL_EMPTY)
    lead = result.lead
    if form.double_opt_in and purposes:
        outbox.emit(session, workspace_id=form.workspace_id, topic=CONFIRMATION_REQUESTED, lead_id=lead.id,
                    payload={"purposes": purposes, "form_id": form.id})
    anonymous_id = (fields.get("anonymous_id") or "").strip()[:200]
    if anonymous_id:
        attach_visitor(session, form.workspace_id, anonymous_id, lead)
    touch = Touch.from_mapping({name: fields.get(name) for name in TOUCH_FIELDS})
    record_events(session, workspace, [EventDraft(
        type="form_submit", event_key=fields.get("event_id") or None, lead_id=lead.id,
        properties={"form_key": form.key, "form_name": form.name}, source=touch,
    )])
    return FormSubmission(lead=lead, is_bot=False)
