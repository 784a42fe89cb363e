"""The shared public data sets (../shared/datasets), or a clear skip without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpdesk.evaluation.datasets import DatasetMissing, datasets_dir


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    try:
        root = datasets_dir()
    except DatasetMissing as exc:
        pytest.skip(f"shared datasets not available: {exc}")
    if not (root / "clinc150" / "train.jsonl").is_file():
        pytest.skip(f"CLINC150 not found under {root}")
    return root
