"""The snippet in a real browser (Chromium through pytest-playwright) against a real Leadline server on
loopback, on a test website of another origin: consent first, Global Privacy Control, forms, the demo site."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import func, select

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.core.tracking import ConsentBox, FormField
from leadline.demo.site import demo_form, setup_demo_site
from leadline.services.forms import create_form
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Event, Lead, PageCount, Visitor

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
HEADLESS = CHROME.replace("Chrome/", "HeadlessChrome/")  # what Chromium says when it runs headless
SITE_HOST = "localhost"  # the test website: another origin than Leadline's 127.0.0.1


@dataclass
class Stack:
    leadline: str
    site: str
    db: Database
    public_key: str
    form_key: str


class _Site:
    """The test website: three pages carrying the snippet, the last one with an embedded form."""

    def __init__(self, leadline: str, public_key: str, form_key: str) -> None:
        def html(title: str, body: str) -> bytes:
            return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
                    f'<title>{title}</title></head>'
                    f'<body><h1>{title}</h1><a id="next" href="/pricing">Pricing</a> <a href="/contact">Contact</a>'
                    f'{body}<script async src="{leadline}/t.js" data-key="{public_key}"></script></body></html>'
                    ).encode()

        pages = {"/": html("Home", ""), "/pricing": html("Pricing", ""),
                 "/contact": html("Contact", f'<div data-leadline-form="{form_key}"></div>')}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    path: Path = tmp_path_factory.mktemp("browser") / "leadline.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.write() as session:
        workspace = get_or_create_workspace(session, "demo")
        settings, _ = setup_demo_site(session, workspace.id, hosts=("127.0.0.1", SITE_HOST))
        form = create_form(session, workspace.id, name="Test site contact", redirect_url=None, min_fill_seconds=1,
                           fields=[FormField("email", "Email", "email", required=True),
                                   FormField("first_name", "First name")],
                           consent_boxes=[ConsentBox("marketing_email", "Send me news")],
                           thank_you_message="Thanks, we will call you")
        public_key, form_key = settings.public_key, form.key
    app = create_app(Settings(database_url=url, worker_poll_seconds=0, secret_key=SecretStr("browser-secret")), db)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the Leadline server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    leadline = f"http://127.0.0.1:{port}"
    site = _Site(leadline, public_key, form_key)
    yield Stack(leadline, f"http://{SITE_HOST}:{site.port}", db, public_key, form_key)
    site.server.shutdown()
    server.should_exit = True
    thread.join(timeout=10)
    db.dispose()


@pytest.fixture(scope="module")
def browser(browser_type: Any, browser_type_launch_args: dict[str, Any]) -> Iterator[Any]:
    """Chromium as a desktop browser: its headless user agent is (rightly) recorded as a bot (see the last test),
    and a per-page override does not cover the beacons a page sends while it unloads."""
    args = [*browser_type_launch_args.get("args", []), f"--user-agent={CHROME}"]
    launched = browser_type.launch(**{**browser_type_launch_args, "args": args})
    yield launched
    launched.close()


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    with stack.db.write() as session:
        for table in (Event, Visitor, PageCount):
            session.query(table).delete()
        session.query(Lead).delete()
    return stack


@pytest.fixture
def console_errors(page: Any) -> Iterator[list[str]]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield errors
    assert errors == []  # no console errors in any of these tests


def _wait(condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _count(db: Database, table: Any, *where: Any) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("window.leadline && window.leadline.version === 1")


def _storage(page: Any) -> list[str]:
    return list(page.evaluate("Object.keys(localStorage).filter(function (k) { return k.indexOf('ll_') === 0 })"))


def test_consent_refused_sends_nothing_identified(page, fresh, console_errors):
    _open(page, fresh.site + "/?utm_source=google&gclid=abc")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.post_data or "") if "/t/collect" in r.url else None)
    page.evaluate("leadline.consent(false)")
    assert page.evaluate("leadline.identify('jane@acme.fr')") is False
    assert page.evaluate("leadline.track('download', {file: 'a.pdf'})") is False
    assert _wait(lambda: _count(fresh.db, PageCount, PageCount.audience == "anonymous"))
    page.click("#next")
    page.wait_for_function("window.leadline && window.leadline.version === 1")
    page.evaluate("leadline.consent(false)")
    assert _wait(lambda: _count(fresh.db, PageCount) and _views(fresh.db) == 2)
    assert _count(fresh.db, Event) == 0 and _count(fresh.db, Visitor) == 0 and _count(fresh.db, Lead) == 0
    assert _storage(page) == []
    assert all("visitor" not in body and "jane" not in body and "gclid" not in body for body in sent)


def _views(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.sum(PageCount.views))) or 0)


def test_consent_given_records_page_views(page, fresh, console_errors):
    _open(page, fresh.site + "/?utm_source=google&utm_medium=cpc&gclid=abc")
    assert _count(fresh.db, Event) == 0  # nothing before consent
    page.evaluate("leadline.consent(true)")
    page.click("#next")
    page.wait_for_function("window.leadline && window.leadline.version === 1")
    page.evaluate("leadline.track('download', {file: 'guide.pdf'})")
    assert _wait(lambda: _count(fresh.db, Event) == 3)
    with fresh.db.read() as session:
        events = session.scalars(select(Event).order_by(Event.occurred_at, Event.id)).all()
    assert [(e.type, e.path) for e in events] == [("page_view", "/"), ("page_view", "/pricing"),
                                                   ("download", None)]
    assert len({e.anonymous_id for e in events}) == 1 and events[0].anonymous_id.startswith("v1.")
    assert events[0].channel == "sea" and events[0].properties["gclid"] == "abc"
    assert sorted(_storage(page)) == ["ll_c", "ll_src", "ll_v"]


def test_form_submitted_creates_the_lead_with_its_utm_source_and_earlier_page_views(page, fresh, console_errors):
    _open(page, fresh.site + "/?utm_source=linkedin&utm_medium=paid_social&utm_campaign=launch")
    page.evaluate("leadline.consent(true)")
    page.click("#next")
    page.goto(fresh.site + "/contact")
    page.get_by_label("Email *").fill("jane@acme.fr")
    page.get_by_label("First name").fill("Jane")
    assert not page.get_by_label("Send me news").is_checked()  # never pre-ticked
    page.get_by_label("Send me news").check()
    page.wait_for_timeout(1100)  # the form's min_fill_seconds: people take longer than bots
    page.get_by_role("button", name="Send").click()
    page.get_by_text("Thanks, we will call you").wait_for()
    assert _wait(lambda: _count(fresh.db, Event, Event.type == "page_view", Event.lead_id.is_not(None)) == 3)
    with fresh.db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "jane@acme.fr"))
        types = sorted(t for t, in session.execute(select(Event.type).where(Event.lead_id == lead.id)))
    assert lead.first_name == "Jane" and lead.consent_email is True
    assert lead.first_touch["utm_source"] == "linkedin" and lead.first_channel == "paid_social"
    assert types == ["form_submit", "page_view", "page_view", "page_view"]
    assert "ll_src" not in _storage(page)  # kept only until the visitor identified


def test_global_privacy_control_sends_nothing_identified(page, fresh, console_errors):
    page.add_init_script("Object.defineProperty(navigator, 'globalPrivacyControl', {get: function () "
                         "{ return true; }}); localStorage.setItem('ll_c', '1'); "
                         "localStorage.setItem('ll_v', 'v1.old');")
    _open(page, fresh.site + "/?utm_source=google")
    page.evaluate("leadline.consent(true)")
    assert page.evaluate("leadline.consentGiven()") is False
    assert page.evaluate("leadline.identify('gpc@acme.fr')") is False
    assert _wait(lambda: _count(fresh.db, PageCount))
    # an earlier consent is forgotten once the browser sends the privacy signal
    assert _count(fresh.db, Event) == 0 and _count(fresh.db, Lead) == 0 and _storage(page) == []


def test_the_demo_site_shows_the_snippet_working_end_to_end(page, fresh, console_errors):
    page.goto(fresh.leadline + "/demo/site?utm_source=newsletter&utm_medium=email&utm_campaign=spring")
    page.get_by_role("button", name="Accept").click()
    page.get_by_role("link", name="Pricing").click()
    page.get_by_role("link", name="Contact us").click()
    page.get_by_label("Work email *").fill("demo.visitor@acme.fr")
    page.get_by_label("Team size").select_option("11-50")
    page.wait_for_timeout(2100)  # the demo form's min_fill_seconds
    page.get_by_role("button", name="Send").click()
    page.get_by_text("A member of our team will get back to you").wait_for()
    assert _wait(lambda: _count(fresh.db, Event, Event.type == "page_view", Event.lead_id.is_not(None)) == 3)
    with fresh.db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "demo.visitor@acme.fr"))
        assert demo_form(session, lead.workspace_id) is not None
    assert lead.first_channel == "email" and lead.first_campaign == "spring"
    assert lead.custom == {"team_size": "11-50"}


def test_a_headless_browser_is_recorded_apart_as_a_bot(browser, fresh):
    context = browser.new_context(user_agent=HEADLESS)
    page = context.new_page()
    _open(page, fresh.site + "/")
    page.evaluate("leadline.consent(true)")
    assert _wait(lambda: _count(fresh.db, PageCount, PageCount.audience == "bot"))
    assert _count(fresh.db, Event) == 0
    context.close()


def test_a_click_from_one_of_our_emails_identifies_the_visitor_once_consent_is_given(page, fresh, console_errors):
    from leadline.services.email_tracking import link_identity
    from leadline.storage.types import utcnow

    with fresh.db.write() as session:
        workspace = get_or_create_workspace(session, "demo")
        lead = Lead(workspace_id=workspace.id, email="clicker@acme.fr")
        session.add(lead)
        session.flush()
        lead_id, token = lead.id, link_identity(b"browser-secret", workspace.id, lead.id, utcnow())
    _open(page, fresh.site + "/?utm_source=newsletter&ll_id=" + token)
    page.wait_for_timeout(300)
    assert _count(fresh.db, Event) == 0  # nothing, the identity included, before consent
    page.evaluate("leadline.consent(true)")
    assert _wait(lambda: _count(fresh.db, Event, Event.lead_id == lead_id, Event.type == "page_view") == 1)
    assert _count(fresh.db, Event, Event.lead_id == lead_id, Event.type == "identify") == 1
