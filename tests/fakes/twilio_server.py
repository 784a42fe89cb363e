"""A fake Twilio (Messages API 2010-04-01 and Verify v2) on loopback, Twilio-shaped.

    async with FakeTwilio() as tw:
        sms = TwilioSms(tw.account_sid, tw.auth_token, "+15005550006", api_base=tw.base_url)
        sid = await sms.send_sms("+15551234567", "hi", status_callback=url)
        await tw.send_status_callback(url, sid, "delivered")   # signed, as Twilio does
        assert not tw.spec_violations

Every request is checked against Twilio's own OpenAPI descriptions (path, method,
parameters) and HTTP basic auth (401 if wrong). On top, the rules Twilio enforces
that the schema cannot say: E.164 numbers (21211), From (21603) and Body (21602)
required, 1600 characters at most (21617), opted-out numbers (21610), Verify
channels and check attempts. Errors are Twilio's JSON: {code, message, more_info,
status}. The code Verify "sends" is `verify_code`.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from helpdesk.notify.templates import sms_segments
from tests.fakes.openapi_check import check_request, load_spec

API_SPEC = "twilio_api_v2010.json"
VERIFY_SPEC = "twilio_verify_v2.json"

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_MESSAGES = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$"
)
_VERIFY = re.compile(r"^/v2/Services/(?P<service>[^/]+)/(?P<what>Verifications|VerificationCheck)$")
_CHANNELS = {"sms", "call", "email", "whatsapp", "sna", "auto"}
_MAX_CHECKS = 5

# What Twilio answers to fail_next(status=...) when no code/message is given.
_DEFAULT_ERRORS = {
    400: (21211, "Invalid 'To' Phone Number"),
    401: (20003, "Authenticate"),
    403: (20003, "Permission Denied"),
    404: (20404, "The requested resource was not found"),
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        return web.json_response(body, status=self.status, headers=headers)


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    retry_after: int | None


@dataclass
class _Waiters:
    """An event replaced at each change, so any number of waiters can wake."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """X-Twilio-Signature as Twilio computes it (written from Twilio's docs, not the SDK,
    so the SDK's validator is checked against an independent implementation)."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _flat(form: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in form.items()}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class FakeTwilio:
    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        verify_service_sid: str | None = None,
        spec_check: bool = True,
    ) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.verify_service_sid = verify_service_sid or "VA" + secrets.token_hex(16)
        self.spec_check = spec_check
        self.base_url = ""
        self.messages: list[dict[str, Any]] = []
        self.resources: dict[str, dict[str, Any]] = {}  # message SID -> Message resource
        self.verifications: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # url, params, our status
        self.spec_violations: list[str] = []
        self.verify_code = "123456"
        # Twilio's magic test number for "invalid", plus whatever a test adds.
        self.invalid_numbers: set[str] = {"+15005550001"}
        self.opted_out: set[str] = set()  # recipients who replied STOP
        self._pending: dict[str, dict[str, Any]] = {}  # To -> Verification resource
        self._failed_checks: dict[str, int] = {}
        self._failures: list[_Failure] = []
        self._message_waiters = _Waiters()
        self._runner: web.AppRunner | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        # Fail fast, with the path, when the specs are not beside the repository.
        load_spec(API_SPEC)
        load_spec(VERIFY_SPEC)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTwilio:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- test controls -------------------------------------------------------------------

    def fail_next(
        self,
        *,
        status: int = 429,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` authenticated, well-formed requests with an error.

        status=0 drops the connection (a network error); `retry_after` adds that header;
        times=0 clears what is queued.
        """
        if times == 0:
            self._failures.clear()
        self._failures.extend(_Failure(status, code, message, retry_after) for _ in range(times))

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were accepted; return them all."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.messages) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(
                    f"waited {timeout}s for {count} SMS, got {len(self.messages)}: "
                    f"{[m.get('Body') for m in self.messages]}"
                )
            try:
                await asyncio.wait_for(self._message_waiters.event.wait(), remaining)
            except TimeoutError:
                continue
        return list(self.messages)

    async def send_status_callback(
        self,
        url: str,
        sid: str,
        status: str = "delivered",
        *,
        sign: bool = True,
        error_code: str | None = None,
    ) -> int:
        """POST a message status callback to `url` like Twilio does; return the HTTP status."""
        resource = self.resources.get(sid)
        if resource is None:
            raise ValueError(f"FakeTwilio never sent a message {sid}")
        resource["status"] = status
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": resource["from"],
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": resource["to"],
        }
        if status in ("failed", "undelivered"):
            params["ErrorCode"] = error_code or "30003"  # 30003: unreachable handset
            resource["error_code"] = int(params["ErrorCode"])
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        if sign:
            headers["X-Twilio-Signature"] = twilio_signature(url, params, self.auth_token)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=params, headers=headers) as response,
        ):
            await response.read()
            self.callbacks.append((url, params, response.status))
            return response.status

    async def send_inbound_sms(
        self,
        url: str,
        from_: str,
        body: str,
        *,
        to: str = "+15005550006",
        sign: bool = True,
        opt_out_type: str | None = None,
    ) -> tuple[int, str]:
        """POST an incoming SMS to our webhook `url` as Twilio does (form fields of its
        "incoming message" webhook, signed); return the HTTP status and body (TwiML).
        `opt_out_type`: the OptOutType field Advanced Opt-Out adds for a keyword."""
        sid = "SM" + secrets.token_hex(16)
        _, segments = sms_segments(body)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "Body": body,
            "From": from_,
            "FromCountry": "US",
            "MessageSid": sid,
            "NumMedia": "0",
            "NumSegments": str(segments or 1),
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "To": to,
            "ToCountry": "US",
        }
        if opt_out_type is not None:
            params["OptOutType"] = opt_out_type
        headers = {"User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        if sign:
            headers["X-Twilio-Signature"] = twilio_signature(url, params, self.auth_token)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=params, headers=headers) as response,
        ):
            text = await response.text()
            self.callbacks.append((url, params, response.status))
            return response.status, text

    # ---- HTTP ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, list[str]] | None = None
        if request.method in ("POST", "PUT") and request.can_read_body:
            posted = await request.post()
            form = {}
            for key, value in posted.items():
                form.setdefault(key, []).append(str(value))
        if not self._authorized(request.headers.get("Authorization")):
            return TwilioError(401, 20003, "Authenticate").response(
                {"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        spec = VERIFY_SPEC if request.path.startswith("/v2/") else API_SPEC
        query = {k: request.query.getall(k) for k in request.query}
        problems = check_request(
            spec,
            request.method,
            request.path,
            query=query,
            headers=dict(request.headers),
            form=form,
            content_type=request.headers.get("Content-Type") if form is not None else None,
        )
        if problems:
            self.spec_violations.extend(problems)
            if self.spec_check:
                # 20001 is not one Twilio code: the fake's way to say "off the spec".
                return TwilioError(400, 20001, f"Invalid parameter: {problems[0]}").response()
        if self._failures:
            failure = self._failures.pop(0)
            if failure.status == 0:
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            code, text = _DEFAULT_ERRORS.get(failure.status, (failure.status * 100, "Error"))
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else None
            error = TwilioError(failure.status, failure.code or code, failure.message or text)
            return error.response(headers)
        try:
            return await self._handle(request, _flat(form or {}))
        except TwilioError as error:
            return error.response()

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(f"{user}:{password}", f"{self.account_sid}:{self.auth_token}")

    async def _handle(self, request: web.Request, params: dict[str, Any]) -> web.Response:
        not_found = TwilioError(404, 20404, f"The requested resource {request.path} was not found")
        if found := _MESSAGES.match(request.path):
            if found["account"] != self.account_sid:
                raise not_found
            if request.method == "POST" and found["sid"] is None:
                return web.json_response(self._create_message(params), status=201)
            if request.method == "GET" and found["sid"] in self.resources:
                return web.json_response(self.resources[found["sid"]])
            raise not_found
        if (found := _VERIFY.match(request.path)) and request.method == "POST":
            if found["service"] != self.verify_service_sid:
                raise not_found
            if found["what"] == "Verifications":
                return web.json_response(self._start_verification(params), status=201)
            return web.json_response(self._check_verification(params, request.path))
        raise not_found

    # ---- Messages ------------------------------------------------------------------------

    def _create_message(self, params: dict[str, Any]) -> dict[str, Any]:
        to, sender, body = params.get("To", ""), params.get("From"), params.get("Body")
        if not _E164.match(to) or to in self.invalid_numbers:
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to[:-4]}XXXX")
        if sender is None and "MessagingServiceSid" not in params:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if sender is not None and not (
            _E164.match(sender) or _ALPHANUMERIC_SENDER.match(sender) or sender.isdigit()
        ):
            raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {sender}")
        if sender == to:
            raise TwilioError(400, 21266, "'To' and 'From' number cannot be the same")
        if not body and "MediaUrl" not in params and "ContentSid" not in params:
            raise TwilioError(400, 21602, "Message body is required.")
        if body and len(body) > 1600:
            raise TwilioError(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        callback = params.get("StatusCallback")
        if callback is not None and not re.match(r"^https?://[^/_\s]+(/\S*)?$", callback):
            raise TwilioError(400, 21609, f"Invalid StatusCallback url: {callback}")
        if to in self.opted_out:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + secrets.token_hex(16)
        created = email.utils.format_datetime(_now())
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body or "",
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": params.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(sms_segments(body or "")[1] or 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": to,
            "uri": f"{base}.json",
        }
        self.resources[sid] = resource
        self.messages.append(dict(params))
        self._message_waiters.notify()
        return resource

    # ---- Verify --------------------------------------------------------------------------

    def _verification(self, pending: dict[str, Any], **changes: Any) -> dict[str, Any]:
        return {**pending, **changes, "date_updated": _now().isoformat().replace("+00:00", "Z")}

    def _start_verification(self, params: dict[str, Any]) -> dict[str, Any]:
        to, channel = params.get("To", ""), params.get("Channel", "")
        if channel not in _CHANNELS:
            raise TwilioError(400, 60200, "Invalid parameter `Channel`")
        if channel in ("sms", "call", "whatsapp") and (
            not _E164.match(to) or to in self.invalid_numbers
        ):
            raise TwilioError(400, 60200, "Invalid parameter `To`")
        self.verifications.append(dict(params))
        now = _now().isoformat().replace("+00:00", "Z")
        attempt = {
            "time": now,
            "channel": channel.upper(),
            "attempt_sid": "VL" + secrets.token_hex(16),
        }
        pending = self._pending.get(to)
        if pending is None:  # a second start while pending resends the same verification
            sid = "VE" + secrets.token_hex(16)
            pending = {
                "sid": sid,
                "service_sid": self.verify_service_sid,
                "account_sid": self.account_sid,
                "to": to,
                "channel": channel,
                "status": "pending",
                "valid": False,
                "date_created": now,
                "date_updated": now,
                "lookup": {},
                "amount": None,
                "payee": None,
                "send_code_attempts": [],
                "sna": None,
                "url": f"{self.base_url}/v2/Services/{self.verify_service_sid}/Verifications/{sid}",
            }
            self._pending[to] = pending
            self._failed_checks[to] = 0
        pending["send_code_attempts"].append(attempt)
        return self._verification(pending)

    def _check_verification(self, params: dict[str, Any], path: str) -> dict[str, Any]:
        self.checks.append(dict(params))
        if "Code" not in params or not {"To", "VerificationSid"} & params.keys():
            raise TwilioError(400, 60200, "Invalid parameter: Code, and To or VerificationSid")
        by_sid = (t for t, v in self._pending.items() if v["sid"] == params.get("VerificationSid"))
        to = params.get("To") or next(by_sid, "")
        pending = self._pending.get(to)
        if pending is None:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if self._failed_checks[to] >= _MAX_CHECKS:
            raise TwilioError(429, 60202, "Max check attempts reached")
        keys = ("sid", "service_sid", "account_sid", "to", "channel", "amount", "payee")
        result = {key: pending[key] for key in keys}
        result.update(sna_attempts_error_codes=[], date_created=pending["date_created"])
        if params["Code"] == self.verify_code:
            del self._pending[to]
            return self._verification(result, status="approved", valid=True)
        self._failed_checks[to] += 1
        return self._verification(result, status="pending", valid=False)
