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

This module is the server: auth, spec checks, injected failures, routing and the
recorded state. The APIs' own rules are in twilio_messaging.py and twilio_verify.py;
what Twilio sends to our webhooks is in twilio_webhooks.py.
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.http_fake import HttpFake, drop_connection
from tests.fakes.openapi_check import check_request, load_spec
from tests.fakes.twilio_messaging import check_message, message_resource
from tests.fakes.twilio_verify import VerifyService
from tests.fakes.twilio_webhooks import (
    inbound_sms_params,
    post_webhook,
    status_callback_params,
)
from tests.fakes.twilio_wire import TwilioError

API_SPEC = "twilio_api_v2010.json"
VERIFY_SPEC = "twilio_verify_v2.json"

_MESSAGES = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages(?:/(?P<sid>[^/]+))?\.json$"
)
_VERIFY = re.compile(r"^/v2/Services/(?P<service>[^/]+)/(?P<what>Verifications|VerificationCheck)$")

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


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str | None
    retry_after: int | None


def _flat(form: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in form.items()}


class FakeTwilio(HttpFake):
    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        verify_service_sid: str | None = None,
        spec_check: bool = True,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.verify_service_sid = verify_service_sid or "VA" + secrets.token_hex(16)
        self.spec_check = spec_check
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
        self._verify = VerifyService(self.account_sid, self.verify_service_sid)
        self._failures: list[_Failure] = []

    def _routes(self, router: web.UrlDispatcher) -> None:
        # Fail fast, with the path, when the specs are not beside the repository.
        load_spec(API_SPEC)
        load_spec(VERIFY_SPEC)
        router.add_route("*", "/{tail:.*}", self._dispatch)

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
        return await self._wait_for(
            count, lambda: list(self.messages), timeout=timeout, what="SMS", shown="Body"
        )

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
        params = status_callback_params(self.account_sid, resource, status, error_code)
        if "ErrorCode" in params:
            resource["error_code"] = int(params["ErrorCode"])
        answer, _ = await post_webhook(url, params, self.auth_token, sign=sign)
        self.callbacks.append((url, params, answer))
        return answer

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
        params = inbound_sms_params(self.account_sid, from_, body, to=to, opt_out_type=opt_out_type)
        answer, text = await post_webhook(url, params, self.auth_token, sign=sign)
        self.callbacks.append((url, params, answer))
        return answer, text

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
                return drop_connection(request)
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

    # ---- Messages and Verify -------------------------------------------------------------

    def _create_message(self, params: dict[str, Any]) -> dict[str, Any]:
        check_message(params, invalid_numbers=self.invalid_numbers, opted_out=self.opted_out)
        resource = message_resource(params, self.account_sid)
        self.resources[resource["sid"]] = resource
        self._record(self.messages, dict(params))
        return resource

    def _start_verification(self, params: dict[str, Any]) -> dict[str, Any]:
        started = self._verify.start(
            params, invalid_numbers=self.invalid_numbers, base_url=self.base_url
        )
        self.verifications.append(dict(params))
        return started

    def _check_verification(self, params: dict[str, Any], path: str) -> dict[str, Any]:
        self.checks.append(dict(params))
        return self._verify.check(params, code=self.verify_code, path=path)
