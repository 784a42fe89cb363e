"""`/notifications` in the chat: show, and switch, what updates a customer gets."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.consent import Change, notifications_change, notifications_text
from helpdesk.store import audience as store
from helpdesk.store.types import utcnow


async def notifications_command(
    sessions: async_sessionmaker[AsyncSession], customer_id: int, text: str
) -> str | None:
    """The reply to `/notifications [sms] [on|off]`, after recording the change;
    None when `text` is another command."""
    change = notifications_change(text)
    if change is None:
        return None
    refused = False
    now = utcnow()
    async with sessions.begin() as session:
        before = await store.consent_of(session, customer_id)
        if before is None:
            return None
        if change is Change.ALL_OFF:
            await store.set_customer_consent(session, customer_id, notifications_opted_out_at=now)
            await store.skip_open(session, customer_id, (store.TELEGRAM, store.SMS))
        elif change is Change.ALL_ON:
            await store.set_customer_consent(session, customer_id, notifications_opted_out_at=None)
        elif change is Change.SMS_OFF:
            await store.set_customer_consent(session, customer_id, sms_opted_out_at=now)
            await store.skip_open(session, customer_id, (store.SMS,))
        elif change is Change.SMS_ON:
            refused = not (before.phone_e164 and before.phone_verified_at)
            if not refused:
                await store.set_customer_consent(session, customer_id, sms_opted_in_at=now)
        after = await store.consent_of(session, customer_id)
    assert after is not None
    return notifications_text(after, change, sms_refused=refused)
