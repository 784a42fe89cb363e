"""Wiring: build the running service from settings."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from helpdesk import console
from helpdesk.admin.settings import SettingsAdmin
from helpdesk.analytics.weekly import run_weekly_reports as weekly
from helpdesk.analytics.wiring import build_analytics
from helpdesk.api import health, routes, twilio, twilio_inbound
from helpdesk.brain import Brain, load_brain
from helpdesk.campaigns.wiring import build_campaign_worker, guard_campaign_sends
from helpdesk.campaigns.worker import CampaignWorker
from helpdesk.channels import webchat, webhook
from helpdesk.channels.delivery import OutboxDispatcher, TelegramOutlet
from helpdesk.channels.telegram import ALLOWED_UPDATES, TelegramClient, parse_update, poll_updates
from helpdesk.config import Settings
from helpdesk.conversation import ChatQueue, ConversationService, Outlet
from helpdesk.conversation.intake import Intake
from helpdesk.handoff import EncoderEmbedder, EscalationPolicy
from helpdesk.handoff.alerting import AlertWorker
from helpdesk.handoff.events import EventBus
from helpdesk.handoff.service import HandoffService
from helpdesk.notify import build_senders
from helpdesk.store import updates as update_store
from helpdesk.store.db import autocommit_connections, create_engine, session_factory
from helpdesk.verification import VerificationService, build_verification

log = structlog.get_logger(__name__)

TELEGRAM = "telegram"


@dataclass
class Runtime:
    """Everything the running service holds; routes reach it as app.state.runtime."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    brain: Brain
    queue: ChatQueue
    service: ConversationService
    events: EventBus
    handoff: HandoffService
    telegram: TelegramClient | None = None
    telegram_intake: Intake | None = None
    dispatcher: OutboxDispatcher | None = None
    alerts: AlertWorker | None = None
    campaigns: CampaignWorker | None = None
    verification: VerificationService | None = None
    settings_admin: SettingsAdmin | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def telegram_mode(self) -> str:
        if self.telegram is None:
            return "off"
        return "webhook" if self.settings.webhook_mode else "polling"


