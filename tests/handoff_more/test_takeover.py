"""An admin takes over a conversation another agent holds; replying claims a waiting one."""

from __future__ import annotations

from tests.fakes.telegram_server import FakeTelegram
from tests.handoff_more.conftest import (
    StartConsole,
    add_agent,
    audit_trail,
    browser,
    csrf_in,
    escalated,
    flash,
    log_in,
    signed_in,
)


async def test_an_admin_takes_over_through_the_api_and_the_audit_trail_says_why(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    admin = await signed_in(service, "boss@example.test", role="admin")
    alice = await signed_in(service, "alice@example.test")
    bob = await signed_in(service, "bob@example.test")
    conversation_id = await escalated(service, telegram, 801)
    path = f"/conversations/{conversation_id}"
    assert (await alice.post(f"{path}/assign")).status_code == 200

    # Bob is an agent: he may neither take over nor simply claim Alice's conversation.
    refused = await bob.post(f"{path}/assign", {"takeover": True, "reason": "I know them"})
    assert refused.status_code == 403
    assert "only admins" in refused.json()["detail"]
    assert (await bob.post(f"{path}/assign")).status_code == 409

    taken = await admin.post(f"{path}/assign", {"takeover": True, "reason": "Alice went home"})
    assert taken.status_code == 200, taken.text
    assert taken.json()["state"] == "human"
    assert taken.json()["assigned_agent_id"] == admin.agent_id

    last = (await audit_trail(service, conversation_id))[-1]
    assert (last.event, last.from_state, last.to_state) == ("takeover", "human", "human")
    assert last.actor == f"agent:{admin.agent_id}"
    assert last.reason == f"taken over from agent {alice.agent_id}: Alice went home"
    # The API's own audit view says the same.
    events = (await alice.get(path)).json()["events"]
    assert events[-1]["event"] == "takeover" and "Alice went home" in events[-1]["reason"]

    # Alice no longer holds it: her reply is refused, with who has it.
    late = await alice.post(f"{path}/messages", {"text": "Still here!"})
    assert late.status_code == 409
    assert f"claimed by agent {admin.agent_id}" in late.json()["detail"]

    # An admin can also hand someone's conversation to a third agent.
    moved = await admin.post(
        f"{path}/assign", {"takeover": True, "agent_id": bob.agent_id, "reason": "Bob's client"}
    )
    assert moved.status_code == 200
    assert moved.json()["assigned_agent_id"] == bob.agent_id
    last = (await audit_trail(service, conversation_id))[-1]
    assert last.actor == f"agent:{admin.agent_id}"
    assert last.reason == (
        f"taken over from agent {admin.agent_id} for agent {bob.agent_id}: Bob's client"
    )

    # Resolved is final: no takeover brings it back.
    assert (await bob.post(f"{path}/resolve")).status_code == 200
    again = await admin.post(f"{path}/assign", {"takeover": True})
    assert again.status_code == 409
    assert (await admin.post("/conversations/999999/assign", {"takeover": True})).status_code == 404


async def test_replying_to_a_waiting_conversation_claims_it_and_a_colleague_then_gets_409(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    alice = await signed_in(service, "alice@example.test")
    bob = await signed_in(service, "bob@example.test")
    conversation_id = await escalated(service, telegram, 802)
    path = f"/conversations/{conversation_id}"

    async with bob.events() as stream:
        sent = await bob.post(f"{path}/messages", {"text": "Hi, Bob here. Let me check."})
        assert sent.status_code == 201, sent.text
        change = await stream.next(lambda e: e["type"] == "state")
        assert (change["conversation_id"], change["state"], change["previous"]) == (
            conversation_id,
            "human",
            "waiting",
        )
    [_, delivered] = await telegram.wait_for_messages(2, chat_id=802)
    assert delivered["text"] == "Hi, Bob here. Let me check."

    detail = (await bob.get(path)).json()
    assert (detail["state"], detail["assigned_agent_id"]) == ("human", bob.agent_id)
    claim = detail["events"][-1]
    assert (claim["event"], claim["actor"], claim["reason"]) == (
        "claim",
        f"agent:{bob.agent_id}",
        "replied",
    )

    refused = await alice.post(f"{path}/messages", {"text": "Me too!"})
    assert refused.status_code == 409
    assert (
        refused.json()["detail"]
        == f"cannot reply: the conversation is claimed by agent {bob.agent_id}"
    )
    assert len(telegram.sent_messages(802)) == 2, "the refused reply must not reach the customer"


async def test_the_console_offers_take_over_to_admins_only(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram
) -> None:
    service = await start_console(database_url)
    await add_agent(service, "grace@example.test", "Grace Hopper")
    await add_agent(service, "linus@example.test", "Linus Pauling")
    await add_agent(service, "alan@example.test", "Alan Turing", role="admin")
    conversation_id = await escalated(service, telegram, 803)
    page_url = f"/console/conversations/{conversation_id}"
    async with browser(service) as grace, browser(service) as linus, browser(service) as alan:
        for client, email in ((grace, "grace"), (linus, "linus"), (alan, "alan")):
            assert (await log_in(client, f"{email}@example.test")).status_code == 303
        page = await grace.get(page_url)
        assert f'action="{page_url}/takeover"' not in page.text
        claimed = await grace.post(f"{page_url}/claim", data={"csrf": csrf_in(page.text)})
        assert claimed.status_code == 303

        # Another agent sees who has it, and no button to take it.
        other = await linus.get(page_url)
        assert "with Grace Hopper" in other.text
        assert "Take over" not in other.text and ">Claim<" not in other.text
        forged = await linus.post(f"{page_url}/takeover", data={"csrf": csrf_in(other.text)})
        assert forged.status_code == 403

        admin_page = await alan.get(page_url)
        assert "Take over" in admin_page.text
        taken = await alan.post(
            f"{page_url}/takeover",
            data={"csrf": csrf_in(admin_page.text), "reason": "Grace is off sick"},
        )
        assert taken.status_code == 303 and taken.headers["location"] == page_url
        after = await alan.get(page_url)
        assert flash(after.text).startswith("ok: You have taken over")
        assert "with you" in after.text
        assert "takeover" in after.text and "Grace is off sick" in after.text

    summary = (await service.runtime.handoff.get_conversation(conversation_id)).summary
    assert (summary.state, summary.assigned_agent_id) == ("human", 3)
    last = (await audit_trail(service, conversation_id))[-1]
    assert last.event == "takeover" and last.actor == "agent:3"
    assert last.reason == "taken over from agent 1: Grace is off sick"
