"""Settings admins change while the service runs (`/api/settings`, admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Body, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from helpdesk.admin.settings import InvalidSetting, SettingsAdmin
from helpdesk.api.auth import AdminAgent
from helpdesk.api.errors import FORBIDDEN, INVALID, UNAUTHORIZED, api_router

router = api_router(tags=["settings"])


class SettingOut(BaseModel):
    key: str
    topic: str
    help: str
    kind: str
    value: Any
    default: Any  # the environment's value (HELPDESK_*)
    overridden: bool
    editable: bool


class SettingChangeOut(BaseModel):
    key: str
    old_value: Any
    new_value: Any
    reset: bool
    changed_by: int | None
    changed_at: datetime


class SettingsOut(BaseModel):
    settings: list[SettingOut]
    recent_changes: list[SettingChangeOut]


def get_settings_admin(request: Request) -> SettingsAdmin:
    admin: SettingsAdmin | None = request.app.state.runtime.settings_admin
    if admin is None:
        raise HTTPException(503, "settings management is not running")
    return admin


SettingsAdminDep = Annotated[SettingsAdmin, Depends(get_settings_admin)]


async def _out(admin: SettingsAdmin) -> SettingsOut:
    return SettingsOut(
        settings=[SettingOut.model_validate(v, from_attributes=True) for v in admin.view()],
        recent_changes=[
            SettingChangeOut.model_validate(c, from_attributes=True)
            for c in await admin.recent_changes()
        ],
    )


def _invalid(error: InvalidSetting) -> RequestValidationError:
    return RequestValidationError(
        [
            {"type": "value_error", "loc": ("body", key), "msg": why}
            for key, why in error.problems.items()
        ]
    )


@router.get("/settings", responses={**UNAUTHORIZED, **FORBIDDEN})
async def list_settings(_admin: AdminAgent, admin: SettingsAdminDep) -> SettingsOut:
    """Every setting: its effective value, the environment's default, whether an admin
    overrode it and whether it can be; secrets masked. With the recent changes."""
    return await _out(admin)


@router.put("/settings", responses={**UNAUTHORIZED, **FORBIDDEN, **INVALID})
async def change_settings(
    body: Annotated[dict[str, Any], Body(examples=[{"escalation_keywords": ["lawyer"]}])],
    agent: AdminAgent,
    admin: SettingsAdminDep,
) -> SettingsOut:
    """Change editable settings at once, without a restart: all or none (422 says why)."""
    try:
        await admin.update(body, agent_id=agent.id)
    except InvalidSetting as error:
        raise _invalid(error) from error
    return await _out(admin)


@router.delete("/settings/{key}", responses={**UNAUTHORIZED, **FORBIDDEN, **INVALID})
async def reset_setting(key: str, agent: AdminAgent, admin: SettingsAdminDep) -> SettingsOut:
    """Back to the environment's value (nothing happens if it was not overridden)."""
    try:
        await admin.reset(key, agent_id=agent.id)
    except InvalidSetting as error:
        raise _invalid(error) from error
    return await _out(admin)
