"""Shared pieces of the ingest benchmarks: a real `leadline serve` subprocess, keys, leads, event generation,
percentiles and the JSON result files.

Only talks to 127.0.0.1. Nothing here is imported by the package or its tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
VENV_BIN = Path(sys.executable).parent
LEADLINE = str(VENV_BIN / "leadline") if (VENV_BIN / "leadline").exists() else shutil.which("leadline") or "leadline"
WORKSPACE = "bench"
PY_SPY = str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else "py-spy"


# ----------------------------------------------------------------------------------------------------------------
# Databases


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    return Path(url.split("sqlite:///", 1)[1])


def pg_conninfo(url: str, dbname: str | None = None) -> str:
    """`postgresql+psycopg://user@host:port/db` -> a libpq conninfo string (optionally for another database)."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://", 1))
    user = parts.username or "postgres"
    info = f"host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} user={user}"
    if parts.password:
        info += f" password={parts.password}"
    return info + f" dbname={dbname or parts.path.lstrip('/') or 'postgres'}"


def pg_dbname(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def pg_with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + dbname).geturl()


def pg_recreate(url: str) -> None:
    """Drop and create the database the URL names (it must be a bench database: refuses anything else)."""
    import psycopg

    name = pg_dbname(url)
    if "bench" not in name:
        raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
    with psycopg.connect(pg_conninfo(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def fresh_database(url: str | None, workdir: Path, name: str) -> str:
    """A new empty database: a SQLite file in `workdir`, or the PostgreSQL database (re)created."""
    if url is None:
        path = workdir / f"{name}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return sqlite_url(path)
    pg_recreate(url)
    return url


def env_for(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LEADLINE_DATABASE_URL"] = url
    return env


def run_cli(url: str, *args: str) -> str:
    out = subprocess.run([LEADLINE, *args], env=env_for(url), check=True, capture_output=True, text=True)
    return out.stdout.strip()


def init_database(url: str) -> float:
    t = time.perf_counter()
    run_cli(url, "init")
    return time.perf_counter() - t


def create_key(url: str) -> str:
    return run_cli(url, "apikey", "create", "--workspace", WORKSPACE, "--scopes", "read,write,admin").splitlines()[-1]


def workspace_id(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        ws = conn.execute(text("SELECT id FROM workspaces WHERE slug = :s"), {"s": WORKSPACE}).scalar_one()
    engine.dispose()
    return int(ws)


# ----------------------------------------------------------------------------------------------------------------
# Leads

DOMAINS = [f"company{i:04d}.example" for i in range(2000)] + ["gmail.com", "outlook.com", "yahoo.fr", "orange.fr"]
FIRST = ["Anne", "Paul", "Marie", "Luc", "Sofia", "Omar", "Chen", "Ines", "Hugo", "Lea", "Noah", "Emma"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon"]


def lead_email(i: int) -> str:
    return f"lead{i:07d}@{DOMAINS[i % len(DOMAINS)]}"


def create_leads(url: str, count: int, *, chunk: int = 500) -> tuple[dict[str, int], float]:
    """Create `count` leads through the service layer (the same upsert the API uses), committing per chunk.

    Returns {email: lead id} and the seconds it took. Run before the server starts (one SQLite writer)."""
    from leadline.core.lead_input import LeadInput
    from leadline.services.leads import WriteMode, upsert_lead
    from leadline.storage.database import Database

    db = Database(url)
    ws = None
    ids: dict[str, int] = {}
    rng = random.Random(7)
    t = time.perf_counter()
    with db.write() as session:
        from leadline.services.workspaces import get_or_create_workspace

        ws = get_or_create_workspace(session, WORKSPACE).id
    for start in range(0, count, chunk):
        with db.write() as session:
            for i in range(start, min(count, start + chunk)):
                email = lead_email(i)
                result = upsert_lead(session, ws, LeadInput(email=email, first_name=rng.choice(FIRST),
                                                            last_name=rng.choice(LAST), country="FR"),
                                     mode=WriteMode.OVERWRITE)
                ids[email] = result.lead.id
    elapsed = time.perf_counter() - t
    db.dispose()
    return ids, elapsed


# ----------------------------------------------------------------------------------------------------------------
# Events

PAGES = ["/", "/pricing", "/pricing/enterprise", "/features", "/features/scoring", "/blog/lead-scoring-101",
         "/blog/b2b-funnel", "/docs/api", "/demo", "/contact", "/customers", "/about", "/careers"]
UTM = [("google", "cpc", "brand-fr"), ("linkedin", "paid_social", "q4-abm"), ("newsletter", "email", "nov-digest"),
       ("facebook", "social", "organic-post"), ("bing", "cpc", "generic"), ("partner-x", "affiliate", "reseller")]
REFERRERS = ["https://www.google.com/", "https://www.linkedin.com/", "https://news.ycombinator.com/", None, None]
FORMS = ["contact", "demo-request", "newsletter", "whitepaper"]


@dataclass
class EventMix:
    """Shares of event subjects: by email (lead looked up by email), by lead id, or anonymous visitor id."""

    email: float = 0.5
    lead_id: float = 0.4
    anonymous: float = 0.1

    @classmethod
    def parse(cls, text: str) -> EventMix:
        parts = dict(p.split("=") for p in text.split(","))
        total = sum(float(v) for v in parts.values())
        shares = {"email": 0.0, "lead_id": 0.0, "anonymous": 0.0}
        shares.update({k if k != "anon" else "anonymous": float(v) / total for k, v in parts.items()})
        return cls(**shares)


@dataclass
class Generated:
    """One API event plus what the service would store for it (used for the raw floor)."""

    api: dict[str, Any]
    lead_id: int | None
    anonymous_id: str | None


@dataclass
class EventFactory:
    leads: dict[str, int]
    mix: EventMix = field(default_factory=EventMix)
    seed: int = 1
    anonymous_pool: int = 20_000
    spread_seconds: int = 3600
    #: "uuid4": random client ids (Segment-style messageId); "sequential": e000000001, e000000002, ...
    key_style: str = "uuid4"
    #: None: sources as the event type implies (about 70% of events carry one); else keep each with this chance
    source_share: float | None = None

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.counter = 0
        self.emails = list(self.leads)
        self.now = datetime.now(UTC)

    def one(self) -> Generated:
        rng = self.rng
        r = rng.random()
        kind = rng.random()
        at = self.now - timedelta(seconds=rng.uniform(0, self.spread_seconds))
        self.counter += 1
        event_id = (str(uuid.UUID(int=rng.getrandbits(128), version=4)) if self.key_style == "uuid4"
                    else f"s{self.seed}-{self.counter:010d}")
        event: dict[str, Any] = {"event_id": event_id, "occurred_at": at.isoformat().replace("+00:00", "Z")}
        if kind < 0.6:
            path = rng.choice(PAGES)
            event["type"] = "page_view"
            event["properties"] = {"url": f"https://www.leadline.example{path}?v={rng.randint(1, 9)}", "path": path,
                                   "title": path.strip("/").replace("/", " - ") or "home"}
            ref = rng.choice(REFERRERS)
            if ref:
                event["source"] = {"referrer": ref}
        elif kind < 0.8:
            event["type"] = "email_click"
            email_id = f"nl-2026-{rng.randint(1, 40):02d}"
            event["properties"] = {"email_id": email_id, "url": f"https://www.leadline.example/blog/{email_id}",
                                   "link": rng.randint(1, 6)}
            event["source"] = {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": email_id}
        else:
            src, medium, campaign = rng.choice(UTM)
            event["type"] = "form_submit"
            event["properties"] = {"form": rng.choice(FORMS), "path": "/contact",
                                   "url": f"https://www.leadline.example/contact?utm_source={src}"}
            event["source"] = {"utm_source": src, "utm_medium": medium, "utm_campaign": campaign}
        if self.source_share is not None and "source" in event and rng.random() >= self.source_share:
            del event["source"]
        lead_id: int | None = None
        anonymous_id: str | None = None
        if r < self.mix.email:
            email = rng.choice(self.emails)
            event["email"] = email
            lead_id = self.leads[email]
        elif r < self.mix.email + self.mix.lead_id:
            email = rng.choice(self.emails)
            lead_id = self.leads[email]
            event["lead_id"] = str(lead_id)
        else:
            anonymous_id = f"anon-{rng.randrange(self.anonymous_pool):08d}"
            event["anonymous_id"] = anonymous_id
        return Generated(event, lead_id, anonymous_id)

    def batch(self, size: int) -> list[Generated]:
        return [self.one() for _ in range(size)]


# ----------------------------------------------------------------------------------------------------------------
# Server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`leadline serve` in a subprocess (its own process group), stopped on exit."""

    def __init__(self, url: str, *, port: int | None = None, log: Path | None = None,
                 extra_env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.url = url
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self.extra_env = extra_env or {}
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        # A SIGTERM to the benchmark must still stop the server it started (via __exit__).
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _exit_on_sigterm)
        env = env_for(self.url) | self.extra_env
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [LEADLINE, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _LIVE_SERVERS.add(self.proc.pid)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become ready")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        _LIVE_SERVERS.discard(self.proc.pid)
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


_LIVE_SERVERS: set[int] = set()


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    print(f"\nbenchmark: got signal {signum}; stopping the server(s) it started and exiting", file=sys.stderr,
          flush=True)
    for pgid in list(_LIVE_SERVERS):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    os._exit(128 + signum)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def server_cpu(server: Server) -> float:
    """CPU of the server process and its children (uvicorn may run the app in a child)."""
    total = cpu_seconds(server.pid)
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(cpu_seconds(int(c)) for c in children)


# ----------------------------------------------------------------------------------------------------------------
# The machine is shared (CI runs, other sessions): measure what else was running


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def machine_busy(seconds: float = 1.0) -> float:
    """Cores busy on average over `seconds` (0 .. cpu count)."""
    a = machine_cpu_seconds()
    time.sleep(seconds)
    return (machine_cpu_seconds() - a) / seconds


def wait_quiet(threshold: float = 0.25, max_wait: float = 300.0) -> float:
    """Wait (up to max_wait s) until other processes use less than `threshold` cores; returns the last reading."""
    deadline = time.monotonic() + max_wait
    busy = machine_busy(2.0)
    warned = False
    while busy > threshold and time.monotonic() < deadline:
        if not warned:
            print(f"  machine busy ({busy:.2f} cores used by others): waiting up to {max_wait:.0f} s for quiet",
                  flush=True)
            warned = True
        busy = machine_busy(5.0)
    if busy > threshold:
        print(f"  WARNING: still {busy:.2f} cores busy with other work; figures will be noisy", flush=True)
    return busy


# ----------------------------------------------------------------------------------------------------------------
# Reporting


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def latency_summary(values_s: Sequence[float]) -> dict[str, float]:
    v = sorted(values_s)
    ms = 1000.0
    return {"count": len(v), "p50_ms": percentile(v, 50) * ms, "p90_ms": percentile(v, 90) * ms,
            "p99_ms": percentile(v, 99) * ms, "p999_ms": percentile(v, 99.9) * ms,
            "max_ms": (v[-1] * ms) if v else float("nan"), "mean_ms": (sum(v) / len(v) * ms) if v else float("nan")}


def table(rows: list[list[Any]], headers: list[str]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if n and _numeric(c) else c.ljust(w)
                               for c, w in zip(row, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("-", "").replace("x", "").isdigit()


def machine_info() -> dict[str, Any]:
    import sqlite3

    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count(), "sqlite": sqlite3.sqlite_version}
    try:
        from importlib.metadata import version

        for pkg in ("leadline", "fastapi", "uvicorn", "sqlalchemy", "pydantic", "httpx", "psycopg"):
            info[pkg] = version(pkg)
    except Exception:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR, text=True,
                                            capture_output=True).stdout.strip()
        info["git_modified"] = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=BENCH_DIR,
                                              text=True, capture_output=True).stdout.split("\n")
    except OSError:
        pass
    info["hot_path_sources"] = source_fingerprint()
    return info


HOT_PATH = ("services/events.py", "services/touches.py", "storage/bulk.py", "api/routes/events.py",
            "api/schemas.py", "storage/database.py", "api/deps.py")


def source_fingerprint() -> dict[str, str]:
    """sha256 (first 12 hex) of the hot-path source files actually imported, so a result names its code."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("leadline")
    root = Path(spec.origin).parent if spec and spec.origin else None
    out: dict[str, str] = {"package_dir": str(root)}
    for rel in HOT_PATH:
        f = root / rel if root else None
        out[rel] = hashlib.sha256(f.read_bytes()).hexdigest()[:12] if f and f.exists() else "absent"
    return out


def write_json(name: str, payload: dict[str, Any]) -> Path:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT_DIR / f"{name}-{stamp}.json"
    payload = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine_info(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    latest = OUT_DIR / f"{name}-latest.json"
    latest.write_text(path.read_text())
    return path


def chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
