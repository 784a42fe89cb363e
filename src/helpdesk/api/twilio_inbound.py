"""POST /twilio/inbound: SMS replies to our number (STOP / START / HELP), and the
campaign half of Twilio's status callbacks.

Like /twilio/status, only requests with a valid X-Twilio-Signature over our public
URL are believed: a forged STOP could silence a customer, a forged START could make
us text someone who never asked. Keywords are matched as Twilio matches them (the
whole message, any case). The answer is TwiML: a HELP gets our help text, a START a
confirmation; a STOP gets nothing from us, since Twilio blocks any message to the
number after it and sends the carrier-mandated confirmation itself.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from twilio.twiml.messaging_response import MessagingResponse

from helpdesk.campaigns.consent import Keyword, sms_keyword
from helpdesk.notify.base import mask_phone
from helpdesk.notify.signature import public_request_url, twilio_signature_valid
from helpdesk.store import audience
from helpdesk.store import campaigns as campaign_store

log = structlog.get_logger(__name__)

router = APIRouter()
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY = 64_000  # an inbound SMS is at most 1600 characters plus a few fields


def help_text(company: str) -> str:
    return (
        f"{company}: important updates about your orders and account. "
        "Reply STOP to unsubscribe, START to subscribe again. Msg&data rates may apply."
    )


def start_text(company: str) -> str:
    return f"{company}: you will get our important updates by SMS again. Reply STOP to stop."


async def signed_params(request: Request) -> dict[str, str] | None:
    """The form Twilio posted, or None when its signature is missing or wrong."""
    settings = request.app.state.runtime.settings
    body = await request.body()
    if len(body) > MAX_BODY:
        return None
    try:
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return None
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = public_request_url(settings.public_url, path)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not twilio_signature_valid(url, params, signature, settings.twilio_auth_token or ""):
        log.warning("twilio.inbound_forged", signed=signature is not None, url=url)
        return None
    return params


def twiml(message: str | None = None) -> Response:
    answer = MessagingResponse()
    if message:
        answer.message(message)
    return Response(str(answer), media_type="text/xml")


@router.post("/twilio/inbound")
async def twilio_inbound(request: Request) -> Response:
    runtime = request.app.state.runtime
    params = await signed_params(request)
    if params is None:
        return JSONResponse(
            {"ok": False, "error": f"missing or invalid {SIGNATURE_HEADER}"}, status_code=403
        )
    sender = params.get("From", "")
    # With Advanced Opt-Out, Twilio names the keyword it matched (custom ones included).
    opt_out_type = params.get("OptOutType", "").strip().upper()
    keyword = sms_keyword(opt_out_type) if opt_out_type else sms_keyword(params.get("Body", ""))
    if keyword is None or not sender:
        # Not a keyword: nobody reads this number, and saying so costs an SMS each time.
        log.info("twilio.inbound_ignored", sender=mask_phone(sender))
        return twiml()
    company = runtime.settings.company_name
    if keyword is Keyword.HELP:
        log.info("twilio.inbound_help", sender=mask_phone(sender))
        return twiml(help_text(company))
    async with runtime.sessions.begin() as session:
        customers = await audience.sms_keyword(session, sender, stop=keyword is Keyword.STOP)
    log.info(
        "twilio.inbound_keyword",
        keyword=keyword.value,
        sender=mask_phone(sender),
        customers=customers,
    )
    if keyword is Keyword.START:
        return twiml(start_text(company))
    return twiml()


async def campaign_delivery_status(
    request: Request, sid: str, status: str, error_code: str | None
) -> bool:
    """Record a status callback for a campaign SMS; False when the SID is not one.

    Called by /twilio/status (api/twilio.py) after the signature check, for SIDs that
    are not agent alerts.
    """
    runtime = request.app.state.runtime
    async with runtime.sessions.begin() as session:
        news = await campaign_store.record_delivery(session, sid, status, error_code)
    if news is None:
        return False
    log.info("twilio.campaign_status", sid=sid, status=status, campaign_id=news.campaign_id)
    publish = getattr(runtime, "events", None)
    if publish is not None:
        publish.publish("campaign", campaign_id=news.campaign_id)
    return True
