"""`helpdesk eval` end to end on small slices: the figures are sane, the output stable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from helpdesk.cli import main
from helpdesk.config import SAMPLE_KNOWLEDGE_PATH

pytestmark = pytest.mark.slow

SLICE = ["--intents", "10", "--per-intent", "20", "--quiet"]


@pytest.fixture(autouse=True)
def _environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    # One data dir for the module's runs: later runs reuse the cached vectors.
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(tmp_path_factory.getbasetemp() / "eval-var"))
    monkeypatch.setenv("HELPDESK_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("HELPDESK_LLM_BASE_URL", raising=False)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["eval", *args])
    return code, capsys.readouterr().out


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out = run(capsys, *args, "--json")
    assert code == 0
    summary: dict[str, Any] = json.loads(out)
    return summary


def test_clinc150_slice_with_sweep_and_baselines(
    shared_datasets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = run_json(
        capsys, "clinc150", "--data", str(shared_datasets), *SLICE, "--sweep", "--baselines"
    )
    q = summary["quality"]
    assert summary["dataset"] == "CLINC150 val" and summary["model"] == "all-MiniLM-L6-v2"
    assert summary["articles"] == 10 and summary["negatives"] is True
    assert (q["queries"], q["in_scope"], q["out_of_scope"]) == (300, 200, 100)
    # Ten easy intents from 20 examples each: far from the full benchmark, but sane.
    assert q["top1_accuracy"] >= 0.9
    assert q["auroc"] >= 0.9
    assert 0 <= q["ece"] <= 0.2
    assert 0 < q["macro_f1"] <= 1 and 0 <= q["oos_recall"] <= 1
    assert q["at_in_scope_accuracy_93"]["oos_recall"] >= 0.5
    assert summary["timing"]["qps"] > 0 and summary["timing"]["peak_rss_mb"] > 100
    assert len(summary["sweep"]) == 101 and summary["recommended"]["threshold"] >= 0
    names = [b["name"] for b in summary["baselines"]]
    assert names == [
        "TF-IDF word+char n-grams + logistic regression",
        "all-MiniLM-L6-v2 embeddings + logistic regression",
    ]
    assert all(b["top1_accuracy"] >= 0.8 for b in summary["baselines"])

    code, text = run(capsys, "clinc150", "--data", str(shared_datasets), *SLICE, "--sweep")
    assert code == 0
    lines = text.splitlines()
    assert lines[0] == (
        "CLINC150 val  |  model all-MiniLM-L6-v2  |  responder retrieval (offline, no LLM)"
    )
    for label in (
        "in-scope top-1 accuracy",
        "out-of-scope recall",
        "out-of-scope precision",
        "macro-F1 (oos as a class)",
        "AUROC in- vs out-of-scope",
        "expected calibration error",
        "oos recall @ in-scope acc>=93%",
        "queries/s",
        "threshold  coverage  answered-correct",
        "recommended threshold for >= 95% of answered queries correct",
    ):
        assert label in text, label


def test_banking77_slice(shared_datasets: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = run_json(
        capsys, "banking77", "--data", str(shared_datasets), "--intents", "5", "--quiet"
    )
    q = summary["quality"]
    assert summary["dataset"].startswith("BANKING77 hold-out")
    assert q["out_of_scope"] == 0 and q["auroc"] is None and q["oos_recall"] is None
    assert q["top1_accuracy"] >= 0.8


def test_any_knowledge_base_and_queries_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "queries.jsonl"
    rows = [
        ("where is my parcel", "order-tracking"),
        ("how long do refunds take", "refund-timing"),
        ("forgot my password", "reset-password"),
        ("I was charged twice", "double-charge"),
        ("recommend a pizza recipe", "oos"),
        ("who won the football match yesterday", "oos"),
    ]
    queries.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows))
    summary = run_json(
        capsys, "--kb", str(SAMPLE_KNOWLEDGE_PATH), "--queries", str(queries), "--quiet"
    )
    q = summary["quality"]
    assert summary["negatives"] is False and summary["articles"] >= 15
    assert q["top1_accuracy"] == 1.0 and q["auroc"] == 1.0 and q["oos_recall"] == 1.0


def test_missing_datasets_fail_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", "clinc150", "--data", str(tmp_path), "--quiet"])
    assert code == 2
    assert "not found" in capsys.readouterr().err
