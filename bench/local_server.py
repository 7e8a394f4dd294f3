"""A throw-away Leadline for benchmarks: a fresh database, an API key, `leadline serve` on a free loopback
port, stopped on exit. Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LEADLINE = str(Path(sys.executable).with_name("leadline"))


@dataclass(frozen=True)
class LocalServer:
    port: int
    headers: dict[str, str]
    pid: int = 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def init_database(url: str) -> str:
    """Migrate the database and return a read/write API key for workspace `bench`."""
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    subprocess.run([LEADLINE, "init"], env=env, check=True, capture_output=True)
    return subprocess.run([LEADLINE, "apikey", "create", "--workspace", "bench", "--scopes", "read,write"],
                          env=env, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def serve(url: str, key: str) -> Iterator[LocalServer]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    process = subprocess.Popen([LEADLINE, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                               stderr=subprocess.DEVNULL)
    server = LocalServer(port, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                         process.pid)
    try:
        for _ in range(200):
            try:
                conn = server.connection()
                conn.request("GET", "/healthz")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
