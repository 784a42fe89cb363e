"""Admins change settings over `/api/settings`: validated, stored, audited, live."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from helpdesk.app import create_app
from helpdesk.brain import load_brain
from helpdesk.store.models import Alert, SettingChange, SettingOverride
from tests.admin_settings.conftest import Start
from tests.api.conftest import Api, conversation_of, say, signed_in, team
from tests.e2e.service import RunningService, service_settings
from tests.fakes.telegram_server import FakeTelegram


def setting(body: dict[str, Any], key: str) -> dict[str, Any]:
    [found] = [s for s in body["settings"] if s["key"] == key]
    return found


async def put(api: Api, body: Any) -> Any:
    return await api.service.http.put(api.url("/settings"), json=body, headers=api.headers)


async def delete(api: Api, key: str) -> Any:
    return await api.service.http.delete(api.url(f"/settings/{key}"), headers=api.headers)


async def stored(service: RunningService) -> tuple[dict[str, Any], int]:
    async with service.runtime.sessions() as session:
        overrides = dict(
            (await session.execute(select(SettingOverride.key, SettingOverride.value))).all()
        )
        changes = await session.scalar(select(func.count()).select_from(SettingChange))
    return overrides, changes or 0


async def test_an_admin_adds_a_keyword_and_the_next_message_with_it_escalates(
    start: Start, telegram: FakeTelegram
) -> None:
    # Only the keyword trigger: the offline brain is unsure of most things.
    service = await start(escalation_low_confidence_enabled=False)
    crew = await team(service)
    await say(service, telegram, 1, 501, "My solicitor will hear about this")
    assert (await conversation_of(crew.admin, 501))["state"] == "bot"

    keywords = ["lawyer", "solicitor"]
    changed = await put(crew.admin, {"escalation_keywords": keywords})

    assert changed.status_code == 200, changed.text
    shown = setting(changed.json(), "escalation_keywords")
    assert shown["value"] == keywords and shown["overridden"] is True and shown["editable"]
    assert "solicitor" not in shown["default"]
    [audit] = changed.json()["recent_changes"]
    assert audit["key"] == "escalation_keywords" and audit["new_value"] == keywords
    assert audit["changed_by"] == crew.admin.agent_id and "solicitor" not in audit["old_value"]

    await say(service, telegram, 2, 502, "My solicitor will hear about this")
    escalated = await conversation_of(crew.admin, 502)
    assert escalated["state"] == "waiting"
    assert escalated["escalation_reason"] == "keyword"
    assert "solicitor" in escalated["escalation_detail"]
    assert await stored(service) == ({"escalation_keywords": keywords}, 1)


async def test_an_invalid_or_locked_setting_is_refused_with_422_and_nothing_is_stored(
    start: Start,
) -> None:
    service = await start()
    admin = await signed_in(service, "admin@example.com", role="admin")
    cases = [
        ({"escalation_repeat_count": 0}, "escalation_repeat_count: Input should be greater"),
        ({"handoff_sla_seconds": "soon"}, "handoff_sla_seconds: Input should be a valid integer"),
        ({"handoff_timezone": "Mars/Olympus"}, "handoff_timezone: unknown time zone"),
        ({"handoff_hours": "weekdays"}, "handoff_hours: cannot read 'weekdays'"),
        ({"handoff_alert_channels": ["pigeon"]}, "handoff_alert_channels: expected one or more"),
        ({"telegram_bot_token": "x"}, "telegram_bot_token: cannot be changed at run time"),
        ({"database_url": "sqlite://"}, "database_url: cannot be changed at run time"),
        ({"no_such_thing": 1}, "no_such_thing: no such setting"),
        ({}, "body: send at least one setting"),
        # All or nothing: a valid change beside an invalid one is not applied either.
        ({"company_name": "Acme", "answer_threshold": 2}, "answer_threshold: Input should be"),
    ]
    for body, message in cases:
        response = await put(admin, body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["message"].startswith(message), response.json()["message"]

    assert await stored(service) == ({}, 0)
    assert service.runtime.settings.company_name == "Northwind Goods"
    locked = await delete(admin, "database_url")
    assert locked.status_code == 422 and "cannot be changed" in locked.json()["message"]


async def test_agents_get_403_and_requests_without_a_token_401(start: Start) -> None:
    service = await start()
    alice = await signed_in(service, "alice@example.com")
    anonymous = Api(service)
    for api, status in ((alice, 403), (anonymous, 401)):
        assert (await api.get("/settings")).status_code == status
        assert (await put(api, {"company_name": "Mine now"})).status_code == status
        assert (await delete(api, "company_name")).status_code == status
    assert await stored(service) == ({}, 0)


async def test_secrets_are_shown_masked_and_read_only(start: Start) -> None:
    service = await start(sendgrid_api_key="SG.very-secret")
    admin = await signed_in(service, "admin@example.com", role="admin")
    body = (await admin.get("/settings")).json()
    for key in ("telegram_bot_token", "sendgrid_api_key", "telegram_webhook_secret"):
        assert setting(body, key)["value"] == "********" and not setting(body, key)["editable"]
    assert "very-secret" not in str(body) and service.settings.telegram_bot_token not in str(body)


async def test_an_override_survives_a_restart_and_delete_restores_the_environment_value(
    start: Start,
) -> None:
    first = await start(company_name="Northwind Goods")
    admin = await signed_in(first, "admin@example.com", role="admin")
    assert (await put(admin, {"company_name": "Acme Outdoor"})).status_code == 200
    await first.stop()

    second = await start(company_name="Northwind Goods")
    assert second.runtime.settings.company_name == "Acme Outdoor"
    admin = Api(second, admin.token, admin.agent_id)
    shown = setting((await admin.get("/settings")).json(), "company_name")
    assert (shown["value"], shown["default"], shown["overridden"]) == (
        "Acme Outdoor",
        "Northwind Goods",
        True,
    )

    reset = await delete(admin, "company_name")
    assert reset.status_code == 200
    shown = setting(reset.json(), "company_name")
    assert (shown["value"], shown["overridden"]) == ("Northwind Goods", False)
    assert second.runtime.settings.company_name == "Northwind Goods"
    latest = reset.json()["recent_changes"][0]
    assert latest["reset"] is True and latest["old_value"] == "Acme Outdoor"
    assert latest["new_value"] == "Northwind Goods"
    assert await stored(second) == ({}, 2)
    # Nothing to reset: no audit row.
    assert (await delete(admin, "company_name")).status_code == 200
    assert await stored(second) == ({}, 2)


async def alert_count(service: RunningService, conversation_id: int) -> int:
    async with service.runtime.sessions() as session:
        query = select(func.count()).where(Alert.conversation_id == conversation_id)
        return await session.scalar(query) or 0


async def alerts_reach(service: RunningService, conversation_id: int, count: int) -> None:
    for _ in range(200):
        if await alert_count(service, conversation_id) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} alerts after 10 s")


async def test_a_shorter_sla_makes_the_next_alert_follow_it(
    start: Start, telegram: FakeTelegram
) -> None:
    service = await start(handoff_sla_seconds=3600)
    crew = await team(service)
    await say(service, telegram, 1, 601, "/human")
    conversation_id = (await conversation_of(crew.admin, 601))["id"]
    await alerts_reach(service, conversation_id, 1)
    await asyncio.sleep(1.0)
    assert await alert_count(service, conversation_id) == 1  # the next one in an hour

    assert (await put(crew.admin, {"handoff_sla_seconds": 1})).status_code == 200

    await alerts_reach(service, conversation_id, 2)


async def test_the_answers_footer_and_threshold_follow_the_settings(
    database_url: str, data_dir: Path, telegram: FakeTelegram
) -> None:
    # A brain of its own: the brain reads the footer and threshold from the service's
    # Settings, which a brain shared between services would not be.
    settings = service_settings(
        database_url,
        str(data_dir),
        telegram_api_base=telegram.base_url,
        token=telegram.token,
        contact_footer="Need more help? Reply /human.",
    )
    brain = await load_brain(settings)
    service = RunningService(settings)
    service.app = create_app(settings, brain)
    async with service:
        admin = await signed_in(service, "admin@example.com", role="admin")
        question = "How do I reset my password?"
        [before] = await say(service, telegram, 1, 701, question)
        assert before["text"].endswith("Need more help? Reply /human.")

        footer = "Questions? Write to help@acme.test."
        assert (await put(admin, {"contact_footer": footer})).status_code == 200
        [after] = await say(service, telegram, 2, 701, question)
        assert after["text"].endswith(footer)

        assert (await put(admin, {"answer_threshold": 1.0})).status_code == 200
        await say(service, telegram, 3, 702, question)
        unsure = await conversation_of(admin, 702)
        assert (unsure["state"], unsure["escalation_reason"]) == ("waiting", "low_confidence")
    await brain.aclose()


async def test_a_stored_override_that_no_longer_validates_is_skipped_at_start_up(
    start: Start,
) -> None:
    first = await start()
    async with first.runtime.sessions.begin() as session:
        session.add_all(
            [
                SettingOverride(key="handoff_sla_seconds", value=0),  # below the minimum
                SettingOverride(key="database_url", value="sqlite://"),  # never editable
                SettingOverride(key="company_name", value="Acme Outdoor"),
            ]
        )
    await first.stop()

    second = await start()
    settings = second.runtime.settings
    assert (settings.handoff_sla_seconds, settings.company_name) == (300, "Acme Outdoor")
    assert settings.database_url == first.settings.database_url
    admin = await signed_in(second, "admin@example.com", role="admin")
    body = (await admin.get("/settings")).json()
    assert setting(body, "handoff_sla_seconds")["overridden"] is False
    assert setting(body, "company_name")["overridden"] is True
