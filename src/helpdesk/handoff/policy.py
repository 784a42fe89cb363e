"""The escalation policy: should a person take over this conversation, and why?

`EscalationPolicy.evaluate` looks at one customer message, the brain's answer to it
(or None, to decide before paying for an answer) and the recent history, and returns
the one `Escalation` that wins by this precedence, or None:

1. explicit request  (`is_human_request`, the /human command)  EXPLICIT_REQUEST
2. keyword           (escalation_keywords + ..._by_language)    KEYWORD
3. LLM failure       (the fallback reply, reason llm_failure)    LLM_FAILURE
4. sentiment/abuse   (the model reports anger, abuse, threats)   SENTIMENT
5. LLM request       (the model set needs_human, other reason)   LLM_REQUEST
6. repetition        (same question again, low-confidence run)   REPETITION
7. low confidence    (confidence < answer_threshold)             LOW_CONFIDENCE

The customer's own words come first because they are the surest signal; the model's
judgements follow; the statistical triggers come last. Each trigger has an
`escalation_*_enabled` switch in Settings.

Repetition compares the message with the customer's earlier messages in
`escalation_repeat_window_seconds` (default 600) by cosine similarity of sentence
embeddings, and escalates once `escalation_repeat_count` (default 2) of them reach
`escalation_repeat_similarity`. With all-MiniLM-L6-v2 paraphrases measured 0.60-0.97
("where is my parcel" / "where's my package??" 0.60, "when will I get my refund" /
"where is my refund" 0.77) while 322 of 325 pairs of different support questions
stayed below 0.58 (the highest: "do you ship internationally" / "do you ship to
germany" 0.73): hence 0.58, not the 0.85 that would miss most paraphrases. Texts go
to the embedder as the customer wrote them, so the brain's encoder cache already
holds them. Without an embedder, only identical messages (ignoring case, spaces,
punctuation and numbers) count as repeats.

What a customer puts in every message pulls the vectors together: an opening ("Hi,
order 100234 here."), a signature, a ticket number that changes each time (MiniLM
reads 100234 and 100238 as near twins). A pair that reads as a repeat is therefore
looked at again (`matching.differing_parts`): numbers are left out, and so are whole
clauses both messages open or close with alike; what remains is embedded and must
still reach the threshold. Only in this rare case does the encoder run twice. Kept as
repeats: a side with nothing left (the other only adds to it), and a shared clause
that asks a question ("Where is my parcel? It's been a week." / "Where is my parcel?
I paid."), since both ask it. Numbers never make a question new: "where is order
1234?" and "where is order 5678?" are repeats (a mistyped id corrected, or a bot
that cannot help with either). Limits: a shared part only counts as a clause at
punctuation, so "hi order 100234 here how long..." compares whole; and paraphrases
that cleared the threshold only thanks to their shared opening no longer do, since
their remainders compare as if sent alone (the webhook benchmark's 200 customers x 8
different questions: 9 false hand-overs before, 0 after).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog

from helpdesk.config import Settings
from helpdesk.domain import Answer, Author, EscalationReason, Turn
from helpdesk.handoff.matching import (
    Wording,
    differing_parts,
    is_human_request,
    keyword_hits,
    normalize,
)

log = structlog.get_logger(__name__)

Vectors = npt.NDArray[np.floating[Any]]


@dataclass(frozen=True, slots=True)
class Escalation:
    reason: EscalationReason
    detail: str


@dataclass(frozen=True, slots=True)
class PastTurn:
    """One earlier line of the conversation; `confidence` only on the bot's answers."""

    at: datetime
    turn: Turn
    confidence: float | None = None

    @classmethod
    def customer(cls, at: datetime, text: str) -> PastTurn:
        return cls(at, Turn(Author.CUSTOMER, text))

    @classmethod
    def bot(cls, at: datetime, text: str, confidence: float | None) -> PastTurn:
        return cls(at, Turn(Author.BOT, text), confidence)


class Embedder(Protocol):
    async def embed(self, texts: list[str]) -> Vectors:
        """One vector per text, shape (len(texts), dim); need not be unit length."""
        ...


class _EncodesOne(Protocol):
    async def encode(self, text: str) -> npt.NDArray[np.float32]: ...


class EncoderEmbedder:
    """`Embedder` over helpdesk.brain.embeddings.Encoder (cached, micro-batched)."""

    def __init__(self, encoder: _EncodesOne) -> None:
        self._encoder = encoder

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # One encode() per text, concurrently: they share a batch and the query cache.
        vectors = await asyncio.gather(*(self._encoder.encode(t) for t in texts))
        return np.stack(vectors)


