"""The JSON API under /api, for the console and for integrators (OpenAPI at /openapi.json)."""

from __future__ import annotations

from fastapi import APIRouter

from helpdesk.api import agents, analytics, auth, campaigns, conversations, events, settings

router = APIRouter(prefix="/api")
for module in (auth, agents, conversations, events, analytics, settings, campaigns):
    router.include_router(module.router)
