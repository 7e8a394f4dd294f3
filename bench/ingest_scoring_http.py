"""Batch ingest over HTTP into SQLite WITH real-time scoring on: the same run as `ingest_batch_http.py`, on a
workspace whose active model is the B2B starter (16 engagement rules, daily caps on page views and clicks).
Issue 3's goal: at least 12,000 events/s.

    python bench/ingest_scoring_http.py [--events 200000] [--model default-b2b]

Compare with `ingest_batch_http.py` on the same machine for the cost of scoring.
"""

from __future__ import annotations

import os
import subprocess
import sys

import ingest_batch_http
from local_server import LEADLINE

MODEL = "default-b2b"
if "--model" in sys.argv:
    at = sys.argv.index("--model")
    MODEL = sys.argv[at + 1]
    del sys.argv[at:at + 2]
_plain_init = ingest_batch_http.init_database


def init_with_scoring(url: str) -> str:
    key = _plain_init(url)
    subprocess.run([LEADLINE, "score", "apply", MODEL, "--workspace", "bench"],
                   env={**os.environ, "LEADLINE_DATABASE_URL": url}, check=True, capture_output=True)
    return key


ingest_batch_http.init_database = init_with_scoring

if __name__ == "__main__":
    ingest_batch_http.main()
