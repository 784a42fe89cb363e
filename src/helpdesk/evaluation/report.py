"""Summaries of an evaluation: one dict (for --json) and its plain-text rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from helpdesk.evaluation import metrics as m
from helpdesk.evaluation.metrics import AtThreshold, Prediction

# "At the threshold where in-scope accuracy stays >= 93 %": the operating point.
ACCURACY_FLOOR = 0.93
SWEEP_PRINT_STEP = 5  # print every 5th point of the 0.01 grid


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def quality(
    preds: Sequence[Prediction],
    threshold: float,
    *,
    oos_weight: float = 1.0,
) -> dict[str, Any]:
    """Every headline figure for one set of predictions."""
    point = m.at_threshold(preds, threshold, oos_weight=oos_weight)
    curve = m.sweep(preds, oos_weight=oos_weight)
    floor = m.oos_recall_at_accuracy(curve, ACCURACY_FLOOR)
    return {
        "queries": len(preds),
        "in_scope": sum(p.in_scope for p in preds),
        "out_of_scope": sum(not p.in_scope for p in preds),
        "top1_accuracy": _r(m.top1_accuracy(preds)),
        "threshold": threshold,
        "in_scope_accuracy": _r(point.in_scope_accuracy),
        "oos_recall": _r(point.oos_recall),
        "oos_precision": _r(point.oos_precision),
        "answered_accuracy": _r(point.answered_accuracy),
        "coverage": _r(point.coverage),
        "macro_f1": _r(m.macro_f1(preds, threshold)),
        "auroc": _r(m.in_scope_auroc(preds)),
        "ece": _r(m.expected_calibration_error(preds)),
        f"at_in_scope_accuracy_{int(ACCURACY_FLOOR * 100)}": (
            None
            if floor is None or floor.oos_recall is None
            else {
                "threshold": floor.threshold,
                "in_scope_accuracy": _r(floor.in_scope_accuracy),
                "oos_recall": _r(floor.oos_recall),
            }
        ),
    }


def point_dict(point: AtThreshold) -> dict[str, Any]:
    return {k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(point).items()}


def fmt(value: Any, percent: bool = True) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and percent:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render(summary: dict[str, Any]) -> str:
    q = summary["quality"]
    t = summary["timing"]
    floor = q.get(f"at_in_scope_accuracy_{int(ACCURACY_FLOOR * 100)}")
    lines = [
        f"{summary['dataset']}  |  model {summary['model']}  |  responder {summary['responder']}",
        f"{summary['articles']} articles, {t['entries']} entries; {q['queries']} queries "
        f"({q['in_scope']} in scope, {q['out_of_scope']} out of scope); "
        f"threshold {q['threshold']:.2f} ({summary['threshold_source']})",
        "",
        f"  in-scope top-1 accuracy        {fmt(q['top1_accuracy'])}",
        f"  in-scope accuracy @ threshold  {fmt(q['in_scope_accuracy'])}",
        f"  out-of-scope recall            {fmt(q['oos_recall'])}",
        f"  out-of-scope precision         {fmt(q['oos_precision'])}",
        f"  answered correctly             {fmt(q['answered_accuracy'])}"
        f"  (coverage {fmt(q['coverage'])})",
        f"  macro-F1 (oos as a class)      {fmt(q['macro_f1'], False)}",
        f"  AUROC in- vs out-of-scope      {fmt(q['auroc'], False)}",
        f"  expected calibration error     {fmt(q['ece'], False)}",
    ]
    if floor:
        lines.append(
            f"  oos recall @ in-scope acc>=93% {fmt(floor['oos_recall'])}"
            f"  (threshold {floor['threshold']:.2f}, in-scope {fmt(floor['in_scope_accuracy'])})"
        )
    build = "cached" if t["index_seconds"] is None else f"{t['index_seconds']:.1f} s"
    lines += [
        f"  speed: {t['qps']:.0f} queries/s (embedding {t['embed_qps']:.0f}/s, "
        f"retrieval + confidence {t['rank_qps']:.0f}/s); index build {build}; "
        f"peak RSS {t['peak_rss_mb']:.0f} MB",
    ]
    if summary.get("baselines"):
        lines += ["", "  reference peers (same queries)        top-1   AUROC  oos@93%  macro-F1"]
        rows = [{"name": "helpdesk (this product)", **q}, *summary["baselines"]]
        for row in rows:
            at = row.get(f"at_in_scope_accuracy_{int(ACCURACY_FLOOR * 100)}") or {}
            lines.append(
                f"  {row['name'][:38]:<38} {fmt(row['top1_accuracy']):>6} "
                f"{fmt(row['auroc'], False):>7} {fmt(at.get('oos_recall')):>8} "
                f"{fmt(row['macro_f1'], False):>9}"
            )
    if summary.get("llm"):
        llm = summary["llm"]
        lines += [
            "",
            f"  with the LLM ({llm['model']}, needs_human on top of retrieval): "
            f"in-scope accuracy {fmt(llm['in_scope_accuracy'])}, oos recall "
            f"{fmt(llm['oos_recall'])}, answered correctly {fmt(llm['answered_accuracy'])}, "
            f"{llm['qps']:.1f} answers/s, {llm['failures']} failures",
        ]
    if summary["confused"]:
        lines += ["", "  most confused (label -> predicted)"]
        lines += [f"  {n:>4}  {a} -> {b}" for a, b, n in summary["confused"]]
    if "sweep" in summary:
        lines += [
            "",
            "  threshold  coverage  answered-correct  in-scope-acc  oos-recall  oos-precision",
        ]
        for point in summary["sweep"][::SWEEP_PRINT_STEP]:
            lines.append(
                f"  {point['threshold']:>9.2f}  {fmt(point['coverage']):>8}  "
                f"{fmt(point['answered_accuracy']):>16}  {fmt(point['in_scope_accuracy']):>12}  "
                f"{fmt(point['oos_recall']):>10}  {fmt(point['oos_precision']):>13}"
            )
        rec = summary.get("recommended")
        target = summary["target"]
        if rec:
            lines.append(
                f"  recommended threshold for >= {target * 100:.0f}% of answered queries correct"
                f"{summary['prior_note']}: {rec['threshold']:.2f} (in-scope accuracy "
                f"{fmt(rec['in_scope_accuracy'])}, oos recall {fmt(rec['oos_recall'])}, "
                f"coverage {fmt(rec['coverage'])})"
            )
        else:
            lines.append(f"  no threshold reaches {target * 100:.0f}% of answered queries correct")
    return "\n".join(lines)
