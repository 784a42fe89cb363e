"""The lexical head scores exactly as scikit-learn would, without scikit-learn at serve time."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from helpdesk.brain.heads import (
    FAST_BATCH,
    PARTS,
    DenseHead,
    Heads,
    LexicalHead,
    char_wb_ngrams,
    word_ngrams,
)

EXAMPLES = {
    0: ["where is my parcel", "track my order", "has my package shipped", "parcel not here"],
    1: ["how do I return an item", "return policy", "send something back", "refund a return"],
    2: ["reset my password", "forgot password", "can't log in", "locked out of my account"],
}

WORDS = [
    "parcel", "order", "Return", "REFUND", "password", "café", "naïve", "Straße", "ẞig",
    "İstanbul", "ǅemal", "ﬁle", "日本語", "доставка", "ΣΟΦΟΣ", "x", "I", "a", "99", "3.5",
    "€24.95", "e-mail", "can't", "it's", "A/B", "foo_bar", "_", "😀", "👍🏽", "🇩🇪",
    "‍", "e\u0301", "\x00x", "x\x00", "ok!!", "?!", "(note)", "#tag", "@user", "--",
]  # fmt: skip
SPACES = [" ", " ", " ", "  ", "\t", "\n", " \n ", "\u00a0", "\u2003", "\x1c", "\r\n", "\u3000"]


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = ["", " ", "\t\n", "a", "I", "x\x00", "😀", "ok"]
    while len(texts) < count:
        words = rng.choices(WORDS, k=rng.randint(1, 9))
        text = words[0]
        for word in words[1:]:
            text += rng.choice(SPACES) + word
        if rng.random() < 0.3:
            text = rng.choice(SPACES) + text + rng.choice(SPACES)
        texts.append(text)
    return texts


def _sklearn_vectorizers(texts: list[str]) -> list[TfidfVectorizer]:
    vectorizers = []
    for _, analyzer, ngram_range, min_df in PARTS:
        vectorizer = TfidfVectorizer(
            analyzer=analyzer, ngram_range=ngram_range, min_df=min_df, sublinear_tf=True
        )
        vectorizers.append(vectorizer.fit(texts))
    return vectorizers


@pytest.fixture(scope="module")
def varied_head() -> tuple[LexicalHead, list[str]]:
    train = _texts(400, seed=1)
    labels = np.array([i % 7 for i in range(len(train))], dtype=np.int64)
    return LexicalHead.fit(train, labels), train


def test_our_analyzers_give_scikit_learns_n_grams() -> None:
    for ngram_range in [(1, 1), (1, 2), (1, 3), (2, 3)]:
        words = TfidfVectorizer(ngram_range=ngram_range).build_analyzer()
        for text in _texts(300, seed=2):
            assert word_ngrams(text, ngram_range) == words(text), (ngram_range, text)
    for ngram_range in [(2, 5), (1, 3), (3, 3)]:
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
        for text in _texts(300, seed=3):
            assert char_wb_ngrams(text, ngram_range) == chars(text), (ngram_range, text)


def test_fitted_parts_are_scikit_learns_vocabulary_and_idf(
    varied_head: tuple[LexicalHead, list[str]],
) -> None:
    head, train = varied_head
    offset = 0
    for part, vectorizer in zip(head.parts, _sklearn_vectorizers(train), strict=True):
        assert part.vocabulary == vectorizer.vocabulary_
        np.testing.assert_array_equal(part.idf, vectorizer.idf_)
        assert part.offset == offset
        offset += len(part.vocabulary)
    assert head.n_features == offset
    assert any("\x00" in term for term in head.parts[1].vocabulary)  # survives saving below


def test_margins_match_scikit_learns_transform_times_coef(
    varied_head: tuple[LexicalHead, list[str]],
) -> None:
    head, train = varied_head
    texts = _texts(300, seed=4) + train[:50]
    reference = sparse.hstack([v.transform(texts) for v in _sklearn_vectorizers(train)]).tocsr()
    np.testing.assert_allclose(head.features(texts).toarray(), reference.toarray(), atol=1e-12)
    expected = np.asarray((reference @ head.coef).todense()) + head.bias
    batch = head.margins(texts)  # > FAST_BATCH: the sparse path
    one_by_one = np.vstack([head.margins([text]) for text in texts])
    np.testing.assert_allclose(batch, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one_by_one, expected, rtol=1e-5, atol=1e-5)
    n = len(head.classes)
    np.testing.assert_allclose(
        head.log_proba(texts, n), np.vstack([head.log_proba([t], n) for t in texts]), atol=1e-5
    )


def test_saved_arrays_give_the_same_heads(varied_head: tuple[LexicalHead, list[str]]) -> None:
    head, train = varied_head
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(train), 8)).astype(np.float32)
    labels = np.array([i % 7 for i in range(len(train))], dtype=np.int64)
    heads = Heads(DenseHead.fit(vectors, labels), head)
    arrays = heads.arrays()
    assert all(a.dtype != object for a in arrays.values())
    loaded = Heads.from_arrays(arrays)
    assert loaded.lexical is not None and loaded.dense is not None
    for part, original in zip(loaded.lexical.parts, head.parts, strict=True):
        assert part.vocabulary == original.vocabulary
    texts = _texts(60, seed=5)
    queries = rng.standard_normal((len(texts), 8)).astype(np.float32)
    for got, want in zip(
        loaded.log_proba(queries, texts, 7), heads.log_proba(queries, texts, 7), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    assert Heads.from_arrays({}) == Heads(None, None)


def test_one_question_gets_the_same_log_probabilities_as_a_batch() -> None:
    texts = [text for examples in EXAMPLES.values() for text in examples]
    labels = np.array([label for label, examples in EXAMPLES.items() for _ in examples])
    head = LexicalHead.fit(texts, labels)
    questions = ["Where's my PARCEL??", "I forgot my password", "", "zzzz qqq", "return it"]
    assert len(questions) > FAST_BATCH  # the batch below takes the sparse-matrix path
    batch = head.log_proba(questions, n_articles=3)
    one_by_one = np.vstack([head.log_proba([question], n_articles=3) for question in questions])
    np.testing.assert_allclose(one_by_one, batch, rtol=1e-5, atol=1e-6)
    assert one_by_one[0].argmax() == 0 and one_by_one[1].argmax() == 2


def test_two_articles_get_softmax_shaped_heads() -> None:
    texts = EXAMPLES[0] + EXAMPLES[2]
    labels = np.array([5] * 4 + [9] * 4, dtype=np.int64)
    head = LexicalHead.fit(texts, labels)
    assert head.coef.shape[1] == 2 and list(head.classes) == [5, 9]
    logp = head.log_proba(["forgot my password", "track my parcel"], n_articles=10)
    assert logp[0].argmax() == 9 and logp[1].argmax() == 5
