"""Benchmark: answer quality of the offline brain on CLINC150 val and a BANKING77 hold-out.

Runs `helpdesk eval` (in a fresh data folder, so the index build is timed cold)
with the two reference peers, and prints every figure next to its target:

    .venv/bin/python bench/answer_quality.py [--data ../shared/datasets] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HELPDESK = [sys.executable, "-m", "helpdesk.cli"]

# (dataset, metric key, comparison, target, label)
TARGETS: list[tuple[str, str, str, float, str]] = [
    ("clinc150", "top1_accuracy", ">=", 0.96, "in-scope top-1 accuracy"),
    ("clinc150", "auroc", ">=", 0.97, "AUROC in- vs out-of-scope"),
    ("clinc150", "oos_recall_at_93", ">=", 0.80, "oos recall @ in-scope acc >= 93%"),
    ("clinc150", "qps", ">=", 300, "queries/s, embedding + retrieval + confidence"),
    ("clinc150", "rank_qps", ">=", 300, "queries/s, retrieval + confidence (embedded)"),
    ("clinc150", "index_seconds", "<=", 60, "index build, 15,000 examples (s)"),
    ("clinc150", "peak_rss_mb", "<=", 1536, "peak RSS (MB)"),
    ("banking77", "top1_accuracy", ">=", 0.93, "top-1 accuracy"),
]


def run_eval(dataset: str, data: Path | None, var: Path) -> dict[str, Any]:
    args = [*HELPDESK, "eval", dataset, "--baselines", "--sweep", "--json", "--quiet"]
    if data is not None:
        args += ["--data", str(data)]
    env = {**os.environ, "HELPDESK_DATA_DIR": str(var), "HELPDESK_LOG_LEVEL": "WARNING"}
    env.pop("HELPDESK_LLM_BASE_URL", None)
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"helpdesk eval {dataset} failed:\n{done.stderr[-3000:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


def figures(summary: dict[str, Any]) -> dict[str, float | None]:
    q, t = summary["quality"], summary["timing"]
    floor = q.get("at_in_scope_accuracy_93") or {}
    return {
        "top1_accuracy": q["top1_accuracy"],
        "auroc": q["auroc"],
        "oos_recall_at_93": floor.get("oos_recall"),
        "qps": t["qps"],
        "rank_qps": t["rank_qps"],
        "index_seconds": t["index_seconds"],
        "peak_rss_mb": t["peak_rss_mb"],
    }


def passes(value: float | None, op: str, target: float) -> bool:
    if value is None:
        return False
    return value >= target if op == ">=" else value <= target


def show(value: float | None, key: str) -> str:
    if value is None:
        return "n/a"
    if key in ("top1_accuracy", "oos_recall_at_93"):
        return f"{value * 100:.1f}%"
    if key == "auroc":
        return f"{value:.3f}"
    return f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, help="datasets folder (default ../shared/datasets)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="helpdesk-bench-") as var:
        for dataset in ("clinc150", "banking77"):
            print(f"running helpdesk eval {dataset} ...", file=sys.stderr, flush=True)
            results[dataset] = run_eval(dataset, args.data, Path(var) / dataset)
    rows = []
    for dataset, key, op, target, label in TARGETS:
        summary = results[dataset]
        value = figures(summary)[key]
        rows.append(
            {
                "dataset": summary["dataset"],
                "model": summary["model"],
                "metric": label,
                "target": f"{op} {show(target, key)}",
                "measured": show(value, key),
                "pass": passes(value, op, target),
            }
        )
    for summary in results.values():
        for peer in summary.get("baselines", []):
            floor = peer.get("at_in_scope_accuracy_93") or {}
            rows.append(
                {
                    "dataset": summary["dataset"],
                    "model": peer["name"],
                    "metric": "reference peer: top-1 / AUROC / oos recall @ 93%",
                    "target": "below the product",
                    "measured": " / ".join(
                        [
                            show(peer["top1_accuracy"], "top1_accuracy"),
                            show(peer["auroc"], "auroc"),
                            show(floor.get("oos_recall"), "oos_recall_at_93"),
                        ]
                    ),
                    "pass": peer["top1_accuracy"] < figures(summary)["top1_accuracy"],
                }
            )
    if args.json:
        print(json.dumps({"rows": rows, "runs": results}, indent=1))
        return 0
    print("| dataset | model | metric | target | measured | pass |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        mark = "yes" if row["pass"] else "NO"
        print(
            f"| {row['dataset']} | {row['model']} | {row['metric']} | {row['target']} "
            f"| {row['measured']} | {mark} |"
        )
    load = os.getloadavg()
    print(f"\nload average during the run: {load[0]:.1f} / {load[1]:.1f} (1 / 5 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
