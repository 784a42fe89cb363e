"""Benchmark: a customer update to 10,000 Telegram customers through the outbox.

The service runs as its own process (`helpdesk serve`, PostgreSQL by default); the
fake Telegram runs here. With Telegram's bot-wide limit (30/s) the campaign must end
within 1.05 x the floor that limit sets; with `--unlimited` it reports the messages
per second achieved. Either way each customer must get the update exactly once and
the service's memory must stay flat (RSS growth <= 50 MB over the run).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common
from tests.fakes.telegram_server import FakeTelegram

from helpdesk.campaigns.segments import Segment
from helpdesk.campaigns.service import Draft, create
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH
from helpdesk.store.db import create_engine, session_factory
from helpdesk.store.migrate import upgrade_async
from helpdesk.store.models import Customer
from helpdesk.store.types import utcnow

TEXT = "Hello {name}, our warehouse moves on Monday: orders placed this weekend ship a day later."
BURST = 3  # the bot-wide limiter's burst (channels/telegram/ratelimit.py)


async def add_customers(database_url: str, count: int) -> None:
    await upgrade_async(database_url)
    engine = create_engine(database_url)
    now = utcnow()
    rows = [
        {
            "channel": "telegram",
            "external_id": 5_000_000 + n,
            "first_name": f"Customer{n}",
            "language_code": "en",
            "created_at": now,
            "last_seen_at": now,
        }
        for n in range(count)
    ]
    async with session_factory(engine).begin() as session:
        for start in range(0, count, 2000):
            await session.execute(Customer.__table__.insert(), rows[start : start + 2000])
    await engine.dispose()


async def start_campaign(database_url: str) -> int:
    engine = create_engine(database_url)
    draft = Draft(Segment("all"), "telegram", TEXT, created_by="bench")
    async with session_factory(engine).begin() as session:
        campaign_id, _ = await create(
            session, draft, company="Northwind Goods", knowledge_path=SAMPLE_KNOWLEDGE_PATH
        )
    await engine.dispose()
    return campaign_id


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with (
        FakeTelegram(spec_check=False) as telegram,
        common.database(args, "bench_campaign.db") as database_url,
    ):
        await add_customers(database_url, args.customers)
        env = common.service_env(
            database_url,
            8766,
            telegram,
            telegram_rate_limit="0" if args.unlimited else str(args.rate),
            # Lifted, the limit no longer bounds the window: keep it generous.
            campaign_outbox_window=str(args.window),
        )
        async with common.running_service(env) as (_, service):
            return await measure(args, database_url, service.pid, telegram)


async def measure(
    args: argparse.Namespace, database_url: str, pid: int, telegram: FakeTelegram
) -> dict[str, float]:
    done = asyncio.Event()
    received: Counter[int] = Counter()
    last_at = [0.0]

    def on_message(params: dict[str, object]) -> None:
        received[int(str(params["chat_id"]))] += 1
        last_at[0] = time.monotonic()
        if len(received) >= args.customers:
            done.set()

    telegram.message_listeners.append(on_message)
    server = psutil.Process(pid)
    rss_start = common.rss_mb(server)
    peak = [rss_start]
    sampler = asyncio.create_task(common.sample_rss(server, done, peak, every=0.5))
    started = time.monotonic()
    await start_campaign(database_url)
    async with asyncio.timeout(args.timeout):
        await done.wait()
    await asyncio.sleep(2)  # nothing more may arrive
    await sampler
    elapsed = last_at[0] - started
    floor = (args.customers - BURST) / args.rate
    return {
        "elapsed_s": elapsed,
        "floor_s": 0.0 if args.unlimited else floor,
        "ratio_to_floor": 0.0 if args.unlimited else elapsed / floor,
        "messages_per_s": args.customers / elapsed,
        "customers_reached": float(len(received)),
        "duplicates": float(sum(received.values()) - len(received)),
        "rss_start_mb": rss_start,
        "rss_growth_mb": peak[0] - rss_start,
    }


def report(figures: dict[str, float], args: argparse.Namespace) -> bool:
    limit = "no limit" if args.unlimited else f"{args.rate:g}/s"
    database = common.database_name(args)
    print(f"\ncampaign load: {args.customers} customers, Telegram {limit}, {database}")
    for name, value in figures.items():
        print(f"  {name:20} {value:10.2f}")
    checks = {
        "everyone reached once": figures["customers_reached"] == args.customers
        and figures["duplicates"] == 0,
        "RSS growth <= 50 MB": figures["rss_growth_mb"] <= 50,
    }
    if not args.unlimited:
        checks["<= 1.05 x floor"] = figures["ratio_to_floor"] <= 1.05
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--unlimited", action="store_true", help="lift Telegram's limit")
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=900)
    common.add_common_arguments(parser, json_file=False)
    return common.run_and_report(parser.parse_args(), run, report)


if __name__ == "__main__":
    sys.exit(main())
