"""The settings page (admins): change the whitelisted settings live, see who changed what."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response

from helpdesk.admin.settings import (
    TOPICS,
    InvalidSetting,
    SettingsAdmin,
    SettingView,
    parse_form_value,
)
from helpdesk.console.auth import AdminOnly, CheckedForm, runtime_of
from helpdesk.console.pages import agent_names
from helpdesk.console.render import ConsoleRoute, redirect, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = "/console/settings"


def _admin(request: Request) -> SettingsAdmin:
    admin = runtime_of(request).settings_admin
    if admin is None:
        raise HTTPException(503, "Settings management is not running.")
    return admin


def form_text(view: SettingView, value: Any) -> str:
    """How a value sits in its form field (and beside it, as the default)."""
    if view.kind == "list":
        return "\n".join(str(item) for item in value or [])
    if view.kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if view.kind == "bool":
        return "on" if value else "off"
    return "" if value is None else str(value)


@router.get(PAGE)
async def settings_page(request: Request, viewer: AdminOnly) -> Response:
    admin = _admin(request)
    views = admin.view()
    return render(
        request,
        "settings.html",
        viewer=viewer,
        topics=TOPICS,
        editable=[v for v in views if v.editable],
        readonly=[v for v in views if not v.editable],
        changes=await admin.recent_changes(),
        agents=await agent_names(request),
        form_text=form_text,
    )


@router.post(PAGE)
async def save_settings(request: Request, viewer: AdminOnly, form: CheckedForm) -> Response:
    """One topic's form comes back whole; only the fields that differ become overrides.

    One form per topic: an unticked box is not sent at all, so only the topic's own
    boxes may be read as "off" (and the form stays under read_form's field limit).
    """
    admin = _admin(request)
    topic = form.get("topic")
    changes: dict[str, Any] = {}
    for view in admin.view():
        if not view.editable or view.topic != topic:
            continue
        if view.kind != "bool" and view.key not in form:
            continue
        try:
            value = parse_form_value(view.kind, form.get(view.key))
        except ValueError as error:
            return redirect(request, PAGE, ("error", f"{view.key}: {error}"))
        if form_text(view, value) != form_text(view, view.value):
            changes[view.key] = value
    if not changes:
        return redirect(request, PAGE, ("ok", "Nothing changed."))
    try:
        await admin.update(changes, agent_id=viewer.id)
    except InvalidSetting as error:
        return redirect(request, PAGE, ("error", f"Nothing saved. {error}"))
    return redirect(request, PAGE, ("ok", f"Saved: {', '.join(sorted(changes))}."))


@router.post(PAGE + "/{key}/reset")
async def reset_setting(
    request: Request, key: str, viewer: AdminOnly, form: CheckedForm
) -> Response:
    try:
        removed = await _admin(request).reset(key, agent_id=viewer.id)
    except InvalidSetting as error:
        return redirect(request, PAGE, ("error", str(error)))
    text = f"{key} is back to the environment's value." if removed else f"{key} was not changed."
    return redirect(request, PAGE, ("ok", text))
