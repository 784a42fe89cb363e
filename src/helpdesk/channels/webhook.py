"""POST /telegram/webhook: check the secret, store the update, acknowledge."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from helpdesk.channels.telegram import SECRET_HEADER, secret_matches
from helpdesk.conversation.intake import StorageUnavailable

router = APIRouter()
MAX_BODY = 1_000_000  # Telegram updates are a few kB; anything this big is not one.


@router.post("/telegram/webhook")
async def telegram_webhook(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    intake = runtime.telegram_intake
    expected = runtime.settings.telegram_webhook_secret
    if intake is None or not runtime.settings.webhook_mode or not expected:
        return _error(404, "webhook mode is not enabled")
    given = request.headers.get(SECRET_HEADER)
    if given is None:
        return _error(401, f"missing {SECRET_HEADER}")
    if not secret_matches(given, expected):
        return _error(403, f"wrong {SECRET_HEADER}")
    body = await request.body()
    if len(body) > MAX_BODY:
        return _error(413, "update too large")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return _error(400, f"malformed JSON: {error}")
    try:
        fresh = await intake.accept(payload)
    except ValueError as error:
        return _error(400, f"not a Telegram update: {error}")
    except StorageUnavailable:
        # Not acknowledged, so Telegram delivers it again; update_id keeps that harmless.
        response = _error(503, "the update could not be stored; deliver it again")
        response.headers["Retry-After"] = "1"
        return response
    return JSONResponse({"ok": True, "duplicate": not fresh})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
