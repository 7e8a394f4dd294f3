"""The website snippet `t.js` (plain ES5, no dependencies), served by Leadline at `/t.js`."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

import rjsmin


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=1)
def snippet() -> Asset:
    """The snippet as served: comments and spaces stripped (the source stays readable in the package)."""
    body = rjsmin.jsmin(files(__package__).joinpath("t.js").read_text(encoding="utf-8")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, gzip.compress(body, compresslevel=9, mtime=0), etag)
