"""The Brain: retrieve, answer (LLM or offline), post-process. The app's only entry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import structlog

from helpdesk.brain.build_process import load_or_build
from helpdesk.brain.embeddings import Encoder
from helpdesk.brain.index import Hit, HybridIndex
from helpdesk.brain.llm import LLMResponder
from helpdesk.brain.offline import OfflineResponder
from helpdesk.brain.postprocess import Draft, Responder, finalize
from helpdesk.config import Settings
from helpdesk.domain import Answer, Turn

log = structlog.get_logger(__name__)

# Customers paste whole emails; MiniLM reads 256 tokens anyway and the LLM needs no more.
MAX_QUESTION_CHARS = 4000


class Brain:
    def __init__(
        self,
        settings: Settings,
        encoder: Encoder,
        index: HybridIndex,
        llm: LLMResponder | None = None,
    ) -> None:
        self.settings = settings
        self.encoder = encoder
        self.index = index
        self.llm = llm
        self._offline = OfflineResponder(settings.answer_threshold)
        self._reindex_lock = asyncio.Lock()

    @property
    def offline(self) -> OfflineResponder:
        # Follows the settings: an admin may change answer_threshold while we run.
        if self._offline.threshold != self.settings.answer_threshold:
            self._offline = OfflineResponder(self.settings.answer_threshold)
        return self._offline

    @property
    def article_count(self) -> int:
        return len(self.index)

    @property
    def responder(self) -> Responder:
        return "llm" if self.llm is not None else "offline"

    async def retrieve(self, question: str) -> list[Hit]:
        """Ranked articles for `question`; empty (not an error) if retrieval breaks."""
        index = self.index  # a concurrent reindex swaps the attribute, not this object
        try:
            vector = await self.encoder.encode(question)
            return index.search(question, vector, top_k=self.settings.retrieval_top_k)
        except Exception:
            log.exception("brain.retrieval_failed")
            return []

    async def answer(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        started = time.perf_counter()
        question = question.strip()[:MAX_QUESTION_CHARS]
        if not question:
            draft = Draft(
                body="Could you type your question? I'll do my best to help.",
                confidence=0.0,
                responder=self.responder,
            )
            return finalize(draft, question, self.settings)
        hits = await self.retrieve(question)
        if self.llm is not None:
            draft = await self.llm.respond(question, history, hits)
        else:
            draft = self.offline.respond(hits)
        answer = finalize(draft, question, self.settings)
        log.info(
            "brain.answer",
            responder=answer.responder,
            confidence=answer.confidence,
            needs_human=answer.needs_human,
            reason=answer.reason,
            top_article=hits[0].article.id if hits else None,
            retrieval_confidence=round(hits[0].confidence, 3) if hits else None,
            keyword_hits=answer.keyword_hits or None,
            llm_ms=answer.latency_ms,
            total_ms=int((time.perf_counter() - started) * 1000),
        )
        return answer

    async def reindex(self, path: Path) -> int:
        """Reload articles from `path`; re-embeds only if their contents changed."""
        async with self._reindex_lock:
            index = await load_or_build(path, self.settings.index_dir, self.encoder)
            self.index = index
            return len(index)

    async def aclose(self) -> None:
        if self.llm is not None:
            await self.llm.aclose()


async def load_brain(settings: Settings) -> Brain:
    encoder = Encoder(settings.embedding_model)
    index = await load_or_build(settings.knowledge_path, settings.index_dir, encoder)
    # Load the model now (if the index came from disk): the first customer should not wait.
    await encoder.load()
    llm = LLMResponder(settings) if settings.llm_base_url else None
    log.info(
        "brain.ready",
        articles=len(index),
        responder="llm" if llm else "offline",
        model=settings.llm_model if llm else None,
        structured_output=settings.llm_structured_output if llm else None,
    )
    return Brain(settings, encoder, index, llm)


__all__ = ["Brain", "load_brain"]
