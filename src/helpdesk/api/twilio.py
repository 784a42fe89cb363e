"""POST /twilio/status: Twilio's delivery reports for the alert SMS we sent.

Only requests carrying a valid X-Twilio-Signature are believed; the signature covers
the public URL Twilio called (settings.public_url + path and query), not the one this
server sees behind a proxy. An SMS reported failed or undelivered fails its alert, and
the alert worker falls back to the agent's email.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from helpdesk.api.twilio_inbound import campaign_delivery_status
from helpdesk.notify.signature import public_request_url, twilio_signature_valid
from helpdesk.store import alerts as alert_store

log = structlog.get_logger(__name__)

router = APIRouter()
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY = 64_000  # a status callback is well under 1 kB


@router.post("/twilio/status")
async def twilio_status(request: Request) -> Response:
    runtime = request.app.state.runtime
    settings = runtime.settings
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "too large for a status callback")
    # Parsed by hand: Twilio posts application/x-www-form-urlencoded, and FastAPI's
    # form parsing would need python-multipart for nothing more.
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = public_request_url(settings.public_url, path)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not twilio_signature_valid(url, params, signature, settings.twilio_auth_token or ""):
        log.warning("twilio.status_forged", signed=signature is not None, url=url)
        return _error(403, f"missing or invalid {SIGNATURE_HEADER}")
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        return _error(400, "MessageSid and MessageStatus are required")
    async with runtime.sessions.begin() as session:
        found = await alert_store.record_delivery_status(
            session, sid, status, params.get("ErrorCode")
        )
    if found is None and await campaign_delivery_status(
        request, sid, status, params.get("ErrorCode")
    ):
        return Response(status_code=200)
    if found is None:
        # Not ours (or not recorded yet): a 4xx would only make Twilio retry.
        log.info("twilio.status_unknown_sid", sid=sid, status=status)
        return Response(status_code=200)
    log.info(
        "twilio.status",
        sid=sid,
        status=status,
        alert_id=found.alert_id,
        error_code=params.get("ErrorCode"),
    )
    worker = getattr(runtime, "alerts", None)
    if found.failed and worker is not None:
        worker.delivery_failed(found.conversation_id, "sms")
    return Response(status_code=200)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
