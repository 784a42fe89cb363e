"""Where a profiled service spends its CPU: shares by library from a py-spy raw file.

    .venv/bin/python bench/webhook_load.py --py-spy var/webhook.spy
    .venv/bin/python bench/profile_summary.py var/webhook.spy

A sample counts for every group one of its frames belongs to (a database call made
from the conversation code counts for both), so the shares do not add up to 100 %;
SQLAlchemy's async layer runs statements in greenlets whose stacks do not show the
calling helpdesk code, so "helpdesk store" undercounts what the store costs.
Threads waiting for work (the encoder's pool, idle executor threads) are left out:
py-spy samples them as if they ran.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

# (label, a substring of the frames that belong to it), in the order printed.
GROUPS = [
    ("SQLAlchemy", "sqlalchemy/"),
    ("asyncpg", "asyncpg/"),
    ("openai SDK", "openai/"),
    ("python-telegram-bot", "telegram/_"),
    ("aiohttp", "aiohttp/"),
    ("FastAPI/Starlette", "starlette/"),
    ("helpdesk brain (retrieval, LLM client)", "helpdesk/brain/"),
    ("helpdesk store", "helpdesk/store/"),
    ("helpdesk channels (parse, render, send)", "helpdesk/channels/"),
    ("helpdesk analytics (answer feedback)", "helpdesk/analytics/"),
    ("helpdesk handoff (policy, events)", "helpdesk/handoff/"),
    ("onnxruntime/tokenizers (encoder threads)", "embeddings.py"),
]
IDLE = ("_worker (concurrent/futures/thread.py", "Condition.wait (threading.py", "TMonitor.run")


def summarize(path: Path) -> tuple[int, Counter[str]]:
    active = 0
    shares: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if any(idle in frame for frame in frames[-2:] for idle in IDLE):
            continue
        samples = int(count)
        active += samples
        for label, marker in GROUPS:
            if marker in stack:
                shares[label] += samples
    return active, shares


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="py-spy record --format raw output")
    args = parser.parse_args()
    active, shares = summarize(args.profile)
    if not active:
        print("no active samples", file=sys.stderr)
        return 1
    print(f"{active} active samples")
    for label, _ in GROUPS:
        print(f"  {100 * shares[label] / active:5.1f} %  {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
