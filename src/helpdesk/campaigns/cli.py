"""`helpdesk notify send`: create a customer update from the terminal and watch it go;
`helpdesk notify cancel ID`: stop one that is still sending.

The command writes the campaign and its recipient rows; the running service
(`helpdesk serve`) sends them, and the command follows its progress with a bar until
every recipient is done (Ctrl-C stops watching, not sending). `--dry-run` only says
who would get it and what the SMS would cost.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

from helpdesk.campaigns.progress import CANCELLED, SENDING, Progress
from helpdesk.config import Settings

CHANNELS = ("telegram", "sms", "both")


def add_notify_parser(commands: Any) -> None:
    notify = commands.add_parser("notify", help="important updates to customers").add_subparsers(
        dest="notify_command", required=True
    )
    send = notify.add_parser("send", help="send an update to a segment of customers")
    send.add_argument(
        "--segment",
        required=True,
        help="all, verified, language=xx, tag=TAG or topic=ARTICLE_ID",
    )
    send.add_argument("--text-file", required=True, type=Path, help="the text (UTF-8)")
    send.add_argument("--link", help="a link added at the end (or where {link} stands)")
    send.add_argument("--channel", choices=CHANNELS, default="telegram")
    send.add_argument("--days", type=int, help="tag/topic: only answers of the last N days")
    send.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LANG=FILE",
        help="the text for customers of one language (repeatable)",
    )
    send.add_argument("--dry-run", action="store_true", help="count recipients, send nothing")
    send.add_argument("--no-wait", action="store_true", help="do not follow the progress")
    cancel = notify.add_parser("cancel", help="stop an update that is still sending")
    cancel.add_argument("campaign_id", type=int, metavar="ID", help="the update's number")


def run_notify(args: argparse.Namespace, settings: Settings) -> int:
    if args.notify_command == "cancel":
        return asyncio.run(_cancel(args.campaign_id, settings))
    try:
        return asyncio.run(_send(args, settings))
    except KeyboardInterrupt:
        print("\nstopped watching; the service keeps sending", file=sys.stderr)
        return 130


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


async def _send(args: argparse.Namespace, settings: Settings) -> int:
    from helpdesk.campaigns.segments import SegmentError, parse_segment
    from helpdesk.campaigns.service import Draft, create, plan
    from helpdesk.store.db import create_engine, session_factory
    from helpdesk.store.migrate import upgrade_async

    try:
        variants = {}
        for item in args.variant:
            language, _, file = item.partition("=")
            if not language or not file:
                raise ValueError(f"--variant wants LANG=FILE, got {item!r}")
            variants[language.strip().lower()] = _read(Path(file))
        draft = Draft(
            segment=parse_segment(
                args.segment, days=args.days, topic_days=settings.campaign_topic_days
            ),
            channel=args.channel,
            text=_read(args.text_file),
            link=args.link,
            variants=variants,
            created_by="cli",
        )
    except (OSError, SegmentError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    options: dict[str, Any] = {
        "company": settings.company_name,
        "knowledge_path": settings.knowledge_path,
    }
    try:
        if args.dry_run:
            async with sessions() as session:
                planned = await plan(session, draft, **options)
            _print_plan(planned, draft.channels())
            return 0
        async with sessions.begin() as session:
            campaign_id, planned = await create(session, draft, **options)
        _print_plan(planned, draft.channels())
        print(f"update #{campaign_id} created; the running service sends it")
        if args.no_wait or not planned.recipients:
            return 0
        return await _follow(sessions, campaign_id, len(planned.recipients))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()


def _print_plan(planned: Any, channels: tuple[str, ...]) -> None:
    print(f"segment: {planned.in_segment} customer(s)")
    for channel in channels:
        line = f"{channel}: {planned.count(channel)} recipient(s)"
        if channel == "sms" and planned.sms_encoding:
            line += (
                f", {planned.sms_encoding}, {planned.sms_max_segments} segment(s) per SMS at"
                f" most, {planned.sms_segments} segment(s) in all"
            )
        left_out = planned.opted_out.get(channel, 0)
        unreachable = planned.unreachable.get(channel, 0)
        if left_out or unreachable:
            line += f" ({left_out} opted out, {unreachable} not reachable)"
        print(line)
    for channel in channels:
        sample = planned.sample(channel)
        if sample is not None:
            print(f"--- {channel} sample ---\n{sample}")


async def _follow(sessions: Any, campaign_id: int, total: int) -> int:
    from tqdm import tqdm

    from helpdesk.store.campaigns import campaign_progress

    with tqdm(total=total, unit="msg", desc=f"update #{campaign_id}") as bar:
        while True:
            async with sessions() as session:
                found = await campaign_progress(session, campaign_ids=[campaign_id])
            progress = found[0]
            done = progress.total() - progress.pending()
            bar.update(done - bar.n)
            bar.set_postfix(
                sent=progress.sent(), failed=progress.failed(), pending=progress.pending()
            )
            if progress.status != SENDING:
                break
            await asyncio.sleep(0.5)
    print(_summary(progress))
    return 0


def _summary(progress: Progress) -> str:
    line = (
        f"update #{progress.campaign_id}: {progress.sent()} sent, {progress.failed()} failed, "
        f"{progress.skipped()} skipped"
    )
    if progress.status == CANCELLED:
        line += f", {progress.cancelled()} cancelled"
    return line


def _actor() -> str:
    """Who cancels from the terminal, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def _cancel(campaign_id: int, settings: Settings) -> int:
    from helpdesk.campaigns.cancel import CampaignFinished, CampaignNotFound, cancel
    from helpdesk.store.db import create_engine, session_factory
    from helpdesk.store.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        outcome, progress = await cancel(session_factory(engine), campaign_id, actor=_actor())
    except (CampaignNotFound, CampaignFinished) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    if outcome.cancelled_now:
        print(f"update #{campaign_id} cancelled: {outcome.recipients} recipient(s) will not get it")
    else:
        print(f"update #{campaign_id} was already cancelled")
    print(_summary(progress))
    return 0
