"""The demo website (`/demo/site`): tracking settings and a contact form for the demo workspace, so the
snippet can be seen working end to end on Leadline's own host."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.tracking import ConsentBox, FormField, normalise_domain
from leadline.services.forms import create_form
from leadline.services.tracking import configure_tracking, get_tracking
from leadline.storage.tables import Form, TrackingSettings

DEMO_FORM = "Demo site: contact"
DEMO_HOSTS = ("127.0.0.1", "localhost")


def setup_demo_site(session: Session, workspace_id: int, *, hosts: tuple[str, ...] = DEMO_HOSTS
                    ) -> tuple[TrackingSettings, Form]:
    """Idempotent: allow the demo hosts (keeping any domains already listed) and create the demo form once."""
    settings = get_tracking(session, workspace_id)
    domains = {normalise_domain(h) for h in hosts} | set(settings.allowed_domains if settings else ())
    settings = configure_tracking(session, workspace_id, allowed_domains=sorted(domains))
    form = demo_form(session, workspace_id)
    if form is None:
        form = create_form(
            session, workspace_id, name=DEMO_FORM, redirect_url=None, min_fill_seconds=2,
            fields=[FormField("email", "Work email", "email", required=True),
                    FormField("first_name", "First name"), FormField("company", "Company"),
                    FormField("job_title", "Job title"),
                    FormField("team_size", "Team size", "select", options=("1-10", "11-50", "51-200", "200+"))],
            consent_boxes=[ConsentBox("marketing_email", "Send me the monthly product newsletter")],
            thank_you_message="Thank you! A member of our team will get back to you within a day.")
    return settings, form


def demo_form(session: Session, workspace_id: int) -> Form | None:
    return session.scalar(select(Form).where(Form.workspace_id == workspace_id, Form.name == DEMO_FORM)
                          .order_by(Form.id).limit(1))
