"""Keyed hashes of personal identifiers: an HMAC can be recomputed from the address and the instance secret
to look it up, but neither reversed nor brute-forced from the database alone (a plain salted hash of an email
address falls to a dictionary of addresses)."""

from __future__ import annotations

import hashlib
import hmac


def normalise_address(email: str) -> str:
    """The form suppression and erasure compare: trimmed and lower-cased (providers treat addresses as such)."""
    return email.strip().lower()


def email_hash(key: bytes, email: str) -> str:
    return hmac.new(key, normalise_address(email).encode(), hashlib.sha256).hexdigest()