async def start_runtime(settings: Settings, brain: Brain | None = None) -> Runtime:
    """Start every part; `brain` may be passed in to share a loaded model (tests, bench)."""
    if settings.webhook_mode and not settings.telegram_webhook_secret:
        raise ValueError("HELPDESK_TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # For the units of one statement on the per-message path (see the factory).
    single_statements = autocommit_connections(engine)
    settings_admin = SettingsAdmin(settings, sessions)
    await settings_admin.load()  # admins' overrides win over the environment from here on
    if brain is None:
        brain = await load_brain(settings)

    telegram: TelegramClient | None = None
    outlets: dict[str, Outlet] = {}
    outlet: TelegramOutlet | None = None
    if settings.telegram_bot_token:
        telegram = TelegramClient(
            settings.telegram_bot_token,
            settings.telegram_api_base,
            rate_limit=settings.telegram_rate_limit,
            chat_rate_limit=settings.telegram_chat_rate_limit,
        )
        outlet = TelegramOutlet(telegram)
        outlets[TELEGRAM] = outlet

    dispatcher: OutboxDispatcher | None = None
    if outlet is not None:
        # Campaign rows get a last consent check right before they go out.
        send = guard_campaign_sends(sessions, outlet.send)
        dispatcher = OutboxDispatcher(single_statements, TELEGRAM, send)

    def wake_outbox(_channel: str) -> None:
        if dispatcher is not None:
            dispatcher.wake()

    sms, email = build_senders(settings)
    events = EventBus()
    alerts = AlertWorker(sessions, settings, sms, email, events=events)
    handoff = HandoffService(sessions, events, outlets=outlets, on_outbox=wake_outbox)
    verification = build_verification(sessions, settings, sms, brain)
    answer_callback = telegram.answer_callback if telegram is not None else None
    feedback, closer = build_analytics(sessions, settings, outlets, answer_callback, wake_outbox)
    service = ConversationService(
        sessions,
        brain,
        transactions=engine.begin,
        company_name=settings.company_name,
        history_turns=settings.llm_history_turns,
        parsers={TELEGRAM: parse_update},
        outlets=outlets,
        on_outbox=wake_outbox,
        on_ready=dispatcher.submit if dispatcher is not None else None,
        settings=settings,
        policy=EscalationPolicy(settings, EncoderEmbedder(brain.encoder)),
        handoff=handoff,
        on_escalated=alerts.escalated,
        verification=verification,
        feedback=feedback,
    )
    queue = ChatQueue(service.process_update, give_up=service.give_up)
    runtime = Runtime(
        settings,
        engine,
        sessions,
        brain,
        queue,
        service,
        events,
        handoff,
        telegram,
        None,
        dispatcher,
        alerts,
    )
    runtime.verification = verification
    runtime.settings_admin = settings_admin
    settings_admin.on_change(alerts.settings_changed)
    runtime.tasks.append(asyncio.create_task(alerts.run(runtime.stop)))
    runtime.campaigns = build_campaign_worker(sessions, settings, sms, outlet, dispatcher, events)
    runtime.tasks.append(asyncio.create_task(runtime.campaigns.run(runtime.stop)))
    runtime.tasks.append(asyncio.create_task(closer.run(runtime.stop)))
    weekly_report = weekly(sessions, settings, email, brain.encoder, runtime.stop)
    runtime.tasks.append(asyncio.create_task(weekly_report))

    if telegram is not None and dispatcher is not None:
        intake = Intake(
            single_statements,
            queue,
            channel=TELEGRAM,
            parse=parse_update,
            remember=service.remember,
        )
        runtime.telegram_intake = intake
        await intake.resume_pending()
        runtime.tasks.append(asyncio.create_task(dispatcher.run(runtime.stop)))
        if settings.webhook_mode:
            assert settings.telegram_webhook_url and settings.telegram_webhook_secret
            await telegram.set_webhook(
                settings.telegram_webhook_url, settings.telegram_webhook_secret, ALLOWED_UPDATES
            )
        else:
            await telegram.delete_webhook()
            async with sessions() as session:
                offset = await update_store.next_update_offset(session, TELEGRAM)
            runtime.tasks.append(
                asyncio.create_task(
                    poll_updates(
                        telegram,
                        intake.accept_polled,
                        offset=offset,
                        timeout=settings.telegram_poll_timeout,
                        stop=runtime.stop,
                    )
                )
            )
    log.info(
        "helpdesk.started",
        telegram=runtime.telegram_mode,
        llm=settings.llm_base_url or "offline",
        articles=brain.article_count,
    )
    return runtime


async def stop_runtime(runtime: Runtime, *, close_brain: bool = True) -> None:
    runtime.stop.set()
    for task in runtime.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)
    await runtime.queue.close()
    if runtime.alerts is not None:
        await runtime.alerts.aclose()
    if runtime.verification is not None:
        await runtime.verification.aclose()
    if runtime.telegram is not None:
        await runtime.telegram.close()
    if close_brain:
        await runtime.brain.aclose()
    await runtime.engine.dispose()


def create_app(
    settings: Settings | None = None, brain: Brain | None = None, *, owns_process: bool = False
) -> FastAPI:
    """The ASGI app. `owns_process`: the app is all the process runs (`helpdesk serve`)."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await start_runtime(settings, brain)
        app.state.runtime = runtime
        if owns_process:
            # What start-up built (modules, the index, the model) lives as long as the
            # process; left in the collector's oldest generation, every full collection
            # scans it and stalls the event loop 80-180 ms (measured under the handoff
            # benchmark). Not in tests: they start many apps in one process.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await stop_runtime(runtime, close_brain=brain is None)

    app = FastAPI(title="helpdesk", lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(routes.router)
    app.include_router(twilio.router)
    app.include_router(twilio_inbound.router)
    app.include_router(webhook.router)
    app.include_router(webchat.router)
    app.include_router(console.router)
    app.mount(console.STATIC_PREFIX, console.static_files(), name="console-static")
    return app
