"""Alert planning (one alert per escalation, re-alerts, fallback) and alert texts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from helpdesk.config import Settings
from helpdesk.domain import Author, ConversationState, EscalationReason, Turn
from helpdesk.handoff.alerts import (
    Agent,
    AlertContext,
    AlertKind,
    AlertPlan,
    AlertRecord,
    AlertStatus,
    Channel,
    PlannedAlert,
    Role,
    alert_text,
    plan_alerts,
)
from helpdesk.handoff.policy import Escalation
from helpdesk.notify.templates import sms_segments
from tests.handoff.conftest import NOW, make_settings

ESCALATED = NOW
SLA = timedelta(seconds=300)
ANA = Agent("ana", "Ana", email="ana@example.com", phone="+15550001")
BOB = Agent("bob", "Bob", email="bob@example.com", phone="+15550002")
CAT = Agent("cat", "Cat", email="cat@example.com", phone="+15550003")
AWAY = Agent("dan", "Dan", email="dan@example.com", phone="+15550004", available=False)
BOSS = Agent("eve", "Eve", email="eve@example.com", phone="+15550005", role=Role.ADMIN)
TEAM = [AWAY, ANA, BOB, CAT, BOSS]


def plan(
    history: list[AlertRecord],
    *,
    after: timedelta = timedelta(0),
    agents: list[Agent] = TEAM,
    settings: Settings | None = None,
    state: ConversationState = ConversationState.WAITING,
    channels: set[Channel] | None = None,
) -> AlertPlan:
    return plan_alerts(
        state=state,
        escalated_at=ESCALATED,
        agents=agents,
        history=history,
        settings=settings or make_settings(),
        now=ESCALATED + after,
        channels=channels,
    )


def record(
    alert: PlannedAlert, at: timedelta, status: AlertStatus = AlertStatus.SENT
) -> AlertRecord:
    return AlertRecord(alert.agent.id, alert.channel, ESCALATED + at, status)


def only(p: AlertPlan) -> PlannedAlert:
    assert len(p.alerts) == 1, p
    return p.alerts[0]


def test_the_first_available_agent_gets_one_sms() -> None:
    first = plan([])
    assert first.alerts == (PlannedAlert(ANA, Channel.SMS, "+15550001", AlertKind.FIRST),)
    assert first.next_check_at == ESCALATED + SLA


def test_planning_again_before_the_sla_sends_nothing() -> None:
    history = [record(only(plan([])), timedelta(0))]
    for minute in (0, 1, 4.9):
        again = plan(history, after=timedelta(minutes=minute))
        assert again.alerts == ()
        assert again.next_check_at == ESCALATED + SLA


def test_unclaimed_after_the_sla_the_next_agent_then_an_admin_are_alerted() -> None:
    history = [record(only(plan([])), timedelta(0))]
    second = only(plan(history, after=SLA))
    assert (second.agent, second.kind) == (BOB, AlertKind.NEXT_AGENT)
    history.append(record(second, SLA))
    assert plan(history, after=SLA + timedelta(minutes=4)).alerts == ()
    # Two agents tried (handoff_agents_before_admin=2): Cat is skipped for the admin.
    third = only(plan(history, after=2 * SLA))
    assert (third.agent, third.kind) == (BOSS, AlertKind.ADMIN)
    history.append(record(third, 2 * SLA))
    done = plan(history, after=timedelta(hours=3))
    assert (done.alerts, done.next_check_at) == ((), None)


def test_a_failed_channel_falls_back_to_the_other_at_once() -> None:
    sms = only(plan([]))
    history = [record(sms, timedelta(0), AlertStatus.FAILED)]
    email = only(plan(history, after=timedelta(seconds=20)))
    assert email == PlannedAlert(ANA, Channel.EMAIL, "ana@example.com", AlertKind.FALLBACK)
    history.append(record(email, timedelta(seconds=20)))
    # The SLA runs from the alert that went out.
    assert plan(history, after=SLA).alerts == ()
    assert only(plan(history, after=SLA + timedelta(seconds=20))).agent == BOB


def test_an_agent_unreachable_on_every_channel_is_skipped_at_once() -> None:
    history = [
        AlertRecord("ana", Channel.SMS, ESCALATED, AlertStatus.FAILED),
        AlertRecord("ana", Channel.EMAIL, ESCALATED + timedelta(seconds=5), AlertStatus.FAILED),
    ]
    nxt = only(plan(history, after=timedelta(seconds=10)))
    assert (nxt.agent, nxt.channel, nxt.kind) == (BOB, Channel.SMS, AlertKind.NEXT_AGENT)


def test_channels_follow_settings_addresses_and_configured_senders(
    settings_factory: Callable[..., Settings],
) -> None:
    no_phone = Agent("fay", "Fay", email="fay@example.com")
    assert only(plan([], agents=[no_phone])).channel is Channel.EMAIL
    assert only(plan([], channels={Channel.EMAIL})).channel is Channel.EMAIL
    email_first = settings_factory(handoff_alert_channels="email,sms,pager")
    assert only(plan([], settings=email_first)).channel is Channel.EMAIL
    nothing = plan([], channels=set())
    assert (nothing.alerts, nothing.note) == ((), "no alert channel configured")


def test_no_alerts_unless_the_conversation_is_waiting() -> None:
    for state in (ConversationState.BOT, ConversationState.HUMAN, ConversationState.RESOLVED):
        assert plan([], state=state).alerts == ()


def test_alerts_from_an_earlier_escalation_do_not_count() -> None:
    old = [AlertRecord("ana", Channel.SMS, ESCALATED - timedelta(days=1))]
    assert only(plan(old)).kind is AlertKind.FIRST


def test_with_no_agent_available_the_admin_is_alerted_first() -> None:
    first = only(plan([], agents=[AWAY, BOSS]))
    assert (first.agent, first.kind) == (BOSS, AlertKind.FIRST)
    assert plan([], agents=[AWAY]).note == "nobody to alert"


def test_admins_available_first_then_the_others(
    settings_factory: Callable[..., Settings],
) -> None:
    away_admin = Agent("gus", "Gus", phone="+15550006", role=Role.ADMIN, available=False)
    settings = settings_factory(handoff_agents_before_admin=0)
    first = only(plan([], agents=[away_admin, BOSS, ANA], settings=settings))
    assert first.agent == BOSS
    history = [record(first, timedelta(0))]
    assert only(
        plan(history, agents=[away_admin, BOSS, ANA], settings=settings, after=SLA)
    ).agent == (away_admin)


# --- texts ---------------------------------------------------------------------------

CONTEXT = AlertContext(
    conversation_id=42,
    customer_name="Jane Doe",
    escalation=Escalation(EscalationReason.KEYWORD, 'keyword "lawyer"'),
    last_messages=(
        Turn(Author.CUSTOMER, "Where is my parcel?"),
        Turn(Author.BOT, "You can track it here: ..."),
        Turn(Author.CUSTOMER, "It’s been 3 weeks. I'll call my lawyer!"),
    ),
    channel="telegram",
    escalated_at=ESCALATED,
)
LINK = "https://help.example.com/console/conversations/42"


@pytest.fixture
def public(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(public_url="https://help.example.com/")


def test_the_alert_names_customer_reason_last_messages_and_link(public: Settings) -> None:
    text = alert_text(CONTEXT, public, now=ESCALATED + timedelta(minutes=1))
    assert text.subject == "Jane Doe needs a person (escalation keyword) - Northwind Goods"
    assert text.sms == (
        "Northwind Goods: Jane Doe needs a person (escalation keyword, waiting 1 min). "
        f"\"It's been 3 weeks. I'll call my lawyer!\" {LINK}"
    )
    assert sms_segments(text.sms) == ("GSM-7", 2)  # the curly apostrophe did not force UCS-2
    assert text.email.splitlines() == [
        "Jane Doe is waiting for a person (waiting 1 min).",
        'Reason: escalation keyword - keyword "lawyer"',
        "Channel: telegram",
        "",
        "Last messages:",
        "  Customer: Where is my parcel?",
        "  Bot: You can track it here: ...",
        "  Customer: It’s been 3 weeks. I'll call my lawyer!",
        "",
        f"Open the conversation: {LINK}",
    ]
    assert text.for_channel(Channel.SMS) == text.sms
    assert text.for_channel(Channel.EMAIL) == text.email


def test_re_alerts_say_the_conversation_is_still_unclaimed(public: Settings) -> None:
    later = ESCALATED + timedelta(minutes=11)
    assert alert_text(CONTEXT, public, kind=AlertKind.NEXT_AGENT, now=later).sms.startswith(
        "Northwind Goods: Still unclaimed: Jane Doe needs a person"
        " (escalation keyword, waiting 11 min)."
    )
    admin = alert_text(CONTEXT, public, kind=AlertKind.ADMIN, now=later)
    assert admin.subject.startswith("Unclaimed, please assign: Jane Doe")


@pytest.mark.parametrize(
    "message",
    [
        "word " * 400,
        "😡 " * 200 + "where is my parcel",
        "Пожалуйста, ответьте мне, где моя посылка, я жду уже три недели! " * 10,
    ],
)
def test_sms_stays_within_two_segments_and_keeps_the_link(public: Settings, message: str) -> None:
    context = AlertContext(
        conversation_id=42,
        customer_name="Maximiliane Alexandra von und zu Hohenzollern-Sigmaringen " * 3,
        escalation=Escalation(EscalationReason.REPETITION, "asked 3 times"),
        last_messages=(Turn(Author.CUSTOMER, message),),
    )
    sms = alert_text(context, public).sms
    assert sms_segments(sms)[1] <= 2
    assert sms.endswith(LINK)
    assert '..." ' in sms or '"' not in sms


def test_an_alert_without_a_name_or_messages_is_still_useful(public: Settings) -> None:
    context = AlertContext(
        conversation_id="c-7",
        customer_name=None,
        escalation=Escalation(EscalationReason.LLM_FAILURE, ""),
    )
    text = alert_text(context, public)
    assert text.sms == (
        "Northwind Goods: A customer needs a person (the AI failed to answer). "
        "https://help.example.com/console/conversations/c-7"
    )
    assert "Last messages" not in text.email
