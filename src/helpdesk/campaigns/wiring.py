"""Build the campaign worker from the running service's parts (called by app.py)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.guard import guard_campaign_sends
from helpdesk.campaigns.worker import CampaignWorker
from helpdesk.config import Settings
from helpdesk.handoff.events import EventBus
from helpdesk.notify import SmsSender


class _Outlet(Protocol):
    def render(self, markdown: str) -> list[str]: ...


class _Dispatcher(Protocol):
    def wake(self) -> None: ...


def build_campaign_worker(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    sms: SmsSender | None,
    outlet: _Outlet | None,
    dispatcher: _Dispatcher | None,
    events: EventBus,
) -> CampaignWorker:
    def progress(campaign_ids: list[int]) -> None:
        # The console only needs to know that progress moved; it fetches the numbers.
        events.publish("campaign", campaign_ids=campaign_ids)

    return CampaignWorker(
        sessions,
        settings,
        sms=sms,
        render_telegram=outlet.render if outlet is not None else None,
        on_outbox=dispatcher.wake if dispatcher is not None else None,
        on_progress=progress,
    )


__all__ = ["build_campaign_worker", "guard_campaign_sends"]
