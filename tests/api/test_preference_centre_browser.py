"""The preference centre in a real browser (Chromium): no login, nothing pre-ticked, and unsubscribing from
everything is one click next to saving, as easy as accepting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from leadline.api.app import create_app
from leadline.core.lead_input import ConsentInput, LeadInput
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.privacy.preferences import preferences_url
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead
from loopback import free_port


@pytest.fixture
def live_server(settings, db) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, db), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_person_unsubscribes_from_everything_in_one_click(live_server, db, page):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "acme")
        lead = upsert_lead(session, workspace.id, LeadInput(
            email="browser@example.org", consent=ConsentInput(email_marketing=True)), mode=WriteMode.OVERWRITE).lead
        url = preferences_url(live_server, b"test-secret-key", lead)
        lead_id = lead.id
    page.goto(url)
    assert page.is_checked("input[name=marketing_email]")  # what the person chose before
    for purpose in ("tracking", "profiling", "partner_sharing"):
        assert not page.is_checked(f"input[name={purpose}]")  # nothing pre-ticked
    save = page.get_by_role("button", name="Save my choices")
    everything = page.get_by_role("button", name="Unsubscribe from everything")
    assert save.is_visible() and everything.is_visible()
    everything.click()
    page.wait_for_selector("text=You are unsubscribed from everything.")
    with db.read() as session:
        stored = session.get(Lead, lead_id)
        assert (stored.unsubscribed, stored.consent_email, stored.consent_tracking) == (True, False, False)
    assert not page.is_checked("input[name=marketing_email]")
