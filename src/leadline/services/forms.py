"""Public capture forms: a plain HTML form on any site posts to `/f/{key}`."""

from __future__ import annotations

import secrets
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.channels import TOUCH_FIELDS, Touch
from leadline.core.lead_input import ConsentInput, build_lead_input
from leadline.services.errors import Conflict
from leadline.services.events import EventDraft, record_events
from leadline.services.identity import identify_visitor
from leadline.services.leads import WriteMode, upsert_lead
from leadline.storage.tables import Form, Lead, Workspace

LEAD_FIELDS = ("email", "first_name", "last_name", "phone", "job_title", "country", "language")
COMPANY_FIELDS = {"company": "name", "company_name": "name", "company_domain": "domain", "website": "domain"}
CONTROL_FIELDS = ("anonymous_id", "consent_email", "consent_text", "event_id")
MAX_CUSTOM_FIELDS = 30
TRUTHY = {"on", "yes", "true", "1", "oui"}


@dataclass(frozen=True, slots=True)
class FormSubmission:
    lead: Lead | None
    is_bot: bool


def create_form(session: Session, workspace_id: int, *, name: str, redirect_url: str | None,
                honeypot_field: str = "website") -> Form:
    form = Form(workspace_id=workspace_id, key=secrets.token_urlsafe(12), name=name, redirect_url=redirect_url,
                honeypot_field=honeypot_field)
    session.add(form)
    session.flush()
    return form


def find_form(session: Session, key: str) -> Form | None:
    if len(key) > 64:
        return None
    return session.scalar(select(Form).where(Form.key == key))


def list_forms(session: Session, workspace_id: int) -> list[Form]:
    return list(session.scalars(select(Form).where(Form.workspace_id == workspace_id).order_by(Form.id)))


def _raw_lead(form: Form, fields: dict[str, str], proof: tuple[str | None, str | None] = (None, None)
              ) -> dict[str, Any]:
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
    if fields.get("consent_email", "").lower() in TRUTHY:
        raw["consent"] = ConsentInput(email_marketing=True, source=f"form:{form.key}", legal_basis="consent",
                                      form_id=form.id, ip=proof[0], user_agent=proof[1],
                                      text_version=(fields.get("consent_text") or "")[:200] or None)
    return raw


def submit_form(session: Session, form: Form, fields: dict[str, str], *, ip: str | None = None,
                user_agent: str | None = None) -> FormSubmission:
    """Create or complete the lead (empty fields only) and record a `form_submit` event with its UTM fields.

    A filled honeypot means a bot: nothing is stored, and the bot is answered as if all went well.
    """
    if fields.get(form.honeypot_field):
        return FormSubmission(lead=None, is_bot=True)
    workspace = session.get(Workspace, form.workspace_id)
    assert workspace is not None
    data = build_lead_input(_raw_lead(form, fields, (ip, user_agent)), default_country=workspace.default_country)
    result = upsert_lead(session, form.workspace_id, data, mode=WriteMode.FILL_EMPTY)
    anonymous_id = (fields.get("anonymous_id") or "").strip()[:200]
    if anonymous_id:
        # A shared computer may already be someone else's visitor: the submission still counts, the history
        # simply stays where it is.
        with suppress(Conflict), session.begin_nested():
            identify_visitor(session, form.workspace_id, anonymous_id, result.lead.id)
    touch = Touch.from_mapping({name: fields.get(name) for name in TOUCH_FIELDS})
    record_events(session, workspace, [EventDraft(
        type="form_submit", event_key=fields.get("event_id") or None, lead_id=result.lead.id,
        properties={"form_key": form.key, "form_name": form.name}, source=touch,
    )])
    return FormSubmission(lead=result.lead, is_bot=False)
