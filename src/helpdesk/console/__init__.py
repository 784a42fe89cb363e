"""The agents' web console: server-rendered pages under /console, live over SSE.

app.py includes `router` and mounts `static_files()` at STATIC_PREFIX.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from helpdesk.console import actions, alerts, analytics, pages, settings, stream, updates
from helpdesk.console.render import STATIC_DIR, STATIC_PREFIX

router = APIRouter()
router.include_router(pages.router)
router.include_router(actions.router)
router.include_router(stream.router)
router.include_router(updates.router)
router.include_router(alerts.router)
router.include_router(analytics.router)
router.include_router(settings.router)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)


__all__ = ["STATIC_PREFIX", "router", "static_files"]
