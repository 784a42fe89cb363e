"""The lexical head scores a live question exactly as scikit-learn would, only faster."""

from __future__ import annotations

import numpy as np

from helpdesk.brain.heads import FAST_BATCH, LexicalHead

EXAMPLES = {
    0: ["where is my parcel", "track my order", "has my package shipped", "parcel not here"],
    1: ["how do I return an item", "return policy", "send something back", "refund a return"],
    2: ["reset my password", "forgot password", "can't log in", "locked out of my account"],
}


def test_one_question_gets_the_same_log_probabilities_as_a_batch() -> None:
    texts = [text for examples in EXAMPLES.values() for text in examples]
    labels = np.array([label for label, examples in EXAMPLES.items() for _ in examples])
    head = LexicalHead(texts, labels)
    questions = ["Where's my PARCEL??", "I forgot my password", "", "zzzz qqq", "return it"]
    assert len(questions) > FAST_BATCH  # the batch below takes scikit-learn's path
    batch = head.log_proba(questions, n_articles=3)
    one_by_one = np.vstack([head.log_proba([question], n_articles=3) for question in questions])
    np.testing.assert_allclose(one_by_one, batch, rtol=1e-5, atol=1e-6)
    assert one_by_one[0].argmax() == 0 and one_by_one[1].argmax() == 2
