"""Who an update is for: segments, consent and the text each customer gets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from helpdesk.campaigns.consent import Change, Keyword, notifications_change, sms_keyword
from helpdesk.campaigns.segments import Segment, SegmentError, parse_segment
from helpdesk.campaigns.service import Draft, plan
from helpdesk.campaigns.templates import Person, TemplateError, check_template, render
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH
from helpdesk.store.models import Conversation, Message
from helpdesk.store.types import utcnow
from tests.campaigns.conftest import add_customer

Sessions = async_sessionmaker[AsyncSession]


async def asked(sessions: Sessions, customer_id: int, article_id: str, days_ago: int) -> None:
    """The bot answered this customer from `article_id`, `days_ago` days ago."""
    at = utcnow() - timedelta(days=days_ago)
    async with sessions.begin() as session:
        conversation = Conversation(
            customer_id=customer_id, channel="telegram", chat_id=customer_id, created_at=at
        )
        session.add(conversation)
        await session.flush()
        source = {"article_id": article_id, "title": article_id, "url": None, "score": 0.9}
        session.add(
            Message(
                conversation_id=conversation.id,
                direction="out",
                author="bot",
                text="Here is how.",
                sources=[source],
                created_at=at,
            )
        )


async def who(sessions: Sessions, segment: str, channel: str = "telegram", **kw: int) -> set[str]:
    draft = Draft(parse_segment(segment, **kw), channel, "Hi {name}")
    async with sessions() as session:
        planned = await plan(
            session, draft, company="Northwind", knowledge_path=SAMPLE_KNOWLEDGE_PATH
        )
    return {f"{r.channel}:{r.address}" for r in planned.recipients}


async def test_segments_select_the_right_customers(sessions: Sessions) -> None:
    ana = await add_customer(sessions, 11, language="de-AT")
    await add_customer(sessions, 12, language="en", phone="+14155550012", sms_opt_in=True)
    cyd = await add_customer(sessions, 13, language="de", phone="+14155550013")
    await add_customer(sessions, 14, language="denglish")  # not German
    await asked(sessions, ana, "cancel-order", days_ago=2)  # tagged orders, cancel
    await asked(sessions, cyd, "cancel-order", days_ago=45)
    await asked(sessions, cyd, "how-to-return", days_ago=1)

    assert await who(sessions, "all") == {f"telegram:{n}" for n in (11, 12, 13, 14)}
    assert await who(sessions, "verified") == {"telegram:12", "telegram:13"}
    assert await who(sessions, "language=de") == {"telegram:11", "telegram:13"}
    assert await who(sessions, "tag=cancel") == {"telegram:11", "telegram:13"}
    assert await who(sessions, "tag=cancel", days=30) == {"telegram:11"}
    assert await who(sessions, "tag=returns") == {"telegram:13"}
    assert await who(sessions, "topic=cancel-order") == {"telegram:11"}  # 30 days by default
    assert await who(sessions, "topic=cancel-order", days=60) == {"telegram:11", "telegram:13"}
    assert await who(sessions, "topic=shipping-fees") == set()
    # SMS: only verified numbers that opted in.
    assert await who(sessions, "all", "sms") == {"sms:+14155550012"}
    assert await who(sessions, "all", "both") == {f"telegram:{n}" for n in (11, 12, 13, 14)} | {
        "sms:+14155550012"
    }


async def test_opted_out_customers_are_left_out_and_counted(sessions: Sessions) -> None:
    await add_customer(sessions, 21, phone="+14155550021", sms_opt_in=True)
    await add_customer(sessions, 22, phone="+14155550022", sms_opt_in=True, opted_out=True)
    draft = Draft(Segment("all"), "both", "Hello {first_name} 🎉")
    async with sessions() as session:
        planned = await plan(
            session, draft, company="Northwind", knowledge_path=SAMPLE_KNOWLEDGE_PATH
        )
    assert (planned.count("telegram"), planned.count("sms")) == (1, 1)
    assert planned.opted_out == {"telegram": 1, "sms": 1}
    # The emoji makes it UCS-2; counted before anything is sent.
    assert (planned.sms_encoding, planned.sms_segments) == ("UCS-2", 1)


def test_templates_take_the_name_language_and_link() -> None:
    ada = Person("Ada", "Lovelace", "de-CH")
    assert render("Hi {name}!", ada, company="N") == "Hi Ada!"
    assert render("Hi {name}!", Person(None, None, None), company="N") == "Hi there!"
    assert render("See {link} now", ada, company="N", link="https://x.example") == (
        "See https://x.example now"
    )
    assert render("News", ada, company="N", link="https://x.example") == "News\nhttps://x.example"
    # In Telegram's Markdown, a name cannot inject formatting.
    assert render("Hi {first_name}", Person("*Bo*", None, None), company="N", markdown=True) == (
        "Hi \\*Bo\\*"
    )
    for bad in ("Hi {firstname}", "Hi {", "   "):
        with pytest.raises(TemplateError):
            check_template(bad)


def test_segment_syntax() -> None:
    assert parse_segment("Language=PT_BR") == Segment("language", "pt-br")
    assert parse_segment("topic=how-to-return", topic_days=7) == Segment(
        "topic", "how-to-return", 7
    )
    for bad in ("everyone", "language=", "verified=yes", "tag=a b"):
        with pytest.raises(SegmentError):
            parse_segment(bad)


def test_sms_keywords_and_the_chat_command() -> None:
    for word in ("STOP", "stopall", " Unsubscribe ", "cancel", "END", "quit"):
        assert sms_keyword(word) is Keyword.STOP
    for word in ("START", "yes", "Unstop"):
        assert sms_keyword(word) is Keyword.START
    for word in ("HELP", "info"):
        assert sms_keyword(word) is Keyword.HELP
    assert sms_keyword("please stop sending") is None
    assert notifications_change("/notifications") is Change.SHOW
    assert notifications_change("/notifications@helpdesk_bot off") is Change.ALL_OFF
    assert notifications_change("/notifications sms on") is Change.SMS_ON
    assert notifications_change("/help") is None
