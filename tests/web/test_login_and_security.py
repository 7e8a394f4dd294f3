"""Logging in, sessions, CSRF, roles, escaping and security headers."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from web_helpers import csrf_of, log_in


def test_pages_need_a_login_and_send_you_back_after_it(client: TestClient, logins: dict[str, int]) -> None:
    response = client.get("/leads?stage=mql", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fleads%3Fstage%3Dmql"
    page = client.get(response.headers["location"])
    done = client.post("/login", data={"email": "admin@acme.org", "password": "correct horse battery",
                                       "csrf_token": csrf_of(page.text), "next": "/leads?stage=mql"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/leads?stage=mql"
    cookie = done.headers["set-cookie"]
    assert "leadline_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/leads").status_code == 200


def test_a_wrong_password_or_unknown_email_gets_the_same_answer(client: TestClient, logins: dict[str, int]) -> None:
    wrong = log_in(client, "admin@acme.org", "not the password")
    unknown = log_in(client, "nobody@acme.org", "not the password")
    assert wrong.status_code == unknown.status_code == 400
    assert "Wrong email or password." in wrong.text and "Wrong email or password." in unknown.text
    assert "leadline_session" not in wrong.headers.get("set-cookie", "")


def test_the_login_form_has_its_own_csrf_check(client: TestClient, logins: dict[str, int]) -> None:
    response = client.post("/login", data={"email": "admin@acme.org", "password": "correct horse battery",
                                           "csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 400 and "leadline_session" not in response.headers.get("set-cookie", "")


def test_an_open_redirect_after_login_is_refused(client: TestClient, logins: dict[str, int]) -> None:
    page = client.get("/login")
    done = client.post("/login", data={"email": "admin@acme.org", "password": "correct horse battery",
                                       "csrf_token": csrf_of(page.text), "next": "//evil.example/"},
                       follow_redirects=False)
    assert done.headers["location"] == "/"


def test_every_form_post_needs_the_session_csrf_token(browse: Callable[[str], TestClient],
                                                      lead_ids: dict[str, int]) -> None:
    client = browse("admin")
    lead = lead_ids["rep1"]
    refused = client.post(f"/leads/{lead}/stage", data={"stage": "mql", "csrf_token": "forged"})
    assert refused.status_code == 403
    missing = client.post(f"/leads/{lead}/stage", data={"stage": "mql"})
    assert missing.status_code == 403
    token = csrf_of(client.get(f"/leads/{lead}").text)
    moved = client.post(f"/leads/{lead}/stage", data={"stage": "mql", "csrf_token": token})
    assert moved.status_code == 200 and "Stage changed." in moved.text
    by_header = client.post(f"/leads/{lead}/stage", data={"stage": "sql"}, headers={"X-CSRF-Token": token})
    assert "Stage changed." in by_header.text


def test_logout_ends_the_session_on_the_server(browse: Callable[[str], TestClient]) -> None:
    client = browse("admin")
    cookie = client.cookies.get("leadline_session")
    token = csrf_of(client.get("/").text)
    client.post("/logout", data={"csrf_token": token})
    client.cookies.set("leadline_session", cookie or "")  # a copied cookie no longer works either
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_rep_sees_its_leads_a_manager_its_teams_an_admin_all(browse: Callable[[str], TestClient],
                                                                 lead_ids: dict[str, int]) -> None:
    def visible(name: str) -> set[str]:
        html = browse(name).get("/leads").text
        return {owner for owner in ("rep1", "rep2", "none") if f"{owner}.lead@client.org" in html}

    assert visible("rep1") == {"rep1"}
    assert visible("rep2") == {"rep2"}
    assert visible("manager") == {"rep1"}
    assert visible("admin") == {"rep1", "rep2", "none"}
    assert visible("marketer") == {"rep1", "rep2", "none"}
    client = browse("rep1")
    assert client.get(f"/leads/{lead_ids['rep2']}").status_code == 404
    assert client.get(f"/leads/{lead_ids['rep1']}").status_code == 200


def test_a_rep_cannot_assign_leads_or_edit_scoring_or_see_settings(browse: Callable[[str], TestClient],
                                                                     lead_ids: dict[str, int],
                                                                     logins: dict[str, int]) -> None:
    client = browse("rep1")
    token = csrf_of(client.get("/leads").text)
    response = client.post("/leads/bulk", data={"csrf_token": token, "action": "assign", "lead": lead_ids["rep1"],
                                                "owner_id": logins["rep1"]})
    assert response.status_code == 403
    assert client.get("/settings").status_code == 403
    assert client.post("/scoring/preview", data={"csrf_token": token, "source": "{}"}).status_code == 403


def test_what_a_lead_typed_is_escaped_everywhere(client: TestClient, auth: dict[str, str],
                                                 browse: Callable[[str], TestClient]) -> None:
    created = client.post("/api/v1/leads", headers=auth, json={
        "email": "xss@client.org", "first_name": "<script>alert(1)</script>", "last_name": "<b>bold</b>",
        "company": {"name": "<img src=x onerror=alert(2)>", "domain": "client.org"}}).json()
    client.post("/api/v1/events", headers=auth, json={
        "type": "form_submit", "email": "xss@client.org",
        "properties": {"message": "<iframe src=javascript:alert(3)>", "path": "/<svg onload=alert(4)>"}})
    browser = browse("admin")
    for page in ("/leads", f"/leads/{created['id']}", "/leads?q=%3Cscript%3E"):
        html = browser.get(page).text
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img src=x" not in html and "<b>bold</b>" not in html
    lead_page = browser.get(f"/leads/{created['id']}").text
    assert "<iframe" not in lead_page and "&lt;iframe src=javascript:alert(3)&gt;" in lead_page


def test_pages_carry_security_headers(browse: Callable[[str], TestClient]) -> None:
    response = browse("admin").get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script>" not in response.text and " style=" not in response.text and "onclick" not in response.text


def test_french_users_get_french_pages_numbers_and_dates(browse: Callable[[str], TestClient],
                                                         lead_ids: dict[str, int]) -> None:
    client = browse("admin")
    token = csrf_of(client.get("/").text)
    client.post("/locale", data={"csrf_token": token, "locale": "fr", "next": "/leads"})
    html = client.get("/leads").text
    assert "Rechercher" in html and "Température" in html and 'lang="fr"' in html
    lead = client.get(f"/leads/{lead_ids['rep1']}")
    token = csrf_of(lead.text)
    client.post(f"/leads/{lead_ids['rep1']}/bant", data={"csrf_token": token, "budget": "12500,5", "currency": "EUR"})
    assert "12\u202f500,50\xa0€" in client.get(f"/leads/{lead_ids['rep1']}").text


def test_the_login_page_follows_the_browser_language(client: TestClient) -> None:
    assert "Mot de passe" in client.get("/login", headers={"Accept-Language": "fr-CA,fr;q=0.9"}).text
    assert "Password" in client.get("/login", headers={"Accept-Language": "de-DE"}).text


def test_password_guessing_is_slowed_down(client: TestClient, logins: dict[str, int]) -> None:
    answers = [log_in(client, "admin@acme.org", f"guess {i}").status_code for i in range(11)]
    assert answers[:10] == [400] * 10 and answers[10] == 429
    assert log_in(client, "admin@acme.org").status_code == 429  # even the right password, for a while
    assert log_in(client, "marketer@acme.org").status_code == 303  # other logins are not locked out