# Acknowledgements and greetings repeat without being a question asked again.
_TRIVIAL = frozenset(
    {
        "okay",
        "thanks",
        "thank you",
        "thanks a lot",
        "ok thanks",
        "hello",
        "good morning",
        "good evening",
        "great",
        "cool",
        "fine",
        "sure",
        "yeah",
        "nope",
    }
)
_SENTIMENT = re.compile(
    r"(?<!\w)(?:sentiment|angry|anger|upset|frustrat\w*|furious|annoyed|irritat\w*|abus\w*"
    r"|insult\w*|rude|hostil\w*|threat\w*|toxic|profan\w*|offensive|harass\w*|swear\w*)(?!\w)"
)
_KNOWN_REASONS = frozenset(r.value for r in EscalationReason)


def _comparable(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", normalize(text)).split())


def _same_words(a: Wording, a_text: str, b: Wording, b_text: str) -> bool:
    """Identical but for case, spacing, punctuation and numbers (all numbers: kept)."""
    if a.words or b.words:
        return a.words == b.words
    return _comparable(a_text) == _comparable(b_text)


def _is_question_like(text: str) -> bool:
    plain = _comparable(text)
    return not text.lstrip().startswith("/") and len(plain) >= 4 and plain not in _TRIVIAL


def _minutes(seconds: float) -> str:
    return f"{round(seconds / 60)} min" if seconds >= 60 else f"{round(seconds)} s"


class EscalationPolicy:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every keyword list as one, read on each message: admins change them live."""
        s = self.settings
        by_language = (k for ks in s.escalation_keywords_by_language.values() for k in ks)
        return tuple(dict.fromkeys([*s.escalation_keywords, *by_language]))

    async def evaluate(
        self,
        text: str,
        answer: Answer | None,
        history: Sequence[PastTurn] = (),
        *,
        now: datetime | None = None,
    ) -> Escalation | None:
        """The escalation this message calls for, or None to let the bot carry on.

        `history` holds the earlier turns, oldest first, without the current message;
        `now` (timezone-aware, default: the current time) is when the message was sent.
        """
        s = self.settings
        now = now or datetime.now(UTC)
        code = (answer.reason or "").strip().lower() if answer else ""
        if s.escalation_explicit_request_enabled and (
            code == EscalationReason.EXPLICIT_REQUEST
            or is_human_request(text, s.escalation_human_phrases)
        ):
            detail = "/human command" if text.lstrip().startswith("/") else "asked for a person"
            return Escalation(EscalationReason.EXPLICIT_REQUEST, detail)
        if s.escalation_keywords_enabled:
            hits = keyword_hits(text, self.keywords)
            hits = tuple(dict.fromkeys([*hits, *(answer.keyword_hits if answer else ())]))
            if hits or code == EscalationReason.KEYWORD:
                label = ", ".join(f'"{h}"' for h in hits) or "reported by the brain"
                return Escalation(EscalationReason.KEYWORD, f"keyword {label}")
        if answer is not None:
            found = self._from_answer(answer, code)
            if found is not None:
                return found
        repeated = await self._repetition(text, answer, history, now)
        if repeated is not None:
            return repeated
        if answer is not None and s.escalation_low_confidence_enabled and _low(answer, s):
            return Escalation(
                EscalationReason.LOW_CONFIDENCE,
                f"answer confidence {answer.confidence:.2f} < {s.answer_threshold:.2f}",
            )
        return None

    def _from_answer(self, answer: Answer, code: str) -> Escalation | None:
        """The model's own verdicts: failure, sentiment, or a plain "needs a person"."""
        s = self.settings
        if code == EscalationReason.LLM_FAILURE:
            if s.escalation_llm_failure_enabled:
                return Escalation(
                    EscalationReason.LLM_FAILURE,
                    "the language model failed; the customer got the fallback reply",
                )
            return None
        if s.escalation_sentiment_enabled and _SENTIMENT.search(re.sub(r"[_\-]", " ", code)):
            return Escalation(EscalationReason.SENTIMENT, f"the model reported: {answer.reason}")
        if (
            s.escalation_llm_request_enabled
            and answer.needs_human
            and code not in (_KNOWN_REASONS - {EscalationReason.LLM_REQUEST.value})
        ):
            said = "" if code in ("", EscalationReason.LLM_REQUEST) else f": {answer.reason}"
            return Escalation(EscalationReason.LLM_REQUEST, f"the model asked for a person{said}")
        return None

    async def _repetition(
        self, text: str, answer: Answer | None, history: Sequence[PastTurn], now: datetime
    ) -> Escalation | None:
        s = self.settings
        if not s.escalation_repetition_enabled:
            return None
        window = timedelta(seconds=s.escalation_repeat_window_seconds)
        recent = [p for p in history if now - window <= p.at <= now]
        repeats = await self.count_repeats(text, recent)
        if repeats >= s.escalation_repeat_count:
            return Escalation(
                EscalationReason.REPETITION,
                f"asked the same question {repeats + 1} times in "
                f"{_minutes(s.escalation_repeat_window_seconds)}",
            )
        streak = _low_confidence_streak(answer, recent, s)
        if s.escalation_low_confidence_streak and streak >= s.escalation_low_confidence_streak:
            return Escalation(
                EscalationReason.REPETITION, f"{streak} low-confidence answers in a row"
            )
        return None

    async def count_repeats(self, text: str, history: Sequence[PastTurn]) -> int:
        """How many of the customer's messages in `history` ask what `text` asks."""
        if not _is_question_like(text):
            return 0
        earlier = [
            p.turn.text.strip()
            for p in history
            if p.turn.author is Author.CUSTOMER and _is_question_like(p.turn.text)
        ]
        if not earlier:
            return 0
        current = Wording.of(text)
        wordings = [Wording.of(e) for e in earlier]
        same = [_same_words(current, text, w, e) for w, e in zip(wordings, earlier, strict=True)]
        if self.embedder is None or all(same):
            return sum(same)
        threshold = self.settings.escalation_repeat_similarity
        try:
            vectors = await self.embedder.embed([text.strip(), *earlier])
            repeats = [
                exact or score >= threshold
                for exact, score in zip(same, cosine_to_first(vectors), strict=True)
            ]
            # Only pairs that already read as repeats are looked at again: rare enough
            # for the extra encoder call this takes.
            suspects = {i: wordings[i] for i, r in enumerate(repeats) if r and not same[i]}
            for i in await _differ_beyond_shared_parts(current, suspects, self.embedder, threshold):
                repeats[i] = False
        except Exception:
            # A broken encoder must not stop the customer's answer: exact repeats still count.
            log.warning("handoff.embedder_failed", exc_info=True)
            return sum(same)
        return sum(repeats)


async def _differ_beyond_shared_parts(
    current: Wording, suspects: dict[int, Wording], embedder: Embedder, threshold: float
) -> list[int]:
    """The suspects that ask something else once shared clauses and numbers are set aside."""
    to_compare: dict[int, tuple[str, str]] = {}
    for i, wording in suspects.items():
        parts = differing_parts(current, wording)
        # An empty side adds nothing to the other: the same question, told at more length.
        if parts is None or not all(parts) or _comparable(parts[0]) == _comparable(parts[1]):
            continue
        to_compare[i] = parts
    if not to_compare:
        return []
    texts = list(dict.fromkeys(t for pair in to_compare.values() for t in pair))
    vectors = dict(zip(texts, await embedder.embed(texts), strict=True))
    return [
        i
        for i, (mine, theirs) in to_compare.items()
        if cosine_to_first(np.stack([vectors[mine], vectors[theirs]]))[0] < threshold
    ]


def cosine_to_first(vectors: Vectors) -> npt.NDArray[np.float64]:
    """Cosine similarity of vectors[1:] to vectors[0]."""
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    unit = matrix / norms[:, None]
    result: npt.NDArray[np.float64] = unit[1:] @ unit[0]
    return result


def _low(answer: Answer, settings: Settings) -> bool:
    # A fallback's confidence of 0 judges nothing: only the LLM-failure trigger reads it.
    if answer.reason == EscalationReason.LLM_FAILURE:
        return False
    return answer.confidence < settings.answer_threshold or (
        answer.needs_human and answer.reason == EscalationReason.LOW_CONFIDENCE
    )


def _low_confidence_streak(
    answer: Answer | None, recent: Sequence[PastTurn], settings: Settings
) -> int:
    """Low-confidence answers in a row, ending with this one; a person's reply resets it."""
    if answer is None or not _low(answer, settings):
        return 0
    streak = 1
    for past in reversed(recent):
        if past.turn.author is Author.AGENT:
            break
        if past.turn.author is not Author.BOT or past.confidence is None:
            continue
        if past.confidence >= settings.answer_threshold:
            break
        streak += 1
    return streak


async def evaluate(
    text: str,
    answer: Answer | None,
    history: Sequence[PastTurn],
    settings: Settings,
    *,
    now: datetime | None = None,
    embedder: Embedder | None = None,
) -> Escalation | None:
    """One-shot `EscalationPolicy(settings, embedder).evaluate(...)`."""
    return await EscalationPolicy(settings, embedder).evaluate(text, answer, history, now=now)
