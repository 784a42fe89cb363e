"""A fake SendGrid Mail Send v3 (POST /v3/mail/send) on loopback, SendGrid-shaped.

    async with FakeSendGrid() as sg:
        email = SendGridEmail(sg.api_key, "help@example.com", api_base=sg.base_url)
        await email.send_email("ann@example.org", "Hi", "text")
        assert sg.mails[0]["subject"] == "Hi" and not sg.spec_violations

Requests are checked against SendGrid's OpenAPI description (JSON body schema) and
bearer auth (401 if wrong), plus the rules SendGrid enforces beyond the schema: every
personalization has recipients, a subject and content unless a template is used,
text/plain first. Accepted mail gets 202, an empty body and an X-Message-Id.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from tests.fakes.http_fake import HttpFake, drop_connection
from tests.fakes.openapi_check import check_request, load_spec

SPEC = "sendgrid_mail_v3.json"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_DEFAULT_ERRORS = {
    400: "Bad Request",
    401: "The provided authorization grant is invalid, expired, or revoked",
    403: "access forbidden",
    413: "request entity too large",
    429: "too many requests",
    500: "internal error",
    503: "service unavailable",
}


def _errors(status: int, *problems: tuple[str | None, str], headers: Any = None) -> web.Response:
    body = {"errors": [{"field": f, "message": m, "help": None} for f, m in problems]}
    return web.json_response(body, status=status, headers=headers)


class FakeSendGrid(HttpFake):
    def __init__(self, api_key: str | None = None, *, spec_check: bool = True) -> None:
        super().__init__()
        # Real keys look like SG.<22 chars>.<43 chars>.
        self.api_key = api_key or f"SG.{secrets.token_urlsafe(16)}.{secrets.token_urlsafe(32)}"
        self.spec_check = spec_check
        self.mails: list[dict[str, Any]] = []
        self.message_ids: list[str] = []  # X-Message-Id of each accepted mail, in order
        self.spec_violations: list[str] = []
        # None: any sender is fine; else SendGrid's 403 for an unverified sender.
        self.verified_senders: set[str] | None = None
        self._failures: list[int] = []

    def _routes(self, router: web.UrlDispatcher) -> None:
        load_spec(SPEC)  # fail fast, with the path, when the spec is missing
        router.add_route("*", "/{tail:.*}", self._dispatch)

    # ---- test controls -------------------------------------------------------------------

    def fail_next(self, *, status: int = 500, times: int = 1) -> None:
        """Answer the next `times` authenticated requests with `status` (0: drop the
        connection); times=0 clears what is queued."""
        if times == 0:
            self._failures.clear()
        self._failures.extend([status] * times)

    async def wait_for_mails(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        return await self._wait_for(
            count, lambda: list(self.mails), timeout=timeout, what="mail(s)", shown="subject"
        )

    # ---- HTTP ----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        if not auth:
            return _errors(401, (None, "authorization required"))
        if not hmac.compare_digest(auth, f"Bearer {self.api_key}"):
            return _errors(401, (None, _DEFAULT_ERRORS[401]))
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return _errors(400, (None, "Bad Request"))
        query = {k: request.query.getall(k) for k in request.query}
        problems = check_request(
            SPEC,
            request.method,
            request.path,
            query=query,
            headers=dict(request.headers),
            content_type=request.headers.get("Content-Type"),
            **({"json_body": body} if raw else {}),
        )
        if not problems and request.path == "/v3/mail/send" and isinstance(body, dict):
            problems = [f"POST /v3/mail/send: {f}: {m}" for f, m in _mail_rules(body)]
        if problems:
            self.spec_violations.extend(problems)
            if self.spec_check:
                return _errors(400, *((None, p) for p in problems[:5]))
        if self._failures:
            status = self._failures.pop(0)
            if status == 0:
                return drop_connection(request)
            headers = None
            if status == 429:
                headers = {
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time()) + 1),
                }
            return _errors(status, (None, _DEFAULT_ERRORS.get(status, "error")), headers=headers)
        if request.method != "POST" or request.path != "/v3/mail/send":
            return _errors(404, (None, "FakeSendGrid implements POST /v3/mail/send only"))
        sender = (body.get("from") or {}).get("email") if isinstance(body, dict) else None
        if self.verified_senders is not None and sender not in self.verified_senders:
            return _errors(
                403,
                (
                    "from",
                    "The from address does not match a verified Sender Identity. Mail cannot "
                    "be sent until this error is resolved.",
                ),
            )
        message_id = secrets.token_urlsafe(16)[:22]
        self.message_ids.append(message_id)
        self._record(self.mails, body if isinstance(body, dict) else {"raw": body})
        return web.Response(status=202, headers={"X-Message-Id": message_id})


def _mail_rules(body: dict[str, Any]) -> list[tuple[str, str]]:
    """What SendGrid rejects with 400 although the schema allows it: (field, message)."""
    problems: list[tuple[str, str]] = []
    uses_template = "template_id" in body
    if not _EMAIL.match(body.get("from", {}).get("email", "")):
        problems.append(("from.email", "The from email does not contain a valid address."))
    for index, envelope in enumerate(body.get("personalizations", [])):
        recipients = envelope.get("to") or []
        if not recipients:
            problems.append(
                (
                    f"personalizations.{index}.to",
                    "The to array is required for all personalization objects, and must "
                    "have at least one email object with a valid email address.",
                )
            )
        for who in recipients + envelope.get("cc", []) + envelope.get("bcc", []):
            if not _EMAIL.match(who.get("email", "")):
                problems.append(
                    (f"personalizations.{index}.to", "Does not contain a valid address.")
                )
        if not uses_template and not (envelope.get("subject") or body.get("subject")):
            problems.append(
                (
                    "subject",
                    "The subject is required. You can get around this requirement if you use "
                    "a template with a subject defined or if every personalization has a "
                    "subject defined.",
                )
            )
    if not body.get("personalizations"):
        problems.append(("personalizations", "The personalizations field is required."))
    content = body.get("content") or []
    if not uses_template and not content:
        problems.append(("content", "Unless a valid template_id is provided, content is required."))
    types = [c.get("type") for c in content]
    if "text/plain" in types and types[0] != "text/plain":
        problems.append(("content", "The text/plain content type must be first."))
    return problems
