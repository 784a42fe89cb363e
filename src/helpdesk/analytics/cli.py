"""`helpdesk purge --older-than 365d` and `helpdesk customers forget ID`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from typing import Any

from helpdesk.config import Settings

COMMANDS = ("purge", "customers")


def add_privacy_parsers(commands: Any) -> None:
    purge = commands.add_parser(
        "purge", help="delete conversations, messages, updates and ratings past retention"
    )
    purge.add_argument(
        "--older-than",
        help="an age such as 365d, 12w or 48h (default: HELPDESK_RETENTION_DAYS days)",
    )
    customers = commands.add_parser("customers", help="customer data").add_subparsers(
        dest="customers_command", required=True
    )
    forget = customers.add_parser("forget", help="delete one customer's data everywhere")
    forget.add_argument("customer_id", type=int)


def run_privacy(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from helpdesk.analytics import privacy
    from helpdesk.store.db import create_engine, session_factory
    from helpdesk.store.migrate import upgrade_async

    if args.command == "purge":
        try:
            age = (
                privacy.parse_age(args.older_than)
                if args.older_than
                else timedelta(days=settings.retention_days)
            )
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        if args.command == "purge":
            done = await privacy.purge(sessions, age)
            print(
                f"purged {done.conversations} conversations, {done.messages} messages, "
                f"{done.updates} updates, {done.outbox} outbox rows older than {age.days} days"
            )
            return 0
        forgotten = await privacy.forget(sessions, args.customer_id)
        if forgotten is None:
            print(f"error: no customer {args.customer_id}", file=sys.stderr)
            return 1
        print(
            f"forgot customer {args.customer_id}: {forgotten.conversations} conversations, "
            f"{forgotten.messages} messages, {forgotten.updates} updates deleted"
        )
        return 0
    finally:
        await engine.dispose()
