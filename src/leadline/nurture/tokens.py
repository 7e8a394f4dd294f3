"""Signed tokens for the links in marketing emails (open pixel, click, unsubscribe).

A token is `base64url(json) . base64url(hmac-sha256[:16])`, keyed with the instance secret and a purpose label,
so a token made for one purpose is refused for another. Tokens carry ids and, for a click, the URL the template
linked to: the click endpoint only ever redirects to a URL it signed itself (no open redirect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_LABEL = b"leadline-email-links/1"


class BadToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, body: bytes) -> bytes:
    derived = hmac.new(key, _LABEL + b":" + purpose.encode(), hashlib.sha256).digest()
    return hmac.new(derived, body, hashlib.sha256).digest()[:16]


def sign(key: bytes, purpose: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_b64(_mac(key, purpose, body))}"


def verify(key: bytes, purpose: str, token: str) -> dict[str, Any]:
    """The payload, or BadToken (tampered, truncated, made for another purpose or another key)."""
    if len(token) > 8000 or token.count(".") != 1:
        raise BadToken("malformed token")
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise BadToken("malformed token") from None
    if not hmac.compare_digest(mac, _mac(key, purpose, body)):
        raise BadToken("bad signature")
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadToken("malformed token") from None
    if not isinstance(payload, dict):
        raise BadToken("malformed token")
    return payload
