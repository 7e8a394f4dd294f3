"""The app in a real browser (Debian's Chromium through pytest-playwright) against a real uvicorn server on
loopback, on a migrated SQLite file with a small seeded workspace: log in, find a lead, read its score
explanation, move it through the pipeline by keyboard and by drag, edit a rule and preview, visit every page
without a console error. Screenshots of the main pages (desktop and phone) go to tmp/artifacts/web/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from leadline.core.leads import Scope
from leadline.services.logins import LoginRole, create_login
from leadline.services.scoring.models import built_in_source, load_document
from leadline.services.workspaces import create_api_key, get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from loopback import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "tmp" / "artifacts" / "web"
EMAIL, PASSWORD = "admin@acme.org", "browser-pass-1"


def _seed(url: str) -> str:
    """A workspace with an admin login; returns an API key to fill it through the running server."""
    upgrade(url)
    db = Database(url)
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        create_login(session, workspace_id=ws.id, email=EMAIL, password=PASSWORD, role=LoginRole.ADMIN,
                     name="Ada Admin")
        key = create_api_key(session, ws, frozenset({Scope.ADMIN}))
    db.dispose()
    return key


def _fill(base: str, key: str) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    model = load_document(built_in_source("default-b2b"))
    assert httpx.post(base + "/api/v1/scoring/models", json=model, headers=auth, timeout=60).status_code == 201
    people = [("Camille", "Durand", "CEO", "durand.fr"), ("Jean", "Martin", "Intern", "martin.fr"),
              ("<script>alert(1)</script>", "Mallory", "Director", "evil.org")]
    for first, last, title, domain in people:
        response = httpx.post(base + "/api/v1/leads", headers=auth, json={
            "email": f"{last.lower()}@{domain}", "first_name": first, "last_name": last, "job_title": title,
            "country": "FR", "company": {"name": last + " SA", "domain": domain},
            "source": {"utm_source": "google", "utm_medium": "cpc"}})
        assert response.status_code == 201, response.text
    events = [{"type": "page_view", "email": "durand@durand.fr", "properties": {"path": "/pricing"}},
              {"type": "quote_request", "email": "durand@durand.fr"},
              {"type": "form_submit", "email": "mallory@evil.org",
               "properties": {"message": "<img src=x onerror=alert(2)>"}}]
    assert httpx.post(base + "/api/v1/events", headers=auth, json={"events": events}).json()["accepted"] == 3


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'app.db'}"
    key = _seed(url)
    port = free_port()
    env = {**os.environ, "LEADLINE_DATABASE_URL": url, "LEADLINE_SECRET_KEY": "browser-test-secret",
           "LEADLINE_WORKER_POLL_SECONDS": "0.5", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "leadline.api.app:create_app", "--factory",
                                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                               env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start")
        _fill(base, key)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of the page (a CSP violation is a console error too)."""
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: found.append(str(exc)))
    return found


def _log_in(page: Page, server: str) -> None:
    page.goto(server + "/")
    expect(page).to_have_url(server + "/login?next=%2F")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_find_a_lead_read_its_score_and_move_it_through_the_pipeline(page: Page, server: str,
                                                                      errors: list[str]) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    _log_in(page, server)
    _shot(page, "dashboard-desktop")
    page.get_by_role("link", name="Leads", exact=True).first.click()
    page.get_by_label("Search").fill("durand")
    expect(page.locator("#lead-rows tbody tr")).to_have_count(1)  # htmx swapped the rows in as I typed
    _shot(page, "leads-desktop")
    page.get_by_role("link", name="Camille Durand").click()
    score = page.locator("#score")
    expect(score).to_contain_text("Asked for a quote")
    expect(score).to_contain_text("half-life")
    _shot(page, "lead-desktop")
    # sql via the stage form, then the deals board: by keyboard, then by dragging the card
    page.get_by_label("Move to").select_option("sql")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator(".notice")).to_contain_text("Stage changed.")
    page.get_by_role("link", name="Pipeline").click()
    card = page.locator('.kcard[data-lead]', has_text="Camille Durand")
    select = card.get_by_label("Move Camille Durand to")
    select.focus()
    select.select_option("won")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#board .error")).to_contain_text("no open deal")  # refused, with the reason
    card = page.locator('.kcard[data-lead]', has_text="Camille Durand")
    card.drag_to(page.locator('.column[data-column="opportunity"]'))
    expect(page.locator('.column[data-column="opportunity"]')).to_contain_text("Camille Durand")
    _shot(page, "pipeline-desktop")
    assert errors == []


def test_edit_a_rule_and_preview_its_impact(page: Page, server: str, errors: list[str]) -> None:
    page.set_viewport_size({"width": 1360, "height": 900})
    _log_in(page, server)
    page.get_by_role("link", name="Scoring").click()
    source = page.get_by_label("Model (YAML or JSON)")
    text = source.input_value()
    assert "points" in text
    source.fill(text.replace("warm: ", "warm: 1 #", 1) if "warm: " in text else text)
    page.get_by_role("button", name="Preview impact").click()
    expect(page.locator("#preview")).to_contain_text("If applied")
    _shot(page, "scoring-desktop")
    assert errors == []


def test_every_page_renders_without_console_errors_on_desktop_and_phone(page: Page, server: str,
                                                                          errors: list[str]) -> None:
    _log_in(page, server)
    pages = {"dashboard": "/", "leads": "/leads", "pipeline": "/pipeline", "sales-board": "/pipeline?board=sales",
             "scoring": "/scoring", "segments": "/segments", "reports": "/reports", "settings": "/settings",
             "forms": "/forms", "import": "/import"}
    for width, label in ((1360, "desktop"), (390, "phone")):
        page.set_viewport_size({"width": width, "height": 844})
        for name, path in pages.items():
            page.goto(server + path)
            expect(page.locator("main h1").first).to_be_visible()
            if label == "phone" or name in ("reports", "settings", "sales-board", "forms", "import"):
                _shot(page, f"{name}-{label}")
    page.goto(server + "/leads?q=mallory")
    page.get_by_role("link", name="<script>alert(1)</script> Mallory").click()
    expect(page.locator("h1")).to_have_text("<script>alert(1)</script> Mallory")  # shown as text, not run
    page.get_by_text("Properties").first.click()
    expect(page.locator(".props")).to_contain_text("<img src=x onerror=alert(2)>")
    _shot(page, "lead-escaped-desktop")
    page.get_by_label("Language").select_option("fr")
    expect(page.get_by_role("heading", name="Chronologie")).to_be_visible()
    _shot(page, "lead-french-phone")
    assert errors == []
