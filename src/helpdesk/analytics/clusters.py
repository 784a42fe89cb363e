"""Common queries: customer questions grouped by meaning, with volume, trend and quality.

The pure part (`group`, `typical_order`, `summarize`) works on unit-length vectors
from the product's own encoder and knows nothing of the database; `load_questions`
and `common_queries` fetch a period's questions and feed them through it.

Clustering is scikit-learn's agglomerative clustering with average linkage over
cosine distances, cut at a distance threshold: the number of topics is not known in
advance, and a threshold in cosine terms is the same scale the escalation policy
already uses for "the same question again" (see `escalation_repeat_similarity`).
Average linkage keeps a chain of loosely related questions from becoming one blob,
which single linkage does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.analytics.metrics import Period
from helpdesk.analytics.outcome import Outcome
from helpdesk.store.models import Conversation, ConversationOutcome, Customer, Message, Rating

log = structlog.get_logger(__name__)

Vectors = npt.NDArray[np.float32]

# Average cosine distance under which two groups of questions are one topic. Chosen
# where the adjusted Rand index against known intents peaks (bench/clustering_threshold.py):
# the sample knowledge base's example questions (21 articles: ARI 0.37 at 0.55-0.60) and
# Bitext's customer-support set (27 intents x 25: ARI 0.59 at 0.60, 0.57 at 0.55).
DISTANCE_THRESHOLD = 0.60
# Questions per period that are clustered; beyond it the latest ones are taken and
# volumes are scaled up. Encoding is the cost (on 2 busy cores: 3,000 texts in 16-19 s,
# then under a second to cluster 2,000), and agglomerative clustering is quadratic
# in memory. The previous period only needs a sample to estimate each topic's trend.
MAX_CLUSTERED = 2000
MAX_PREVIOUS = 1000
# A topic with fewer questions is noise for a "common queries" view.
MIN_CLUSTER_SIZE = 2
EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Question:
    """One customer text message and what became of its conversation."""

    message_id: int
    conversation_id: int
    text: str
    at: datetime
    # The conversation's outcome is "resolved by the bot" (open ones are not, yet).
    resolved_by_bot: bool = False
    # The conversation's 1-5 rating, when the customer gave one.
    rating: int | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    label: str
    volume: int
    previous_volume: int
    examples: tuple[str, ...]
    questions: tuple[Question, ...] = field(repr=False)
    bot_resolution_rate: float | None
    csat: float | None
    ratings: int

    @property
    def trend(self) -> float | None:
        """Relative change in volume against the previous period (None: it is new)."""
        if self.previous_volume == 0:
            return None
        return (self.volume - self.previous_volume) / self.previous_volume


def group(
    vectors: Vectors, *, threshold: float = DISTANCE_THRESHOLD, min_size: int = 1
) -> list[list[int]]:
    """Row indices per topic, biggest topic first; topics under `min_size` are dropped."""
    count = len(vectors)
    if count == 0:
        return []
    if count == 1:
        return [[0]] if min_size <= 1 else []
    # Imported here: scikit-learn costs the service ~90 MB of memory, and only a
    # common-queries report needs it.
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
    )
    labels = model.fit_predict(np.asarray(vectors, dtype=np.float64))
    members: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(int(label), []).append(index)
    groups = [rows for rows in members.values() if len(rows) >= min_size]
    # Ties by first appearance: the same input always gives the same order.
    groups.sort(key=lambda rows: (-len(rows), rows[0]))
    return groups


def centroid(vectors: Vectors) -> Vectors:
    mean: Vectors = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / np.float32(norm) if norm > 0 else mean


def typical_order(vectors: Vectors, rows: Sequence[int]) -> list[int]:
    """`rows` from the most typical (nearest the topic's centroid) to the least."""
    center = centroid(vectors[list(rows)])
    scores = vectors[list(rows)] @ center
    order = sorted(range(len(rows)), key=lambda i: (-float(scores[i]), rows[i]))
    return [rows[i] for i in order]


def assign(
    vectors: Vectors, centroids: Vectors, *, threshold: float = DISTANCE_THRESHOLD
) -> npt.NDArray[np.int64]:
    """The nearest centroid of each vector, or -1 when none is within `threshold`."""
    if len(vectors) == 0 or len(centroids) == 0:
        return np.full(len(vectors), -1, dtype=np.int64)
    similarity = vectors @ centroids.T
    best = similarity.argmax(axis=1)
    near = similarity[np.arange(len(vectors)), best] >= 1.0 - threshold
    return np.where(near, best, -1).astype(np.int64)


def summarize(
    questions: Sequence[Question],
    vectors: Vectors,
    previous: Vectors | None = None,
    *,
    threshold: float = DISTANCE_THRESHOLD,
    min_size: int = MIN_CLUSTER_SIZE,
    scale: float = 1.0,
    previous_scale: float = 1.0,
    examples: int = EXAMPLES,
) -> list[Cluster]:
    """Topics of `questions` (rows of `vectors`), compared with `previous` questions.

    The previous period is not clustered on its own (its topics would not line up):
    each of its questions counts for the current topic whose centroid it is close to.
    `scale`s turn sampled counts back into estimated volumes.
    """
    groups = group(vectors, threshold=threshold, min_size=min_size)
    if not groups:
        return []
    centroids = np.stack([centroid(vectors[rows]) for rows in groups])
    before = np.zeros(len(groups), dtype=np.int64)
    if previous is not None and len(previous):
        hits = assign(previous, centroids, threshold=threshold)
        before = np.bincount(hits[hits >= 0], minlength=len(groups))
    clusters: list[Cluster] = []
    for number, rows in enumerate(groups):
        ordered = typical_order(vectors, rows)
        members = tuple(questions[i] for i in ordered)
        distinct = list(dict.fromkeys(" ".join(q.text.split()) for q in members))
        clusters.append(
            Cluster(
                label=distinct[0],
                volume=round(len(rows) * scale),
                previous_volume=round(int(before[number]) * previous_scale),
                examples=tuple(distinct[:examples]),
                questions=members,
                bot_resolution_rate=_bot_resolution_rate(members),
                csat=_csat(members),
                ratings=len(_ratings(members)),
            )
        )
    return clusters


def _bot_resolution_rate(questions: Sequence[Question]) -> float | None:
    """The automated resolution rate of the topic's conversations (as in the headline:
    resolved by the bot ÷ all), per conversation, not per message."""
    outcomes = {q.conversation_id: q.resolved_by_bot for q in questions}
    return sum(outcomes.values()) / len(outcomes) if outcomes else None


def _ratings(questions: Sequence[Question]) -> list[int]:
    ratings = {q.conversation_id: q.rating for q in questions}
    return [value for value in ratings.values() if value is not None]


def _csat(questions: Sequence[Question]) -> float | None:
    """Industry CSAT: the share of 4 and 5 ratings among the rated conversations."""
    ratings = _ratings(questions)
    return sum(1 for r in ratings if r >= 4) / len(ratings) if ratings else None


class TextEncoder(Protocol):
    """What clustering needs of the brain's `Encoder`: unit vectors for many texts."""

    model_name: str

    async def encode_many(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> Vectors: ...


@dataclass(frozen=True, slots=True)
class CommonQueries:
    period: Period
    clusters: list[Cluster]
    questions: int  # customer text messages in the period
    clustered: int  # the latest ones, when there were more than MAX_CLUSTERED

    @property
    def estimated(self) -> bool:
        return self.clustered < self.questions


def questions_query(period: Period, language: str | None) -> Select[int, int, str | None, datetime]:
    """The period's customer text messages (commands, media and button presses are not)."""
    query = select(Message.id, Message.conversation_id, Message.text, Message.created_at).where(
        Message.author == "customer",
        Message.kind == "text",
        Message.text.is_not(None),
        Message.created_at >= period.start,
        Message.created_at < period.end,
    )
    if language is not None:
        query = (
            query.join(Conversation, Conversation.id == Message.conversation_id)
            .join(Customer, Customer.id == Conversation.customer_id)
            .where(Customer.language_code == language)
        )
    return query


async def load_questions(
    session: AsyncSession,
    period: Period,
    *,
    language: str | None = None,
    limit: int = MAX_CLUSTERED,
) -> tuple[list[Question], int]:
    """The latest `limit` questions of the period with their conversation's outcome and
    rating, and how many questions the period has in all."""
    base = questions_query(period, language)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    latest = base.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit).subquery()
    rows = (
        await session.execute(
            select(
                latest.c.id,
                latest.c.conversation_id,
                latest.c.text,
                latest.c.created_at,
                ConversationOutcome.outcome,
                Rating.score,
            )
            .outerjoin(
                ConversationOutcome,
                ConversationOutcome.conversation_id == latest.c.conversation_id,
            )
            .outerjoin(Rating, Rating.conversation_id == latest.c.conversation_id)
            .order_by(latest.c.id)
        )
    ).all()
    questions = [
        Question(
            message_id=row.id,
            conversation_id=row.conversation_id,
            text=row.text,
            at=row.created_at,
            resolved_by_bot=row.outcome == Outcome.RESOLVED_BOT.value,
            rating=row.score,
        )
        for row in rows
        if row.text and row.text.strip()
    ]
    return questions, total


# Vectors of recently seen question texts, per model: the dashboard reclusters the same
# questions on every visit, and encoding is what costs (clustering 3000 takes ~1 s).
_VECTORS: OrderedDict[tuple[str, str], Vectors] = OrderedDict()
VECTOR_CACHE_SIZE = 20_000
# Texts per call to the encoder. The encoder has one thread, shared with the customers'
# questions: a dashboard's thousands of texts in one call would hold every answer back
# for seconds, while slices let a customer's batch in between (one slice: ~0.1-0.3 s).
ENCODE_SLICE = 32


async def encode_texts(encoder: TextEncoder, texts: Sequence[str]) -> Vectors:
    """Vectors for `texts`, each distinct text encoded once (customers repeat themselves)."""
    keys = [" ".join(text.split()) for text in texts]
    if not keys:
        return np.zeros((0, 0), dtype=np.float32)
    distinct = list(dict.fromkeys(keys))
    model = encoder.model_name
    found: dict[str, Vectors] = {}
    for key in distinct:
        cached = _VECTORS.get((model, key))
        if cached is not None:
            _VECTORS.move_to_end((model, key))
            found[key] = cached
    missing = [key for key in distinct if key not in found]
    for begin in range(0, len(missing), ENCODE_SLICE):
        part = missing[begin : begin + ENCODE_SLICE]
        for key, vector in zip(part, await encoder.encode_many(part), strict=True):
            found[key] = vector
            _VECTORS[(model, key)] = vector
            if len(_VECTORS) > VECTOR_CACHE_SIZE:
                _VECTORS.popitem(last=False)
    rows = [found[key] for key in keys]
    return np.asarray(rows, dtype=np.float32)


async def common_queries(
    session: AsyncSession,
    encoder: TextEncoder,
    period: Period,
    *,
    language: str | None = None,
    limit: int = MAX_CLUSTERED,
    threshold: float = DISTANCE_THRESHOLD,
    min_size: int = MIN_CLUSTER_SIZE,
) -> CommonQueries:
    """The period's topics, biggest first, with the previous period's volumes beside them."""
    questions, total = await load_questions(session, period, language=language, limit=limit)
    before, before_total = await load_questions(
        session, period.previous(), language=language, limit=min(limit, MAX_PREVIOUS)
    )
    vectors = await encode_texts(encoder, [q.text for q in questions])
    previous = await encode_texts(encoder, [q.text for q in before])
    clusters = summarize(
        questions,
        vectors,
        previous,
        threshold=threshold,
        min_size=min_size,
        scale=total / len(questions) if questions else 1.0,
        previous_scale=before_total / len(before) if before else 1.0,
    )
    log.info(
        "analytics.clusters",
        questions=total,
        clustered=len(questions),
        clusters=len(clusters),
        language=language,
    )
    return CommonQueries(period, clusters, total, len(questions))
