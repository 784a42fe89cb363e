"""The LLM responder against a real OpenAI-compatible server on loopback (FakeLLM).

Every request the fake receives is checked against OpenAI's OpenAPI description by
the `fake_llm` fixture.
"""

from __future__ import annotations

import json
import time

import pytest

from helpdesk.domain import Author, EscalationReason, Turn
from tests.brain.conftest import LLMBrain
from tests.fakes.llm_server import FakeLLM

QUESTION = "how long do refunds take"
REFUND_LINK = "[Refund times](https://help.northwind.example/returns/refund-timing)"


def system_prompt(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    return str(messages[0]["content"])


async def test_structured_answer_with_sources_and_token_counts(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    brain = await llm_brain(company_name="Northwind Goods", llm_model="llama3.1:8b")
    answer = await brain.answer(QUESTION)

    assert answer.responder == "llm"
    assert answer.text.startswith("According to Refund times: We refund your return")
    assert f"Sources:\n- {REFUND_LINK}" in answer.text
    assert answer.text.endswith("Reply /human to talk to our team.")
    assert answer.sources[0].article_id == "refund-timing"
    assert answer.confidence == pytest.approx(0.9)
    assert not answer.needs_human and answer.reason is None
    assert answer.model == "llama3.1:8b"
    assert answer.prompt_tokens and answer.prompt_tokens > 100
    assert answer.completion_tokens and answer.completion_tokens > 5
    assert answer.latency_ms is not None and answer.latency_ms >= 0

    [body] = fake_llm.requests
    assert body["model"] == "llama3.1:8b"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert set(fmt["json_schema"]["schema"]["required"]) == {
        "answer",
        "confidence",
        "needs_human",
        "reason",
    }
    system = system_prompt(body)
    assert "Northwind Goods" in system
    assert "[1] Refund times\nURL: https://help.northwind.example/returns/refund-timing" in system
    assert "never invent" in system.lower() or "Never invent" in system
    assert body["messages"][-1] == {"role": "user", "content": QUESTION}


async def test_history_is_sent_as_the_last_turns(llm_brain: LLMBrain, fake_llm: FakeLLM) -> None:
    brain = await llm_brain(llm_history_turns=3)
    history = [
        Turn(Author.CUSTOMER, "hello"),
        Turn(Author.BOT, "Hi! How can I help?"),
        Turn(Author.SYSTEM, "conversation reopened"),
        Turn(Author.CUSTOMER, "I returned a coat last week"),
        Turn(Author.AGENT, "Thanks, we received it."),
        Turn(Author.CUSTOMER, QUESTION),  # the current message, already stored
    ]
    await brain.answer(QUESTION, history)
    messages = fake_llm.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "Hi! How can I help?"
    assert "we received it" in messages[3]["content"]
    assert messages[-1]["content"] == QUESTION


async def test_json_object_mode(llm_brain: LLMBrain, fake_llm: FakeLLM) -> None:
    brain = await llm_brain(llm_structured_output="json_object")
    answer = await brain.answer(QUESTION)
    assert answer.responder == "llm" and answer.text.startswith("According to Refund times")
    assert fake_llm.requests[0]["response_format"] == {"type": "json_object"}
    assert '"needs_human"' in system_prompt(fake_llm.requests[0]), "schema described in prompt"


async def test_text_mode_sends_no_response_format(llm_brain: LLMBrain, fake_llm: FakeLLM) -> None:
    brain = await llm_brain(llm_structured_output="text")
    answer = await brain.answer(QUESTION)
    assert "response_format" not in fake_llm.requests[0]
    assert "JSON" not in system_prompt(fake_llm.requests[0])
    assert answer.text.startswith("According to Refund times")
    assert answer.confidence >= 0.5, "retrieval confidence stands in"


async def test_a_server_answering_in_prose_is_tolerated(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.mode = "text"
    brain = await llm_brain()
    answer = await brain.answer(QUESTION)
    assert answer.responder == "llm"
    assert answer.text.startswith("According to Refund times: We refund")
    assert not answer.text.lstrip().startswith("{")
    assert REFUND_LINK in answer.text
    assert answer.confidence >= 0.5 and not answer.needs_human


async def test_rejected_response_format_falls_back_and_is_remembered(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.reject_response_format = True  # like llama.cpp's server
    brain = await llm_brain(llm_max_retries=0)
    first = await brain.answer(QUESTION)
    assert first.responder == "llm" and first.text.startswith("According to Refund times")
    kinds = [(r.get("response_format") or {}).get("type") for r in fake_llm.requests]
    assert kinds == ["json_schema", "json_object"]

    await brain.answer("forgot my password")
    assert (fake_llm.requests[-1].get("response_format") or {}).get("type") != "json_schema"
    assert len(fake_llm.requests) == 3, "no second rejected attempt"


async def test_malformed_json_is_retried_once_with_the_error(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.mode, fake_llm.bad_json_replies = "bad_json", 1
    brain = await llm_brain()
    answer = await brain.answer(QUESTION)
    assert answer.responder == "llm" and answer.text.startswith("According to Refund times")
    assert len(fake_llm.requests) == 2
    retry = fake_llm.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant" and retry[-1]["role"] == "user"
    assert "not valid" in retry[-1]["content"]
    assert answer.prompt_tokens and answer.completion_tokens, "both calls counted"


async def test_json_that_stays_broken_ends_in_the_fallback(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.mode = "bad_json"
    answer = await (await llm_brain()).answer(QUESTION)
    assert answer.responder == "fallback"
    assert answer.reason == EscalationReason.LLM_FAILURE
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_a_failing_llm_gives_a_polite_fallback_within_the_timeout(
    llm_brain: LLMBrain, fake_llm: FakeLLM, mode: str
) -> None:
    fake_llm.mode = mode
    brain = await llm_brain(llm_timeout=1, llm_max_retries=1)
    started = time.monotonic()
    answer = await brain.answer(QUESTION)
    elapsed = time.monotonic() - started
    assert elapsed < 1 + 3, elapsed
    assert answer.responder == "fallback"
    assert answer.needs_human
    assert answer.reason == EscalationReason.LLM_FAILURE
    assert "follow up" in answer.text and "team" in answer.text
    assert REFUND_LINK in answer.text, "points at the confident article meanwhile"
    assert "Reply /human" not in answer.text, "a person is already on the way"
    assert fake_llm.requests, "the server was really called"


async def test_the_model_asking_for_a_human_is_honoured(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.needs_human, fake_llm.reason = True, "customer is upset"
    fake_llm.answer_text = "I'm sorry about this. A colleague will take over."
    answer = await (await llm_brain()).answer("this is the third time I write, I am furious")
    assert answer.needs_human
    assert answer.reason == EscalationReason.LLM_REQUEST
    assert answer.text.startswith("I'm sorry about this.")


async def test_a_low_confidence_llm_answer_goes_to_a_human(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    fake_llm.confidence = 0.2
    answer = await (await llm_brain(answer_threshold=0.5)).answer(QUESTION)
    assert answer.responder == "llm"
    assert answer.needs_human
    assert answer.reason == EscalationReason.LOW_CONFIDENCE
    assert answer.confidence == pytest.approx(0.2)


async def test_off_topic_questions_reach_the_llm_without_articles(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    answer = await (await llm_brain()).answer("what's the weather in Paris")
    assert "none matched" in system_prompt(fake_llm.requests[0])
    assert answer.sources == ()
    assert "Sources:" not in answer.text


async def test_keyword_hits_are_reported_for_llm_answers(
    llm_brain: LLMBrain, fake_llm: FakeLLM
) -> None:
    answer = await (await llm_brain()).answer("Refund NOW or I file a chargeback")
    assert answer.keyword_hits == ("refund now", "chargeback")


async def test_the_fake_answers_like_an_openai_server(fake_llm: FakeLLM) -> None:
    # The SDK-independent shape, for other suites that talk to the fake directly.
    import aiohttp

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{fake_llm.base_url}/chat/completions", json=body) as response,
    ):
        assert response.status == 200
        data = await response.json()
    assert data["object"] == "chat.completion"
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["usage"]["total_tokens"] > 0
    assert json.dumps(data)
