"""The last check, in front of the Telegram outbox dispatcher: consent and cancel.

Campaign rows can wait in the outbox for a while (a window of them, or a retry after
a 429), and then in the rate limiter for a few seconds more; a customer who sends
/notifications off in between must not get them, nor anyone once an admin cancelled
the campaign. The dispatcher's send function is wrapped: a campaign row (dedup key
`campaign:{id}:{customer}:{part}`) is checked, in one query, against the campaign's
status and the customer's consent once the rate-limit wait is over, right before the
request (the channel's `ready` hook), and refused as undeliverable when either says
no. Other rows (replies to customers) pass without a query.
"""

from __future__ import annotations

from functools import partial

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.consent import telegram_allowed
from helpdesk.campaigns.progress import CANCELLED, OPEN
from helpdesk.channels.delivery import GatedSend, Send, Undeliverable
from helpdesk.store import campaigns as store
from helpdesk.store.outbox import Queued

log = structlog.get_logger(__name__)


def campaign_key(dedup_key: str) -> tuple[int, int] | None:
    """(campaign id, customer id) of a campaign outbox row, else None."""
    parts = dedup_key.split(":")
    if len(parts) != 4 or parts[0] != "campaign":
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


def guard_campaign_sends(sessions: async_sessionmaker[AsyncSession], send: GatedSend) -> Send:
    async def check(campaign_id: int, customer_id: int) -> None:
        async with sessions() as session:
            found = await store.telegram_check(session, campaign_id, customer_id)
        if found is not None and found.campaign_status == CANCELLED:
            if found.status in OPEN:  # queued by a worker that had not seen the cancel yet
                async with sessions.begin() as session:
                    await store.mark_cancelled(session, found.recipient_id)
            log.info(
                "campaign.telegram_cancelled", campaign_id=campaign_id, customer_id=customer_id
            )
            raise Undeliverable("the campaign was cancelled")
        if found is not None and not telegram_allowed(found.consent):
            async with sessions.begin() as session:
                await store.mark_skipped(session, found.recipient_id, "opted out")
            log.info("campaign.telegram_skipped", campaign_id=campaign_id, customer_id=customer_id)
            raise Undeliverable("the customer opted out of updates")

    async def guarded(item: Queued) -> int | None:
        key = campaign_key(item.dedup_key)
        if key is None:
            return await send(item)
        return await send(item, ready=partial(check, *key))

    return guarded
