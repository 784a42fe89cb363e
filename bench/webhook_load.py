"""Benchmark: 200 concurrent customers on the webhook, the LLM answering in a fixed 1 s.

The service runs as its own process (`helpdesk serve`, PostgreSQL by default), the
fake Telegram and fake LLM servers and the customers run here. Prints the figures
next to the targets of the core issue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import fresh_postgres_database
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update

SECRET = "bench-secret"
QUESTIONS = [
    "How long does shipping take?",
    "Where is my parcel?",
    "How do I return an item?",
    "When will I get my refund?",
    "I was charged twice",
    "How can I reset my password?",
    "Do you ship to Canada?",
    "Can I use two promo codes?",
]
TARGETS = {
    "replies_per_s": (">=", 150.0),
    "added_latency_p99_ms": ("<=", 50.0),
    "webhook_accept_p99_ms": ("<=", 20.0),
    "peak_rss_mb": ("<=", 400.0),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("service exited during start-up")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("service did not become ready")


async def sample_rss(pid: int, stop: asyncio.Event, peak: list[float]) -> None:
    process = psutil.Process(pid)
    while not stop.is_set():
        peak[0] = max(peak[0], process.memory_info().rss / 2**20)
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with FakeTelegram(spec_check=False) as telegram, FakeLLM() as llm:
        llm.delay = args.llm_delay
        sqlite = _SQLite(ROOT / "var" / "bench.db")
        database = sqlite if args.sqlite else fresh_postgres_database()
        async with database as database_url:
            port = 8765
            env = {
                **os.environ,
                "HELPDESK_DATABASE_URL": database_url,
                "HELPDESK_DATA_DIR": str(ROOT / "var" / "bench"),
                "HELPDESK_PORT": str(port),
                "HELPDESK_LOG_LEVEL": "WARNING",
                "HELPDESK_TELEGRAM_BOT_TOKEN": telegram.token,
                "HELPDESK_TELEGRAM_API_BASE": telegram.base_url,
                "HELPDESK_TELEGRAM_WEBHOOK_URL": "https://bench.example.test/telegram/webhook",
                "HELPDESK_TELEGRAM_WEBHOOK_SECRET": SECRET,
                "HELPDESK_TELEGRAM_RATE_LIMIT": "0",
                "HELPDESK_LLM_BASE_URL": llm.base_url,
                "HELPDESK_LLM_TIMEOUT": "30",
            }
            service = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "helpdesk"), "serve"], env=env, cwd=ROOT
            )
            url = f"http://127.0.0.1:{port}"
            try:
                await wait_ready(url, service)
                return await load(args, url, service.pid, telegram)
            except Exception:
                if service.poll() is not None:
                    print(f"the service exited with {service.returncode}", file=sys.stderr)
                raise
            finally:
                service.terminate()
                service.wait(timeout=30)


async def load(
    args: argparse.Namespace, url: str, pid: int, telegram: FakeTelegram
) -> dict[str, float]:
    accept_ms: list[float] = []
    added_ms: list[float] = []
    sent_at: dict[tuple[int, int], float] = {}
    limits = httpx.Limits(max_connections=args.customers, max_keepalive_connections=args.customers)
    replies: dict[int, asyncio.Queue[float]] = {}
    telegram.message_listeners.append(
        lambda params: replies[int(params["chat_id"])].put_nowait(time.monotonic())
    )
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def customer(index: int) -> None:
            chat_id = 900_000 + index
            replies[chat_id] = asyncio.Queue()
            for turn in range(args.messages):
                update_id = index * 1000 + turn + 1
                text = QUESTIONS[(index + turn) % len(QUESTIONS)]
                started = time.monotonic()
                sent_at[(chat_id, turn)] = started
                response = await client.post(
                    f"{url}/telegram/webhook",
                    json=tg_text_update(update_id, chat_id, text),
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                accept_ms.append((time.monotonic() - started) * 1000)
                response.raise_for_status()
                async with asyncio.timeout(60):
                    await replies[chat_id].get()

        stop = asyncio.Event()
        peak = [0.0]
        server = psutil.Process(pid)
        cpu_before = sum(server.cpu_times()[:2])
        own_before = sum(psutil.Process().cpu_times()[:2])
        sampler = asyncio.create_task(sample_rss(pid, stop, peak))
        started = time.monotonic()
        await asyncio.gather(*(customer(i) for i in range(args.customers)))
        elapsed = time.monotonic() - started
        server_cpu = sum(server.cpu_times()[:2]) - cpu_before
        own_cpu = sum(psutil.Process().cpu_times()[:2]) - own_before
        stop.set()
        await sampler

    per_chat: dict[int, list[float]] = {}
    for call in telegram.calls:
        if call.method == "sendMessage":
            per_chat.setdefault(int(call.params["chat_id"]), []).append(call.at)
    for chat_id, times in per_chat.items():
        for turn, at in enumerate(times):
            added_ms.append((at - sent_at[(chat_id, turn)] - args.llm_delay) * 1000)
    total = args.customers * args.messages
    return {
        "updates_per_s": total / elapsed,
        "replies_per_s": sum(len(t) for t in per_chat.values()) / elapsed,
        "added_latency_p50_ms": statistics.median(added_ms),
        "added_latency_p99_ms": percentile(added_ms, 0.99),
        "webhook_accept_p50_ms": statistics.median(accept_ms),
        "webhook_accept_p99_ms": percentile(accept_ms, 0.99),
        "peak_rss_mb": peak[0],
        # CPU seconds the service spent per reply: steadier than wall time on a busy box.
        "server_cpu_ms_per_reply": server_cpu * 1000 / max(1, total),
        # The customers and fakes share this machine: their cost bounds what is measurable.
        "bench_cpu_ms_per_reply": own_cpu * 1000 / max(1, total),
        "server_cpu_share": server_cpu / elapsed,
        "elapsed_s": elapsed,
    }


class _SQLite:
    def __init__(self, path: Path) -> None:
        self.path = path

    async def __aenter__(self) -> str:
        self.path.unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{self.path}"

    async def __aexit__(self, *_exc: object) -> None:
        self.path.unlink(missing_ok=True)


def report(figures: dict[str, float], args: argparse.Namespace) -> bool:
    database = "SQLite" if args.sqlite else "PostgreSQL"
    print(
        f"\nwebhook load: {args.customers} customers x {args.messages} messages, "
        f"LLM {args.llm_delay:.1f} s, {database}, {os.cpu_count()} cores"
    )
    ok = True
    for name, value in figures.items():
        target = TARGETS.get(name)
        verdict = ""
        if target:
            op, limit = target
            passed = value >= limit if op == ">=" else value <= limit
            ok &= passed
            verdict = f"target {op} {limit:g}  {'PASS' if passed else 'FAIL'}"
        print(f"  {name:24} {value:10.1f}   {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=8)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    ok = report(figures, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
