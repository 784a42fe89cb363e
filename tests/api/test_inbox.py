"""Escalated conversations reach the inbox; an agent takes over, replies, hands back, resolves."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import StartService, conversation_of, say, team
from tests.fakes.llm_server import FakeLLM
from tests.fakes.telegram_server import FakeTelegram


async def test_every_escalation_trigger_reaches_the_inbox_with_its_reason(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    # No per-chat send limit: the repeated question would wait a second per reply.
    service = await start_service(telegram_chat_rate_limit=0)
    crew = await team(service)
    triggers = {
        601: ("Can I talk to a human?", "explicit_request", "asked for a person"),
        602: ("/human", "explicit_request", "/human command"),
        603: ("I'll call my lawyer", "keyword", '"lawyer"'),
        604: ("What's the best pizza in Rome?", "low_confidence", "confidence"),
    }
    for chat_id, (text, _reason, _detail) in triggers.items():
        [reply] = await say(service, telegram, chat_id, chat_id, text)
        assert "A person from our team will reply here" in reply["text"]
    # The same answerable question three times: the third time a person steps in.
    for update_id in (605, 606):
        [answer] = await say(service, telegram, update_id, 605, "How do I track my parcel?")
        assert "track" in answer["text"].lower()
    [handed] = await say(service, telegram, 607, 605, "How do I track my parcel?")
    assert "A person from our team will reply here" in handed["text"]
    triggers[605] = ("", "repetition", "asked the same question 3 times")

    response = await crew.alice.get("/conversations", status="waiting")
    assert response.status_code == 200
    waiting = {c["chat_id"]: c for c in response.json()}
    assert list(waiting) == [601, 602, 603, 604, 605], "longest-waiting first"
    for chat_id, (_text, reason, detail) in triggers.items():
        conversation = waiting[chat_id]
        assert conversation["state"] == "waiting"
        assert conversation["escalation_reason"] == reason, conversation
        assert detail in conversation["escalation_detail"], conversation
        assert conversation["assigned_agent_id"] is None
        assert conversation["customer"]["name"] == "Ada Lovelace"
    assert (await crew.alice.get("/conversations", status="bot")).json() == []


async def test_an_agent_takes_over_replies_live_and_hands_back_to_the_bot(
    start_service: StartService, telegram: FakeTelegram, llm: FakeLLM
) -> None:
    llm.mode = "error"
    service = await start_service(llm_base_url=llm.base_url, llm_timeout=2)
    crew = await team(service)
    [fallback] = await say(service, telegram, 1, 701, "Where is my order?")
    assert "team" in fallback["text"].lower()
    llm.mode = "json"

    inbox = await conversation_of(crew.alice, 701, status="waiting")
    assert inbox["escalation_reason"] == "llm_failure"
    conversation = f"/conversations/{inbox['id']}"

    async with crew.alice.events() as stream:
        claimed = await crew.alice.post(f"{conversation}/assign")
        assert claimed.status_code == 200, claimed.text
        assert claimed.json()["state"] == "human"
        assert claimed.json()["assigned_agent_id"] == crew.alice.agent_id
        change = await stream.next(lambda e: e["type"] == "state")
        assert (change["conversation_id"], change["state"]) == (inbox["id"], "human")

        sent = await crew.alice.post(
            f"{conversation}/messages", {"text": "Hi, I'm Alice. Let me look."}
        )
        assert sent.status_code == 201, sent.text
        [delivered] = (await telegram.wait_for_messages(2, chat_id=701))[1:]
        assert delivered["text"] == "Hi, I'm Alice. Let me look."

        asked = len(llm.requests)
        await say(service, telegram, 2, 701, "It's order 1234", replies=None)
        heard = await stream.next(lambda e: e["type"] == "message" and e["author"] == "customer")
        assert (heard["conversation_id"], heard["text"]) == (inbox["id"], "It's order 1234")
        # A person owns the conversation: the bot neither asks the model nor answers.
        assert len(llm.requests) == asked
        assert len(telegram.sent_messages(chat_id=701)) == 2

    detail = (await crew.alice.get(conversation)).json()
    assert [(m["author"], m["text"]) for m in detail["messages"]][-2:] == [
        ("agent", "Hi, I'm Alice. Let me look."),
        ("customer", "It's order 1234"),
    ]
    assert [e["event"] for e in detail["events"]] == ["escalate", "claim"]

    released = await crew.alice.post(f"{conversation}/release")
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "bot"
    [answer] = await say(service, telegram, 3, 701, "How do I track my parcel?")
    assert len(llm.requests) == asked + 1
    assert "Sources" in answer["text"]


async def test_resolving_closes_the_conversation_and_keeps_its_record(
    start_service: StartService, telegram: FakeTelegram
) -> None:
    service = await start_service(telegram_chat_rate_limit=0)
    crew = await team(service)
    await say(service, telegram, 1, 702, "/human")
    inbox = await conversation_of(crew.bob, 702, status="waiting")
    conversation = f"/conversations/{inbox['id']}"
    assert (await crew.bob.post(f"{conversation}/assign")).status_code == 200
    note = await crew.bob.post(f"{conversation}/notes", {"text": "VIP customer, be quick"})
    assert note.status_code == 201, note.text

    resolved = await crew.bob.post(f"{conversation}/resolve")
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert (await conversation_of(crew.admin, 702, status="resolved"))["id"] == inbox["id"]
    detail = (await crew.admin.get(conversation)).json()
    assert [e["event"] for e in detail["events"]] == ["escalate", "claim", "resolve"]
    assert [(n["agent_id"], n["text"]) for n in detail["notes"]] == [
        (crew.bob.agent_id, "VIP customer, be quick")
    ]
    # The note stayed internal: the customer got only the "a person will reply" message.
    assert len(telegram.sent_messages(chat_id=702)) == 1
    refused = await crew.bob.post(f"{conversation}/messages", {"text": "one more thing"})
    assert refused.status_code == 409
    assert "resolved" in refused.json()["detail"]

    # The customer's next message opens a new conversation, answered by the bot.
    await say(service, telegram, 2, 702, "How long do refunds take?")
    fresh = await conversation_of(crew.admin, 702, status="bot")
    assert fresh["id"] != inbox["id"]
    assert (await crew.admin.get(f"/conversations/{fresh['id']}")).json()["past_conversations"] == [
        inbox["id"]
    ]


async def test_the_event_stream_pings_and_ends_when_the_client_leaves_or_the_service_stops(
    start_service: StartService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's keep-alive comment comes after 15 s of silence; a test cannot wait that long.
    monkeypatch.setattr("fastapi.routing._PING_INTERVAL", 0.2)
    service = await start_service()
    crew = await team(service)
    bus = service.runtime.events
    async with crew.alice.events() as stream:
        assert bus.subscriber_count == 1
        await asyncio.sleep(0.5)
        assert ": ping" in stream.comments
    for _ in range(250):  # the server notices the disconnect asynchronously
        if bus.subscriber_count == 0:
            break
        await asyncio.sleep(0.02)
    assert bus.subscriber_count == 0

    async with crew.bob.events() as stream:
        service.runtime.stop.set()  # what stop_runtime does at shutdown
        await asyncio.wait_for(stream.ended.wait(), 5)
    assert bus.subscriber_count == 0
