"""Summarise a py-spy `--format raw` (folded stacks) profile: where the samples go, by function.

    python bench/profile_summary.py PROFILE.txt [--top 40] [--match leadline] [--under record_events]

Inclusive share = samples with the function anywhere on the stack; self share = samples with it on top.
`--under NAME` restricts to stacks that pass through a function whose label contains NAME (shares are then of
those stacks). Idle threads (uvicorn waiting in select/epoll) are dropped unless --keep-idle.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

IDLE = ("select (selectors.py", "_run_once (asyncio/base_events.py", "wait (threading.py", "epoll",
        "_worker (concurrent/futures/thread.py")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str, with_line: bool) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file}:{m['line']})" if with_line and m["line"] else f"{m['func']} ({file})"


def load(path: Path, keep_idle: bool, with_line: bool) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        stack_text, _, count = line.rpartition(" ")
        frames = [short(f, with_line) for f in stack_text.split(";") if f]
        # py-spy puts "process ..." and "thread ..." labels first; drop them.
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        if not keep_idle and any(idle in frames[-1] for idle in IDLE):
            continue
        stacks.append((frames, int(count)))
    return stacks


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("profile", type=Path)
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--match", default="", help="only list functions whose label contains this")
    p.add_argument("--under", default="", help="only stacks through a function whose label contains this")
    p.add_argument("--lines", action="store_true", help="keep line numbers (per statement) in the labels")
    p.add_argument("--keep-idle", action="store_true")
    args = p.parse_args()

    stacks = load(args.profile, args.keep_idle, args.lines)
    if args.under:
        stacks = [(f, n) for f, n in stacks if any(args.under in x for x in f)]
    total = sum(n for _, n in stacks)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, n in stacks:
        for f in set(frames):
            inclusive[f] += n
        own[frames[-1]] += n
    print(f"{total:,} busy samples" + (f" through {args.under!r}" if args.under else ""))
    print(f"\n{'incl %':>7} {'self %':>7}  function")
    shown = 0
    for f, n in inclusive.most_common():
        if args.match and args.match not in f:
            continue
        print(f"{100 * n / total:7.1f} {100 * own[f] / total:7.1f}  {f}")
        shown += 1
        if shown >= args.top:
            break
    print(f"\n{'self %':>7}  function (top self time)")
    for f, n in own.most_common(args.top if not args.match else 1000):
        if args.match and args.match not in f:
            continue
        print(f"{100 * n / total:7.1f}  {f}")


if __name__ == "__main__":
    main()
