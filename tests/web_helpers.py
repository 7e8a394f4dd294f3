"""Helpers for web app tests: reading the CSRF token of a page, logging in through the form."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text),
                                       "next": "/", **extra}, follow_redirects=False)
