"""Benchmark: 200 concurrent customers on the webhook, the LLM answering in a fixed 1 s.

The service runs as its own process (`helpdesk serve`, PostgreSQL by default), the
fake Telegram and fake LLM servers and the customers run here. Prints the figures
next to the targets of the core issue.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update

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
# Openings that make every message a text of its own, as real customers' are: with
# eight exact questions repeated, the encoder's cache would answer every lookup.
OPENINGS = ["Hi, order {n} here.", "Hello! Ticket {n}:", "Quick one (ref {n}):", "Customer {n} -"]


def question(customer: int, turn: int) -> str:
    opening = OPENINGS[(customer + turn) % len(OPENINGS)].format(n=100_000 + customer * 100 + turn)
    return f"{opening} {QUESTIONS[(customer + turn) % len(QUESTIONS)]}"


TARGETS = {
    "replies_per_s": (">=", 150.0),
    "added_latency_p99_ms": ("<=", 50.0),
    "webhook_accept_p99_ms": ("<=", 20.0),
    "peak_rss_mb": ("<=", 400.0),
}


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with FakeTelegram(spec_check=False) as telegram, FakeLLM() as llm:
        llm.delay = args.llm_delay
        async with common.database(args, "bench.db") as database_url:
            env = common.service_env(
                database_url,
                8765,
                telegram,
                telegram_rate_limit="0",
                llm_base_url=llm.base_url,
                llm_timeout="30",
            )
            async with common.running_service(env) as (url, service):
                with common.profiling(service.pid, args.py_spy):
                    return await load(args, url, service.pid, telegram)


async def load(
    args: argparse.Namespace, url: str, pid: int, telegram: FakeTelegram
) -> dict[str, float]:
    accept_ms: list[float] = []
    redelivered = [0]
    added_ms: list[float] = []
    sent_at: dict[tuple[int, int], float] = {}
    replies: dict[int, asyncio.Queue[float]] = {}
    telegram.message_listeners.append(
        lambda params: replies[int(params["chat_id"])].put_nowait(time.monotonic())
    )
    # aiohttp rather than httpx: httpx's pool scans all its connections on every request,
    # which at 200 connections made the customers cost more CPU than the service.
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout would close
    # them under our feet (a customer waits seconds for its reply under this load).
    connector = aiohttp.TCPConnector(limit=args.customers, keepalive_timeout=3)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def deliver(update: dict[str, object]) -> int:
            # Like Telegram, deliver again when the connection fails (uvicorn closing an
            # idle keep-alive connection as a request is sent on it): update_id makes
            # the second delivery harmless.
            for attempt in range(3):
                try:
                    async with client.post(
                        f"{url}/telegram/webhook",
                        json=update,
                        headers={"X-Telegram-Bot-Api-Secret-Token": common.SECRET},
                    ) as response:
                        await response.read()
                        return response.status
                except aiohttp.ClientConnectionError:
                    redelivered[0] += 1
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        # Customers do not all write in the same millisecond: each starts at a random
        # moment of the first `--stagger` seconds (then the fixed LLM time would keep
        # them in lock-step, every round one burst of 200 messages).
        draw = random.Random(7)
        starts = [draw.random() for _ in range(args.customers)]

        async def customer(index: int) -> None:
            chat_id = 900_000 + index
            replies[chat_id] = asyncio.Queue()
            await asyncio.sleep(args.stagger * starts[index])
            for turn in range(args.messages):
                update_id = index * 1000 + turn + 1
                text = question(index, turn)
                started = time.monotonic()
                sent_at[(chat_id, turn)] = started
                status = await deliver(tg_text_update(update_id, chat_id, text))
                accept_ms.append((time.monotonic() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"the webhook answered {status}")
                async with asyncio.timeout(60):
                    await replies[chat_id].get()

        stop = asyncio.Event()
        peak = [0.0]
        server = psutil.Process(pid)
        cpu_before = common.cpu_seconds(server)
        own_before = common.cpu_seconds(psutil.Process())
        database_before = common.database_cpu_seconds()
        sampler = asyncio.create_task(common.sample_rss(server, stop, peak))
        started = time.monotonic()
        await asyncio.gather(*(customer(i) for i in range(args.customers)))
        elapsed = time.monotonic() - started
        server_cpu = common.cpu_seconds(server) - cpu_before
        own_cpu = common.cpu_seconds(psutil.Process()) - own_before
        database_cpu = common.database_cpu_seconds() - database_before
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
    # The service and its database, leaving out the customers and fakes run here.
    serving_ms = (server_cpu + database_cpu) * 1000 / max(1, total)
    return {
        "updates_per_s": total / elapsed,
        "replies_per_s": sum(len(t) for t in per_chat.values()) / elapsed,
        "added_latency_p50_ms": statistics.median(added_ms),
        "added_latency_p99_ms": common.percentile(added_ms, 0.99),
        "webhook_accept_p50_ms": statistics.median(accept_ms),
        "webhook_accept_p99_ms": common.percentile(accept_ms, 0.99),
        "peak_rss_mb": peak[0],
        # CPU seconds the service spent per reply: steadier than wall time on a busy box.
        "server_cpu_ms_per_reply": server_cpu * 1000 / max(1, total),
        # The customers and fakes share this machine: their cost bounds what is measurable.
        "bench_cpu_ms_per_reply": own_cpu * 1000 / max(1, total),
        "database_cpu_ms_per_reply": database_cpu * 1000 / max(1, total),
        # What the target rate costs in cores at this CPU per reply (2 here, bench included).
        "cores_needed_at_target": serving_ms * TARGETS["replies_per_s"][1] / 1000,
        "server_cpu_share": server_cpu / elapsed,
        "webhook_redeliveries": float(redelivered[0]),
        "elapsed_s": elapsed,
    }


def report(figures: dict[str, float], args: argparse.Namespace) -> bool:
    print(
        f"\nwebhook load: {args.customers} customers x {args.messages} messages, "
        f"LLM {args.llm_delay:.1f} s, {common.database_name(args)}, {os.cpu_count()} cores"
    )
    return common.print_figures(figures, TARGETS, 24)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=8)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument(
        "--stagger", type=float, default=1.0, help="customers start within this many seconds"
    )
    common.add_common_arguments(parser)
    common.add_profile_argument(parser)
    return common.run_and_report(parser.parse_args(), run, report)


if __name__ == "__main__":
    sys.exit(main())
