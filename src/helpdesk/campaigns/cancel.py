"""Cancel a campaign: the console, `helpdesk notify cancel` and the API all come here.

What stops, and what may still go out:
- Recipients not handed to a channel yet (pending, or queued in the Telegram outbox)
  are marked `cancelled` in the cancel's transaction, with an audit row.
- SMS: the worker claims a row only if it is still pending, and only when a send slot
  is free, so a claimed row goes straight to Twilio. Sends claimed before the cancel
  committed (at most the worker's concurrency, 4) finish and are recorded as sent.
- Telegram: the guard (campaigns/guard.py) checks each campaign row after its
  rate-limit wait, right before the request, and refuses every row of a cancelled
  campaign. Only a request already on its way when the cancel committed may still go
  out; it is counted `sent` when the dispatcher records it, so the counts stay true.

Cancelling twice is fine (the second does nothing); a finished campaign cannot be
cancelled (CampaignFinished, a 409 in the API).
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.progress import CANCELLED, Progress
from helpdesk.store import campaigns as store
from helpdesk.store.campaign_cancel import Cancelled, cancel_campaign

log = structlog.get_logger(__name__)


class CampaignNotFound(LookupError):
    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"no update #{campaign_id}")


class CampaignFinished(Exception):
    def __init__(self, campaign_id: int, status: str) -> None:
        super().__init__(f"update #{campaign_id} is already {status}: there is nothing to cancel")
        self.status = status


async def cancel(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: int,
    *,
    actor: str,
    agent_id: int | None = None,
) -> tuple[Cancelled, Progress]:
    """Cancel (audited) and return what happened with the campaign's progress after it.

    Raises CampaignNotFound, or CampaignFinished when it is done.
    """
    async with sessions.begin() as session:
        outcome = await cancel_campaign(session, campaign_id, actor=actor, agent_id=agent_id)
    if outcome.status_before is None:
        raise CampaignNotFound(campaign_id)
    if not outcome.cancelled_now and outcome.status_before != CANCELLED:
        raise CampaignFinished(campaign_id, outcome.status_before)
    if outcome.cancelled_now:
        log.info(
            "campaign.cancelled",
            campaign_id=campaign_id,
            actor=actor,
            recipients=outcome.recipients,
        )
    async with sessions() as session:
        [progress] = await store.campaign_progress(session, campaign_ids=[campaign_id])
    return outcome, progress
