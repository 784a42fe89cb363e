"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from helpdesk.store.db import ping

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    try:
        await ping(runtime.engine)
    except Exception as error:
        return JSONResponse({"status": "unavailable", "database": repr(error)}, status_code=503)
    return JSONResponse(
        {
            "status": "ready",
            "database": "ok",
            "articles": runtime.brain.article_count,
            "telegram": runtime.telegram_mode,
            "llm": runtime.settings.llm_base_url is not None,
        }
    )
