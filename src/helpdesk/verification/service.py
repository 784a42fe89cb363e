"""Phone verification in the chat: ask for the number, send a code, check what comes back.

The conversation calls `handle` first with every message; it answers the messages
that belong to a verification (/verify, the buttons, a shared contact, a number or a
code while one is open) and returns None for everything else. The state lives in
`phone_verifications` rows, so a restart loses nothing.

Two backends: Twilio Verify (it makes, sends and checks the code; we never see it)
or our own code, sent as an SMS and kept only as an HMAC.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.config import Settings
from helpdesk.domain import IncomingMessage, MessageKind
from helpdesk.notify.base import NotifyRejected, PhoneVerifier, SmsSender, mask_phone
from helpdesk.store import verification as store
from helpdesk.store.types import utcnow
from helpdesk.verification import messages as say
from helpdesk.verification import policy
from helpdesk.verification.phones import InvalidPhone, contact_to_e164, looks_like_phone, to_e164

log = structlog.get_logger(__name__)

OWN = "own"
TWILIO_VERIFY = "twilio_verify"
# A code typed this long after it expired still gets "expired" rather than an answer.
LATE_CODE_GRACE = timedelta(hours=1)
# Twilio Verify's "max check attempts reached": its own lock, as final as ours.
TWILIO_MAX_CHECKS = 60202
# "Cancel" is also the ask-number keyboard's second button.
_CANCEL_WORDS = frozenset({"cancel", "/cancel"})


@dataclass(frozen=True, slots=True)
class Prompt:
    """The bot's reply: Markdown, and a Telegram reply keyboard to show with it."""

    text: str
    reply_markup: dict[str, Any] | None = None


