"""Classification scores over the classes the evaluated data holds, and a warning for classes too small to learn."""

from __future__ import annotations

import pytest

from nlp_lstm.config import load_config
from nlp_lstm.evaluation.classification import evaluate_classification
from tests.conftest import sentiment_rows, write_csv


def test_a_class_absent_from_the_evaluated_data_is_left_out_of_the_averages_and_named():
    gold = ["a", "a", "b", "b"]
    predicted = ["a", "b", "b", "c"]
    evaluation = evaluate_classification(gold, predicted, ["a", "b", "c"])
    # a: P 1, R 1/2, F1 2/3; b: P 1/2, R 1/2, F1 1/2; c has no gold example: no recall or F1 to count (as a
    # 0 it would make the average 7/18).
    assert evaluation.metrics["macro_f1"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert evaluation.metrics["accuracy"] == pytest.approx(0.5)
    assert "c_f1" not in evaluation.metrics and "a_f1" in evaluation.metrics
    assert "not in this data, so left out of the averages above: c (predicted 1 times)" in evaluation.report_text
    assert evaluation.confusion.shape == (3, 3)  # the matrix still shows every class the model has
    # With every class present nothing changes.
    everything = evaluate_classification(["a", "b", "c"], ["a", "b", "c"], ["a", "b", "c"])
    assert everything.metrics["macro_f1"] == 1.0 and "left out" not in everything.report_text


def test_a_class_with_few_training_examples_is_warned_about(tmp_path):
    from nlp_lstm.errors import InputWarning
    from nlp_lstm.tasks import get_task

    rows = sentiment_rows() + [("a rare kind of text", "rare")] * 2
    config = load_config(
        data={"task": "sentiment", "data": {"train": str(write_csv(tmp_path / "train.csv", rows))}},
        overrides=["data.split.stratify=false"],
    )
    task = get_task("sentiment")(config)
    splits = task.read_splits()
    with pytest.warns(InputWarning, match=r"1 class\(es\) with fewer than 10 training examples: 'rare' \(\d\)"):
        task.check(splits)
