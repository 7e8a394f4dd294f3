"""CSV import of 100,000 rows (a HubSpot-style export: names, email, phone for half, company, country,
day-first creation date, opt-out column) into a fresh SQLite database, then the same file again.

    python bench/import_csv.py [ROWS] [DATABASE_URL]
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
TARGET_S = 15.0


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(1)
    first = ["Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille", "Paul", "Julie", "Hugo", "Léa"]
    last = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First Name", "Last Name", "Email", "Phone Number", "Company Name", "Job Title",
                         "Country/Region", "Create Date", "Original Source", "Unsubscribed from all email"])
        for i in range(rows):
            phone = f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
            writer.writerow([rng.choice(first), rng.choice(last), f"contact{i}@company{i % 5000}.fr",
                             phone if i % 2 == 0 else "", f"Company {i % 5000}", "Head of Marketing", "France",
                             f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2025", "Organic Search",
                             "yes" if i % 20 == 0 else "no"])


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{folder / 'import.db'}"
        env = {**os.environ, "LEADLINE_DATABASE_URL": url}
        leadline = str(Path(sys.executable).with_name("leadline"))
        data = folder / "contacts.csv"
        write_file(data, ROWS)
        subprocess.run([leadline, "init"], env=env, check=True, capture_output=True)
        for run in ("fresh database", "same file again"):
            started = time.perf_counter()
            result = subprocess.run([leadline, "import", str(data), "--workspace", "bench"], env=env,
                                    capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            summary = [line for line in result.stderr.splitlines() if "rows in" in line]
            detail = summary[-1] if summary else result.stderr[-300:]
            print(f"{run}: {ROWS:,} rows in {elapsed:.1f} s (target {TARGET_S:g} s) -- {detail}")


if __name__ == "__main__":
    main()