class VerificationService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        sms: SmsSender | None = None,
        verifier: PhoneVerifier | None = None,
        protected_articles: Callable[[], Collection[str]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._sms = sms
        self._verifier = verifier
        self._protected = protected_articles
        self._clock = clock
        self._limits = policy.Limits.from_settings(settings)
        secret = settings.verify_secret
        self._key = secret.get_secret_value().encode() if secret is not None else b""
        self.backend = TWILIO_VERIFY if verifier is not None else OWN if sms is not None else None

    @property
    def available(self) -> bool:
        return self.backend is not None

    # ---- the conversation's entry points ---------------------------------------------

    async def handle(self, incoming: IncomingMessage, customer_id: int) -> Prompt | None:
        """The reply to a message that belongs to a verification, else None."""
        kind = incoming.kind
        text = (incoming.text or "").strip()
        command = incoming.extra.get("command") if kind is MessageKind.COMMAND else None
        if command == "/verify":
            return await self._start(incoming, customer_id, str(incoming.extra.get("args") or ""))
        if kind is MessageKind.TEXT and text.casefold() == say.VERIFY_BUTTON.casefold():
            return await self._start(incoming, customer_id, "")
        cancel = text.casefold() in _CANCEL_WORDS
        code = policy.parse_code(text) if kind is MessageKind.TEXT else None
        phone_like = kind is MessageKind.TEXT and looks_like_phone(text)
        # Only these can belong to a verification: ordinary questions cost no query.
        if not (kind is MessageKind.CONTACT or cancel or code is not None or phone_like):
            return None
        now = self._clock()
        async with self._sessions() as session:
            current = await store.open_verification(
                session, customer_id, not_expired_before=now - LATE_CODE_GRACE
            )
        if current is None or (current.status == store.AWAITING and current.expires_at <= now):
            return None
        if cancel:
            return await self._cancel(incoming, customer_id)
        if kind is MessageKind.CONTACT:
            return await self._contact(incoming, customer_id)
        if code is not None and current.status == store.PENDING:
            return await self._check(incoming, customer_id, current, code)
        if phone_like:
            return await self._typed_number(incoming, customer_id, text)
        return None

    async def gate(
        self, incoming: IncomingMessage, customer_id: int, article_ids: Iterable[str]
    ) -> Prompt | None:
        """A "verify first" reply when the answer draws on an article reserved to
        verified customers and this customer is not one; None to let the answer go."""
        if self._protected is None or not self._settings.verify_required_tag:
            return None
        protected = self._protected()
        if not any(article_id in protected for article_id in article_ids):
            return None
        async with self._sessions() as session:
            if await store.verified_phone(session, customer_id) is not None:
                return None
        log.info("verification.required", customer_id=customer_id)
        return self._prompt(incoming, say.VERIFY_FIRST, say.VERIFY_KEYBOARD)

    async def aclose(self) -> None:
        close = getattr(self._verifier, "aclose", None)
        if close is not None:
            await close()

    # ---- steps -----------------------------------------------------------------------

    async def _start(self, incoming: IncomingMessage, customer_id: int, args: str) -> Prompt:
        if not self.available:
            return self._prompt(incoming, say.UNAVAILABLE, say.REMOVE_KEYBOARD)
        now = self._clock()
        async with self._sessions.begin() as session:
            await store.await_number(session, customer_id, now, self._limits.code_ttl)
            phone = await store.verified_phone(session, customer_id)
        if args:  # "/verify +44 7700 900123"
            return await self._typed_number(incoming, customer_id, args)
        text = say.already_verified(phone) if phone else say.ASK_NUMBER
        return self._prompt(incoming, text, say.ASK_NUMBER_KEYBOARD)

    async def _cancel(self, incoming: IncomingMessage, customer_id: int) -> Prompt:
        async with self._sessions.begin() as session:
            await store.close_open(session, customer_id, "cancelled", self._clock())
        return self._prompt(incoming, say.CANCELLED, say.REMOVE_KEYBOARD)

    async def _contact(self, incoming: IncomingMessage, customer_id: int) -> Prompt:
        # Telegram's contact button shares the sender's own card, user_id included; any
        # other contact (forwarded, picked from the address book) is someone else's.
        owner = incoming.extra.get("user_id")
        if incoming.user_id is None or owner != incoming.user_id:
            log.info("verification.foreign_contact", customer_id=customer_id)
            return self._prompt(incoming, say.NOT_YOUR_CONTACT, say.ASK_NUMBER_KEYBOARD)
        try:
            e164 = contact_to_e164(str(incoming.extra.get("phone_number") or ""))
        except InvalidPhone as exc:
            return self._invalid(incoming, exc)
        return await self._send_code(incoming, customer_id, e164)

    async def _typed_number(self, incoming: IncomingMessage, customer_id: int, text: str) -> Prompt:
        try:
            e164 = to_e164(text, self._settings.verify_default_region)
        except InvalidPhone as exc:
            return self._invalid(incoming, exc)
        return await self._send_code(incoming, customer_id, e164)

    def _invalid(self, incoming: IncomingMessage, error: InvalidPhone) -> Prompt:
        text = say.LANDLINE if error.landline else say.INVALID_NUMBER
        return self._prompt(incoming, text, say.ASK_NUMBER_KEYBOARD)

    async def _send_code(self, incoming: IncomingMessage, customer_id: int, e164: str) -> Prompt:
        backend = self.backend
        if backend is None:
            return self._prompt(incoming, say.UNAVAILABLE, say.REMOVE_KEYBOARD)
        now = self._clock()
        code = salt = digest = None
        if backend == OWN:
            code, salt = policy.generate_code(), policy.new_salt()
            digest = policy.hash_code(code, salt, self._key)
        async with self._sessions.begin() as session:
            sent = await store.sent_codes(session, customer_id, e164, now)
            history = policy.SendHistory(sent.last_sent_at, sent.to_number, sent.by_customer)
            decision = policy.may_send(history, now, self._limits)
            if decision.verdict is policy.SendVerdict.DAILY_CAP:
                log.info("verification.daily_cap", customer_id=customer_id, to=mask_phone(e164))
                return self._prompt(incoming, say.DAILY_CAP, say.REMOVE_KEYBOARD)
            if decision.verdict is policy.SendVerdict.TOO_SOON:
                return self._prompt(incoming, say.too_soon(decision.wait_seconds))
            # Recorded before sending: a crash mid-send must count against the limits.
            row_id = await store.record_send(
                session,
                customer_id,
                phone_e164=e164,
                backend=backend,
                code_salt=salt,
                code_hash=digest,
                now=now,
                ttl=self._limits.code_ttl,
            )
        ttl_minutes = int(self._limits.code_ttl.total_seconds() // 60)
        try:
            if backend == TWILIO_VERIFY:
                assert self._verifier is not None
                await self._verifier.start_verification(e164)
            else:
                assert self._sms is not None and code is not None
                body = say.sms_body(code, self._settings.company_name, ttl_minutes)
                await self._sms.send_sms(e164, body)
        except Exception as exc:  # every failure looks the same to the customer
            log.warning(
                "verification.send_failed",
                customer_id=customer_id,
                to=mask_phone(e164),
                backend=backend,
                error=type(exc).__name__,
                # The provider's code, not its message: Twilio's quote the number.
                provider_code=getattr(exc, "code", None),
            )
            async with self._sessions.begin() as session:
                await store.finish(session, row_id, store.SEND_FAILED, self._clock())
                await store.await_number(session, customer_id, self._clock(), self._limits.code_ttl)
            return self._prompt(incoming, say.SEND_FAILED, say.ASK_NUMBER_KEYBOARD)
        log.info(
            "verification.code_sent", customer_id=customer_id, to=mask_phone(e164), backend=backend
        )
        return self._prompt(incoming, say.code_sent(e164, ttl_minutes), say.REMOVE_KEYBOARD)

    async def _check(
        self,
        incoming: IncomingMessage,
        customer_id: int,
        current: store.OpenVerification,
        code: str,
    ) -> Prompt:
        now = self._clock()
        early = policy.before_check(current.expires_at, current.attempts, now, self._limits)
        if early is not None:
            status = "expired" if early is policy.CheckVerdict.EXPIRED else "failed"
            async with self._sessions.begin() as session:
                await store.finish(session, current.id, status, now)
            text = say.EXPIRED if early is policy.CheckVerdict.EXPIRED else say.LOCKED
            return self._prompt(incoming, text, say.REMOVE_KEYBOARD)
        assert current.phone_e164 is not None
        locked = False
        if current.backend == OWN:
            assert current.code_salt is not None and current.code_hash is not None
            approved = policy.code_matches(code, current.code_salt, current.code_hash, self._key)
        else:
            if self._verifier is None:
                return self._prompt(incoming, say.CHECK_UNAVAILABLE)
            try:
                approved = await self._verifier.check_verification(current.phone_e164, code)
            except NotifyRejected as exc:
                if exc.code != TWILIO_MAX_CHECKS:
                    log.warning("verification.check_failed", provider_code=exc.code)
                    return self._prompt(incoming, say.CHECK_UNAVAILABLE)
                log.info("verification.locked_by_provider", provider_code=exc.code)
                approved, locked = False, True
            except Exception as exc:  # outage: the attempt is not the customer's fault
                log.warning("verification.check_failed", error=type(exc).__name__)
                return self._prompt(incoming, say.CHECK_UNAVAILABLE)
        async with self._sessions.begin() as session:
            attempts = await store.count_attempt(session, current.id)
            if approved:
                await store.finish(session, current.id, "verified", now)
                await store.mark_customer_verified(session, customer_id, current.phone_e164, now)
            elif locked or policy.attempts_left(attempts, self._limits) == 0:
                await store.finish(session, current.id, "failed", now)
        if approved:
            log.info("verification.verified", customer_id=customer_id)
            return self._prompt(incoming, say.verified(current.phone_e164), say.REMOVE_KEYBOARD)
        left = 0 if locked else policy.attempts_left(attempts, self._limits)
        log.info("verification.wrong_code", customer_id=customer_id, attempts_left=left)
        if left == 0:
            return self._prompt(incoming, say.LOCKED, say.REMOVE_KEYBOARD)
        return self._prompt(incoming, say.wrong_code(left))

    @staticmethod
    def _prompt(
        incoming: IncomingMessage, text: str, markup: dict[str, Any] | None = None
    ) -> Prompt:
        # Reply keyboards are Telegram's; other channels get the words alone.
        return Prompt(text, markup if incoming.channel == "telegram" else None)
