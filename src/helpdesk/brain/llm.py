"""LLM responder: any OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp).

Structured output is not portable, so the requested mode is downgraded for the rest
of the process (json_schema -> json_object -> text) when a server rejects it, and
every reply is parsed defensively. Whatever happens, one answer is bounded by
`llm_timeout` plus a small grace and ends in either an answer or a polite fallback.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from typing import Any

import openai
import structlog
from openai import AsyncOpenAI, DefaultAioHttpClient
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from pydantic import BaseModel, ValidationError, field_validator

from helpdesk.brain.index import Hit
from helpdesk.brain.postprocess import Draft, cited, markdown_link
from helpdesk.brain.prompt import REPLY_SCHEMA, build_messages
from helpdesk.config import Settings
from helpdesk.domain import EscalationReason, Turn

log = structlog.get_logger(__name__)

# Beyond the SDK's own timeout: time for a retry's backoff and our parsing.
GRACE_SECONDS = 2.0
MAX_TOKENS = 600
# Articles below this calibrated probability are noise: the model would only be tempted
# to stretch them into an answer (off-topic questions score ~0.003-0.06 on the sample
# articles; a plausible second-best article for an ambiguous question, 0.1-0.4).
CONTEXT_MIN_CONFIDENCE = 0.08
# Uncited articles are listed as sources only if about as close as the best one.
SOURCE_DENSE_GAP = 0.05
MAX_SOURCES = 3
_MODES = ("json_schema", "json_object", "text")
# (base_url, model) -> the mode that server accepted after a rejection.
_downgraded: dict[tuple[str, str], str] = {}
_FORMAT_WORDS = ("response_format", "json_schema", "json schema", "grammar", "structured")


class LLMReply(BaseModel):
    answer: str
    confidence: float = 0.5
    needs_human: bool = False
    reason: str | None = ""

    @field_validator("answer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("answer is empty")
        return value

    @field_validator("confidence", mode="before")
    @classmethod
    def _percent(cls, value: Any) -> Any:
        # Small models sometimes say 85 meaning 85 %.
        if isinstance(value, int | float) and 1 < value <= 100:
            return value / 100
        return value

    @field_validator("confidence")
    @classmethod
    def _clamp(cls, value: float) -> float:
        return min(1.0, max(0.0, value))


class MalformedReply(ValueError):
    """The server meant to send JSON but what came back does not validate."""


def parse_reply(content: str) -> LLMReply | None:
    """The structured reply, or None when the server answered in plain prose."""
    text = content.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL | re.IGNORECASE)
    if fence:
        text = fence.group(1)
    if not text.startswith("{"):
        if '"answer"' in text:
            text = text[text.find("{") : text.rfind("}") + 1]
        else:
            return None
    try:
        return LLMReply.model_validate_json(text)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MalformedReply(errors or str(exc)) from exc


def rejects_format(exc: openai.APIStatusError) -> bool:
    if exc.status_code not in (400, 415, 422, 500, 501):
        return False
    detail = f"{exc.message} {json.dumps(exc.body, default=str) if exc.body else ''}".lower()
    return any(word in detail for word in _FORMAT_WORDS)


def response_format(mode: str) -> dict[str, Any] | None:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "support_answer", "strict": True, "schema": REPLY_SCHEMA},
        }
    if mode == "json_object":
        return {"type": "json_object"}
    return None


class LLMResponder:
    def __init__(self, settings: Settings) -> None:
        if not settings.llm_base_url:
            raise ValueError("LLMResponder needs settings.llm_base_url")
        self.settings = settings
        self.base_url = settings.llm_base_url
        self.client = AsyncOpenAI(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
            # The SDK's aiohttp transport: less than half the CPU per request of its default
            # httpx2 one, which also keeps only 100 idle connections (a new TCP connection
            # per question beyond 100 at once).
            http_client=DefaultAioHttpClient(),
        )

    @property
    def mode(self) -> str:
        key = (self.base_url, self.settings.llm_model)
        return _downgraded.get(key, self.settings.llm_structured_output)

    def _downgrade(self, mode: str, exc: openai.APIStatusError) -> str:
        following = _MODES[min(_MODES.index(mode) + 1, len(_MODES) - 1)]
        _downgraded[(self.base_url, self.settings.llm_model)] = following
        log.warning(
            "llm.response_format_rejected",
            mode=mode,
            now=following,
            status=exc.status_code,
            error=exc.message[:200],
        )
        return following

    async def aclose(self) -> None:
        await self.client.close()

    async def respond(self, question: str, history: Sequence[Turn], hits: Sequence[Hit]) -> Draft:
        started = time.perf_counter()
        usage = [0, 0]
        hits = [h for h in hits if h.confidence >= CONTEXT_MIN_CONFIDENCE]
        try:
            async with asyncio.timeout(self.settings.llm_timeout + GRACE_SECONDS):
                draft = await self._respond(question, history, hits, usage)
        except (TimeoutError, openai.APIError, MalformedReply) as exc:
            return self._fallback(hits, exc, started, usage)
        except Exception as exc:  # a bug or an unexpected reply must still answer the customer
            log.exception("llm.unexpected_error")
            return self._fallback(hits, exc, started, usage)
        draft.latency_ms = int((time.perf_counter() - started) * 1000)
        draft.prompt_tokens, draft.completion_tokens = usage
        return draft

    async def _respond(
        self, question: str, history: Sequence[Turn], hits: Sequence[Hit], usage: list[int]
    ) -> Draft:
        mode = self.mode

        def prompt(structured: bool) -> list[dict[str, str]]:
            return build_messages(
                company=self.settings.company_name,
                question=question,
                hits=hits,
                history=history,
                history_turns=self.settings.llm_history_turns,
                structured=structured,
            )

        messages = prompt(mode != "text")
        while True:
            try:
                content, model = await self._complete(messages, mode, usage)
                break
            except openai.APIStatusError as exc:
                if mode == "text" or not rejects_format(exc):
                    raise
                mode = self._downgrade(mode, exc)
                messages = prompt(mode != "text")
        reply: LLMReply | None = None
        if mode != "text":
            try:
                reply = parse_reply(content)
            except MalformedReply as exc:
                log.warning("llm.malformed_reply", error=str(exc), content=content[:200])
                retry = [
                    *messages,
                    {"role": "assistant", "content": content},
                    {
                        "role": "user",
                        "content": f"Your reply was not valid: {exc}. Reply again with only "
                        "the JSON object described in the instructions.",
                    },
                ]
                content, model = await self._complete(retry, mode, usage)
                reply = parse_reply(content)
        return self._draft(content, reply, model, hits)

    async def _complete(
        self, messages: list[dict[str, str]], mode: str, usage: list[int]
    ) -> tuple[str, str]:
        body: CompletionCreateParamsNonStreaming = {
            "model": self.settings.llm_model,
            "messages": messages,  # type: ignore[typeddict-item]
            "temperature": 0.2,
            "max_tokens": MAX_TOKENS,
        }
        fmt = response_format(mode)
        if fmt is not None:
            body["response_format"] = fmt  # type: ignore[typeddict-item]
        # The SDK's generic POST rather than `chat.completions.create`: the same request,
        # client, retries and errors, without `create` walking every message through its
        # parameter transform (plain strings need none; it was a third of the SDK's CPU).
        completion = await self.client.post(
            "/chat/completions", cast_to=ChatCompletion, body=dict(body)
        )
        if completion.usage is not None:
            usage[0] += completion.usage.prompt_tokens or 0
            usage[1] += completion.usage.completion_tokens or 0
        if not completion.choices or not completion.choices[0].message.content:
            raise MalformedReply("the reply has no message content")
        return completion.choices[0].message.content, completion.model or self.settings.llm_model

    def _draft(
        self, content: str, reply: LLMReply | None, model: str, hits: Sequence[Hit]
    ) -> Draft:
        best = hits[0].confidence if hits else 0.0
        if reply is None:
            # Plain prose: the retrieval confidence is all we have to go on.
            body, confidence, needs_human, reason = content, best, False, None
        else:
            body, confidence = reply.answer, reply.confidence
            needs_human = reply.needs_human
            reason = EscalationReason.LLM_REQUEST.value if needs_human else None
            if needs_human:
                log.info("llm.requests_human", reason=(reply.reason or "")[:200])
        threshold = self.settings.answer_threshold
        close = [
            h
            for h in hits
            if h.confidence >= threshold and h.dense >= hits[0].dense - SOURCE_DENSE_GAP
        ]
        by_id = {h.article.id: h for h in [*cited(hits, body), *close]}
        sources = list(by_id.values())[:MAX_SOURCES]
        return Draft(
            body=body,
            confidence=confidence,
            sources=sources,
            needs_human=needs_human,
            reason=reason,
            responder="llm",
            model=model,
        )

    def _fallback(
        self, hits: Sequence[Hit], exc: BaseException, started: float, usage: list[int]
    ) -> Draft:
        elapsed = int((time.perf_counter() - started) * 1000)
        log.warning(
            "llm.failed",
            error_type=type(exc).__name__,
            error=str(exc)[:300],
            elapsed_ms=elapsed,
            base_url=self.base_url,
        )
        body = (
            "Sorry, I can't answer that right now. A person from our team will follow up "
            "here as soon as possible."
        )
        best = hits[0] if hits and hits[0].confidence >= self.settings.answer_threshold else None
        if best is not None:
            link = markdown_link(best.article.title, best.article.url)
            body += f"\n\nIn the meantime, this article may help: {link}"
        return Draft(
            body=body,
            confidence=0.0,
            sources=[best] if best else [],
            needs_human=True,
            reason=EscalationReason.LLM_FAILURE.value,
            responder="fallback",
            model=self.settings.llm_model,
            latency_ms=elapsed,
            prompt_tokens=usage[0] or None,
            completion_tokens=usage[1] or None,
        )
