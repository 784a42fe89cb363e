"""Intent data sets turned into knowledge bases, and the held-out splits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from helpdesk.evaluation import datasets as ds
from helpdesk.evaluation.calibrate import FOLDS, fold_of
from helpdesk.evaluation.datasets import Example as E


def test_each_intent_becomes_an_article_with_its_examples_as_questions() -> None:
    train = [E("hi there ", "greet"), E("hello", "greet"), E("hi there", "greet"), E("bye", "bye")]
    articles = ds.build_articles(train, [E("weather?", "oos")])
    assert [a.id for a in articles] == ["bye", "greet", ds.OOS_ARTICLE_ID]
    assert articles[1].questions == ("hi there", "hello"), "stripped and de-duplicated"
    assert articles[1].title == "Greet" and not articles[1].out_of_scope
    assert articles[2].out_of_scope and articles[2].questions == ("weather?",)
    assert ds.title_of("card_arrival") == "Card arrival"


def test_stratified_split_keeps_every_intent_on_both_sides() -> None:
    rows = [E(f"{label} {n}", label) for label in "abc" for n in range(20)]
    train, test = ds.stratified_split(rows, 0.1)
    assert Counter(e.label for e in test) == {"a": 2, "b": 2, "c": 2}
    assert len(train) == 54 and not {e.text for e in train} & {e.text for e in test}
    assert ds.stratified_split(rows, 0.1) == (train, test), "deterministic"


def test_subset_keeps_out_of_scope_and_caps_per_intent() -> None:
    rows = [E("x", "a"), E("y", "a"), E("z", "b"), E("o", "oos")]
    assert ds.subset(rows, {"a"}, 1) == [E("x", "a"), E("o", "oos")]


def test_cross_validation_folds_are_stratified() -> None:
    rows = [E(str(n), label) for label in "ab" for n in range(10)]
    folds = fold_of(rows)
    for fold in range(FOLDS):
        assert Counter(r.label for r, f in zip(rows, folds, strict=True) if f == fold) == {
            "a": 2,
            "b": 2,
        }


def test_datasets_folder_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ds.DATASETS_ENV, str(tmp_path))
    assert ds.datasets_dir() == tmp_path
    assert ds.datasets_dir(tmp_path / "nope") == tmp_path, "a missing --data falls through"
    with pytest.raises(ds.DatasetMissing):
        ds.clinc150(tmp_path)


def test_jsonl_queries_need_text_and_label(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"text": "where is my parcel", "label": "order-tracking"}\n\n{"text": "x"}\n')
    with pytest.raises(ValueError, match=":3: each line needs"):
        ds.read_jsonl(path)


def test_clinc150_slice(shared_datasets: Path) -> None:
    bench = ds.clinc150(shared_datasets, "val", intents=3, per_intent=10)
    assert len(bench.articles) == 4 and bench.articles[-1].out_of_scope
    assert all(len(a.questions) == 10 for a in bench.articles[:3])
    labels = Counter(q.label for q in bench.queries)
    assert labels["oos"] == 100 and len(labels) == 4 and set(labels.values()) == {20, 100}
