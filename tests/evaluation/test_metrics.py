"""The metrics on hand-made predictions whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from helpdesk.evaluation import metrics as m
from helpdesk.evaluation.metrics import Prediction as P

PREDS = [
    P("a1", "a", "a", 0.9),  # right, answered
    P("a2", "a", "b", 0.8),  # wrong article, answered
    P("b1", "b", "b", 0.4),  # right article, but escalated at 0.5
    P("o1", "oos", "a", 0.3),  # out of scope, escalated
    P("o2", "oos", "b", 0.7),  # out of scope, answered anyway
]


def test_top1_accuracy_counts_in_scope_queries_only() -> None:
    assert m.top1_accuracy(PREDS) == pytest.approx(2 / 3)


def test_figures_at_a_threshold() -> None:
    point = m.at_threshold(PREDS, 0.5)
    assert point.coverage == pytest.approx(3 / 5)
    assert point.answered_accuracy == pytest.approx(1 / 3)
    assert point.in_scope_accuracy == pytest.approx(1 / 3)
    assert point.oos_recall == pytest.approx(1 / 2)
    assert point.oos_precision == pytest.approx(1 / 2)


def test_out_of_scope_can_be_reweighted_to_another_traffic_share() -> None:
    point = m.at_threshold(PREDS, 0.5, oos_weight=2.0)
    assert point.coverage == pytest.approx(4 / 7)
    assert point.answered_accuracy == pytest.approx(1 / 4)
    assert point.oos_precision == pytest.approx(2 / 3)
    assert point.oos_recall == pytest.approx(1 / 2), "recall does not depend on the weight"
    assert m.oos_weight_for(PREDS, 0.5) == pytest.approx(1.5)
    assert m.oos_weight_for(PREDS, None) == 1.0


def test_nothing_answered_or_nothing_out_of_scope() -> None:
    point = m.at_threshold(PREDS, 1.0)
    assert point.coverage == 0 and point.answered_accuracy is None
    inside = [p for p in PREDS if p.in_scope]
    assert m.at_threshold(inside, 0.5).oos_recall is None
    assert m.in_scope_auroc(inside) is None


def test_auroc_is_the_share_of_correctly_ordered_pairs() -> None:
    assert m.in_scope_auroc(PREDS) == pytest.approx(5 / 6)
    assert m.auroc([1.0, 0.9], [0.1]) == 1.0
    assert m.auroc([0.1], [0.9, 1.0]) == 0.0
    assert m.auroc([0.5], [0.5]) == 0.5, "a tie counts half"
    assert m.auroc([0.5, 0.5, 0.9], [0.5, 0.2]) == pytest.approx(5 / 6)


def test_expected_calibration_error() -> None:
    # One query per bin: |0.9-1| + |0.8-0| + |0.4-1| + |0.3-0| + |0.7-0|, over 5.
    assert m.expected_calibration_error(PREDS) == pytest.approx(0.5)
    perfect = [P("x", "a", "a", 1.0), P("y", "oos", "a", 0.0)]
    assert m.expected_calibration_error(perfect) == 0.0


def test_macro_f1_treats_escalation_as_the_oos_class() -> None:
    # a: F1 2/3; b: 0 (its only query escalated, a2 mislabelled as b); oos: 1/2.
    assert m.macro_f1(PREDS, 0.5) == pytest.approx((2 / 3 + 0 + 1 / 2) / 3)


def test_sweep_and_recommendations() -> None:
    curve = m.sweep(PREDS)
    assert len(curve) == 101 and curve[0].threshold == 0 and curve[-1].threshold == 1
    best = m.recommend_threshold(curve, 0.95)
    assert best is not None and best.threshold == pytest.approx(0.81)
    assert m.recommend_threshold(m.sweep(PREDS[1:2]), 0.95) is None
    floor = m.oos_recall_at_accuracy(curve, 1 / 3)
    assert floor is not None and floor.threshold == pytest.approx(0.9)
    assert floor.oos_recall == 1.0


def test_confused_pairs() -> None:
    preds = [*PREDS, P("a3", "a", "b", 0.2), P("b2", "b", "a", 0.9)]
    assert m.confused_pairs(preds) == [("a", "b", 2), ("b", "a", 1)]
