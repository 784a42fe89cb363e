"""The calibrated confidence: a logistic function of a few retrieval features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpdesk.brain.confidence import (
    WITH_NEGATIVES,
    WITHOUT_NEGATIVES,
    Calibrator,
    calibrator_for,
)


def test_calibrator_is_a_logistic_function_of_its_features() -> None:
    calibrator = Calibrator({"a": 2.0, "b": -1.0}, 0.5, "test")
    features = {"a": np.array([0.0, 1.0], np.float32), "b": np.array([0.5, 3.0], np.float32)}
    expected = [1 / (1 + math.exp(-z)) for z in (0.5 - 0.5, 0.5 + 2 - 3)]
    assert calibrator(features) == pytest.approx(expected, abs=1e-6)
    assert calibrator.one({"a": 1.0, "b": 3.0}) == pytest.approx(expected[1])


def test_knowledge_bases_with_out_of_scope_examples_use_their_probability() -> None:
    assert calibrator_for(True) is WITH_NEGATIVES and "oos_logp" in WITH_NEGATIVES.weights
    assert calibrator_for(False) is WITHOUT_NEGATIVES
    assert "oos_logp" not in WITHOUT_NEGATIVES.weights
    for calibrator in (WITH_NEGATIVES, WITHOUT_NEGATIVES):
        # More probable and closer articles are more likely right; out-of-scope mass less.
        assert calibrator.weights["dense_logp"] > 0 and calibrator.weights["neighbours"] > 0
        assert "CLINC150 train" in calibrator.source
    assert WITH_NEGATIVES.weights["oos_logp"] < 0
