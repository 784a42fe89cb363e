"""End to end: a question the bot cannot answer becomes a draft article.

A customer asks on Telegram, the bot is unsure and hands over to a person, an
agent answers from the console; the admin then finds the question on the knowledge
gaps page with the agent's answer beside it and saves it as a draft article.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from helpdesk.brain.knowledge import load_articles
from tests.console.conftest import StartConsole
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.telegram_updates import tg_text_update
from tests.helpers.console import add_agent, csrf_in, log_in

CHAT = 4242
QUESTION = "Do you deliver to research stations in Antarctica?"
AGENT_ANSWER = "We do: parcels for Antarctic stations go through the station's home-port address."


async def test_a_question_a_person_had_to_answer_becomes_a_draft_article(
    database_url: str, start_console: StartConsole, telegram: FakeTelegram, tmp_path: Path
) -> None:
    drafts = tmp_path / "drafts"
    service = await start_console(database_url, kb_drafts_path=drafts)
    await add_agent(service, "grace@example.test", "Grace Hopper", role="admin")

    await service.send_update(tg_text_update(1, CHAT, QUESTION))
    await telegram.wait_for_messages(1, chat_id=CHAT)
    await service.send_update(tg_text_update(2, CHAT, "/human"))  # asked again: a command
    await service.idle()
    [waiting] = await service.runtime.handoff.list_conversations(state="waiting")

    async with httpx.AsyncClient(base_url=service.base_url, timeout=60) as admin:
        assert (await log_in(admin, "grace@example.test")).status_code == 303
        page = await admin.get(f"/console/conversations/{waiting.id}")
        sent = await admin.post(
            f"/console/conversations/{waiting.id}/reply",
            data={"csrf": csrf_in(page.text), "text": AGENT_ANSWER},
        )
        assert sent.status_code == 303
        # The bot was unsure and handed over at once ("a person will reply"), then the agent.
        replies = await telegram.wait_for_messages(2, chat_id=CHAT)
        assert "A person from our team will reply" in replies[0]["text"]
        assert AGENT_ANSWER in replies[-1]["text"]

        gaps = await admin.get("/console/gaps?period=7d")
        assert gaps.status_code == 200
        html = gaps.text
        gap = html[html.index('id="gap-1"') : html.index("</ol>")]
        assert QUESTION in gap
        assert "unsure × 1" in gap and "person stepped in × 1" in gap
        assert AGENT_ANSWER in gap
        assert "/human" not in gap  # a command is not a question
        draft = re.search(r'<textarea id="draft-1" name="article"[^>]*>(.*?)</textarea>', gap, re.S)
        assert draft
        article_text = draft.group(1).replace("&#39;", "'").replace("&amp;", "&")

        saved = await admin.post(
            "/console/gaps/drafts",
            data={"csrf": csrf_in(html), "article": article_text, "next": "/console/gaps"},
        )
        assert saved.status_code == 303

    [article] = load_articles(drafts)
    assert article.questions == (QUESTION,)
    assert article.body == AGENT_ANSWER
    assert article.title == QUESTION.rstrip("?")
