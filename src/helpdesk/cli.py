"""The `helpdesk` command: serve, chat, kb import, db upgrade, agents create."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from helpdesk.config import Settings
from helpdesk.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="helpdesk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (web, Telegram, workers)")
    commands.add_parser("chat", help="talk to the assistant in this terminal")
    kb = commands.add_parser("kb", help="knowledge base").add_subparsers(
        dest="kb_command", required=True
    )
    kb_import = kb.add_parser("import", help="index a folder of Markdown articles")
    kb_import.add_argument("path", type=Path)
    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations")
    agents = commands.add_parser("agents", help="support team accounts").add_subparsers(
        dest="agents_command", required=True
    )
    create = agents.add_parser(
        "create", help="add an agent; password from stdin (one line) or prompted"
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--phone", help="international format, for SMS alerts")
    create.add_argument("--role", choices=("agent", "admin"), default="agent")
    from helpdesk.campaigns.cli import add_notify_parser, run_notify
    from helpdesk.evaluation.cli import add_eval_parser, run_eval

    add_eval_parser(commands)
    from helpdesk.analytics.cli import COMMANDS as PRIVACY
    from helpdesk.analytics.cli import add_privacy_parsers, run_privacy

    add_privacy_parsers(commands)
    add_notify_parser(commands)
    from helpdesk.analytics.report import add_report_parser, run_report

    add_report_parser(commands)
    args = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return serve(settings)
    if args.command == "chat":
        return asyncio.run(chat(settings))
    if args.command == "kb":
        return asyncio.run(kb_reindex(settings, args.path))
    if args.command == "db":
        return db_upgrade(settings)
    if args.command == "eval":
        return run_eval(args, settings)
    if args.command == "notify":
        return run_notify(args, settings)
    if args.command == "report":
        return run_report(args, settings)
    if args.command in PRIVACY:
        return run_privacy(args, settings)
    if args.command == "agents":
        return asyncio.run(agents_create(settings, args))
    return 2


async def agents_create(settings: Settings, args: argparse.Namespace) -> int:
    from getpass import getpass

    from pydantic import ValidationError

    from helpdesk.api.schemas import AgentCreate
    from helpdesk.store.agents import AgentExists, create_agent
    from helpdesk.store.db import create_engine, session_factory
    from helpdesk.store.migrate import upgrade_async

    if sys.stdin.isatty():
        password = getpass("Password: ")
        if getpass("Repeat password: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    values = {"email": args.email, "name": args.name, "phone": args.phone, "role": args.role}
    try:
        new = AgentCreate.model_validate({**values, "password": password})
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(map(str, problem["loc"]))
            print(
                f"error: {where}: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr
            )
        return 2
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine).begin() as session:
            agent_id = (await create_agent(session, **new.model_dump())).id
    except (AgentExists, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(agent_id)
    return 0


def db_upgrade(settings: Settings) -> int:
    from helpdesk.store.migrate import upgrade

    upgrade(settings.database_url)
    print(f"database at head: {settings.database_url}")
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    from helpdesk.app import create_app

    db_upgrade(settings)
    print(f"helpdesk on http://{settings.host}:{settings.port}  (web chat: /chat)")
    # Bounded graceful shutdown: open event streams would otherwise hold the process.
    uvicorn.run(
        create_app(settings, owns_process=True),
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    return 0


async def kb_reindex(settings: Settings, path: Path) -> int:
    from helpdesk.brain import load_brain

    if not path.is_dir():
        print(f"not a folder: {path}", file=sys.stderr)
        return 2
    brain = await load_brain(settings.model_copy(update={"knowledge_path": path}))
    try:
        count = await brain.reindex(path)
    finally:
        await brain.aclose()
    print(f"indexed {count} articles from {path}")
    return 0


async def chat(settings: Settings) -> int:
    from helpdesk.brain import load_brain
    from helpdesk.conversation import ConversationService
    from helpdesk.domain import IncomingMessage, MessageKind
    from helpdesk.store.db import create_engine, session_factory
    from helpdesk.store.migrate import upgrade_async

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    brain = await load_brain(settings)
    service = ConversationService(
        session_factory(engine),
        brain,
        transactions=engine.begin,
        company_name=settings.company_name,
    )
    print(f"{settings.company_name} assistant. Type your question; Ctrl-D to leave.\n")
    chat_id = int(datetime.now(UTC).timestamp() * 1000)
    try:
        for update_id in range(1, 1_000_000):
            try:
                text = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                print()
                break
            if not text:
                continue
            incoming = IncomingMessage(
                channel="cli",
                update_id=update_id,
                chat_id=chat_id,
                user_id=chat_id,
                kind=MessageKind.COMMAND if text.startswith("/") else MessageKind.TEXT,
                sent_at=datetime.now(UTC),
                text=text,
            )
            reply = await service.handle(incoming, update_row_id=None)
            if reply is not None:
                print(f"bot> {reply.text}")
                if reply.answer is not None:
                    flag = "  (a person will follow up)" if reply.answer.needs_human else ""
                    print(f"     [confidence {reply.answer.confidence:.2f}]{flag}")
                print()
    finally:
        await brain.aclose()
        await engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
