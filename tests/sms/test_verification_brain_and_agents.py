"""What verification unlocks: answers from reserved articles, and the number agents see.

An article tagged `requires_verification` in its front matter is answered only to a
verified customer; the others are asked to verify first. Agents see the verified
number in the console's customer panel and in the JSON API.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import httpx
import pytest

from helpdesk.brain import Brain, load_brain
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH
from tests.api.conftest import conversation_of, signed_in
from tests.e2e.service import service_settings
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.fakes.twilio_server import FakeTwilio
from tests.helpers.console import add_agent, log_in
from tests.sms.conftest import StartService, customer, keyboard_buttons

ADA, BOB = 7201, 7202
PHONE = "+33612345678"
TRACKING = "How do I track my parcel?"


@pytest.fixture(scope="module")
async def tagged_brain(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Brain]:
    """The sample knowledge base, with the tracking article reserved to verified customers."""
    root = tmp_path_factory.mktemp("tagged")
    knowledge = root / "kb"
    shutil.copytree(SAMPLE_KNOWLEDGE_PATH, knowledge)
    article = knowledge / "order-tracking.md"
    source = article.read_text(encoding="utf-8")
    assert "tags: [shipping, tracking]" in source
    article.write_text(
        source.replace(
            "tags: [shipping, tracking]", "tags: [shipping, tracking, requires_verification]"
        ),
        encoding="utf-8",
    )
    settings = service_settings("sqlite+aiosqlite://", str(root / "var"), knowledge_path=knowledge)
    brain = await load_brain(settings)
    yield brain
    await brain.aclose()


async def test_a_reserved_answer_waits_until_the_customer_has_verified(
    start_sms: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio, tagged_brain: Brain
) -> None:
    service = await start_sms(brain=tagged_brain)
    ada = customer(service, telegram, ADA, fake_twilio)

    gated = await ada.says(TRACKING)
    assert "verify your phone number first" in gated["text"]
    assert "tracking link" not in gated["text"]
    [button] = keyboard_buttons(gated)
    assert button == {"text": "Verify my phone"}

    # Tapping the button sends its text, which starts the verification like /verify.
    ask = await ada.says(button["text"])
    assert keyboard_buttons(ask)[0]["request_contact"] is True
    await ada.verifies(PHONE)

    answered = await ada.says(TRACKING)
    assert "tracking link" in answered["text"]
    assert "Sources" in answered["text"]


async def test_other_articles_need_no_verification_and_the_tag_can_be_switched_off(
    start_sms: StartService, telegram: FakeTelegram, tagged_brain: Brain
) -> None:
    service = await start_sms(brain=tagged_brain)
    bob = customer(service, telegram, BOB)
    refund = await bob.says("How long does a refund take?")
    assert "verify" not in refund["text"].lower()
    assert "Sources" in refund["text"]
    await service.stop()

    open_service = await start_sms(brain=tagged_brain, verify_required_tag="")
    carol = customer(open_service, telegram, 7203)
    assert "tracking link" in (await carol.says(TRACKING))["text"]


async def test_agents_see_the_verified_number_in_the_api_and_the_console(
    start_sms: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start_sms()
    ada = customer(service, telegram, ADA, fake_twilio)
    api = await signed_in(service, "agent@example.com")

    await ada.says("/verify")
    conversation = await conversation_of(api, ADA)
    assert conversation["customer"]["phone_e164"] is None
    assert conversation["customer"]["phone_verified_at"] is None
    # A number sent but not yet proven is not shown as the customer's.
    await ada.shares_contact(PHONE, contact_user_id=ADA)
    detail = (await api.get(f"/conversations/{conversation['id']}")).json()
    assert detail["customer"]["phone_e164"] is None

    assert "is verified" in (await ada.says(ada.last_code()))["text"]
    detail = (await api.get(f"/conversations/{conversation['id']}")).json()
    assert detail["customer"]["phone_e164"] == PHONE
    assert detail["customer"]["phone_verified_at"] is not None

    await add_agent(service, "grace@example.test", "Grace Hopper")
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as browser:
        assert (await log_in(browser, "grace@example.test")).status_code == 303
        page = await browser.get(f"/console/conversations/{conversation['id']}")
    assert page.status_code == 200
    assert f'<a href="tel:{PHONE}">{PHONE}</a>' in page.text
    assert "not verified" not in page.text


async def test_an_agent_can_ask_a_customer_to_verify_during_a_handoff(
    start_sms: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start_sms()
    ada = customer(service, telegram, ADA, fake_twilio)
    await ada.says("/human")  # a person owns the conversation from now on

    ask = await ada.says("/verify")
    assert keyboard_buttons(ask)[0]["request_contact"] is True
    await ada.verifies(PHONE)
    assert (await ada.row()).phone_e164 == PHONE

    # Anything else is still the agent's to answer: the bot stays quiet.
    before = len(telegram.sent_messages(ADA))
    await service.send_update(tg_text_update(90_001, ADA, "Can you see my number now?"))
    await service.idle()
    assert len(telegram.sent_messages(ADA)) == before


async def test_a_verification_survives_a_restart(
    start_sms: StartService, telegram: FakeTelegram, fake_twilio: FakeTwilio
) -> None:
    service = await start_sms()
    ada = customer(service, telegram, ADA, fake_twilio)
    await ada.asks_for_a_code(PHONE)
    await service.stop()

    restarted = await start_sms()
    ada = customer(restarted, telegram, ADA, fake_twilio)
    assert "is verified" in (await ada.says(ada.last_code()))["text"]
