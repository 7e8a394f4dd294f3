"""Many concurrent writes against a real server process must all succeed (a sync handler used to wait for
the single SQLite writer inside a thread-pool thread; with 40 such waiters the holder could not finish and
the server stalled until the pool timeout, then answered 500)."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection

from leadline.core.leads import Scope
from leadline.services.workspaces import create_api_key, get_or_create_workspace

CONCURRENCY = 64


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sixty_four_concurrent_writers_all_succeed(db, tmp_path):
    with db.write() as session:
        token = create_api_key(session, get_or_create_workspace(session, "load"), frozenset(Scope))
    port = _free_port()
    env = {**os.environ, "LEADLINE_DATABASE_URL": db.url}
    server = subprocess.Popen([sys.executable, "-m", "leadline.cli.main", "serve", "--port", str(port)], env=env,
                              stderr=(tmp_path / "server.log").open("w"))
    statuses: list[int] = []
    lock = threading.Lock()
    try:
        deadline = time.monotonic() + 60  # a loaded 2-core machine can take a while to import and start
        while time.monotonic() < deadline:
            try:
                probe = HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        start = threading.Barrier(CONCURRENCY)

        def client(n: int) -> None:
            conn = HTTPConnection("127.0.0.1", port, timeout=60)
            start.wait()
            for k in range(3):
                path, body = (("/api/v1/leads", {"email": f"c{n}-{k}@load.io"}) if k != 1 else
                              ("/api/v1/events", {"type": "page_view", "email": f"c{n}-0@load.io"}))
                conn.request("POST", path, json.dumps(body), headers)
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses.append(response.status)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert len(statuses) == CONCURRENCY * 3
    assert set(statuses) <= {200, 201}, (sorted(set(statuses)), (tmp_path / "server.log").read_text()[-3000:])
