"""One-time codes through Twilio Verify v2, with the official `twilio` SDK.

Verify generates, sends and checks the code itself; we never see or store it.
POST /v2/Services/{ServiceSid}/Verifications (To, Channel) starts one,
POST /v2/Services/{ServiceSid}/VerificationCheck (To, Code) checks a code.
"""

from __future__ import annotations

import structlog
from twilio.rest.verify.v2.service import ServiceContext

from helpdesk.notify._twilio_http import (
    TWILIO_ERRORS,
    AiohttpTwilioHttpClient,
    make_client,
    map_error,
)
from helpdesk.notify.base import NotifyRejected, mask_phone

log = structlog.get_logger(__name__)

# Twilio answers 404 (20404) once a verification is approved, expired (10 min) or
# cancelled: for the user that simply means "this code is not valid (any more)".
_NO_PENDING_VERIFICATION = 20404
# 60202 (max check attempts) comes as a 429, but waiting does not help: only a new
# verification does.
_FINAL_CODES = frozenset({60202})


class TwilioVerify:
    """A `PhoneVerifier`. Call `aclose()` at shutdown to release pooled connections."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        service_sid: str,
        *,
        verify_api_base: str = "https://verify.twilio.com",
        channel: str = "sms",
        timeout: float = 15.0,
    ) -> None:
        self.service_sid = service_sid
        self.channel = channel
        self._http = AiohttpTwilioHttpClient(timeout=timeout)
        self._client = make_client(
            account_sid, auth_token, self._http, verify_api_base=verify_api_base
        )

    def _service(self) -> ServiceContext:
        return self._client.verify.v2.services(self.service_sid)

    async def start_verification(self, to: str) -> str:
        """Have Twilio send a code to `to`; return the verification status ("pending").

        Raises NotifyRetryLater (429 incl. 60203 too many sends, 5xx, network) or
        NotifyRejected (e.g. 60200 invalid number, 60410 blocked for fraud).
        """
        try:
            verification = await self._service().verifications.create_async(
                to=to, channel=self.channel
            )
        except TWILIO_ERRORS as exc:
            raise map_error(exc, "start_verification") from exc
        log.info("verify.started", to=mask_phone(to), status=verification.status)
        return str(verification.status)

    async def check_verification(self, to: str, code: str) -> bool:
        """True when `code` is the code Twilio sent to `to` (the verification is then used up).

        A wrong code is False (the user may try again); so is a check with no pending
        verification. Raises NotifyRejected with code 60202 after too many wrong codes,
        NotifyRetryLater on 5xx or network trouble.
        """
        try:
            check = await self._service().verification_checks.create_async(to=to, code=code)
        except TWILIO_ERRORS as exc:
            error = map_error(exc, "check_verification", permanent_codes=_FINAL_CODES)
            if isinstance(error, NotifyRejected) and error.code == _NO_PENDING_VERIFICATION:
                log.info("verify.no_pending", to=mask_phone(to))
                return False
            raise error from exc
        approved = bool(check.status == "approved")
        log.info("verify.checked", to=mask_phone(to), status=check.status, approved=approved)
        return approved

    async def aclose(self) -> None:
        await self._http.close()
