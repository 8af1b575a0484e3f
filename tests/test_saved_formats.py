"""Folders saved by earlier versions of nlp_lstm still load and predict what they predicted then."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest

import nlp_lstm

FIXTURES = Path(__file__).parent / "fixtures"


def _same(actual, expected, path: str = "") -> None:
    """Equal, floats to float32 round-off (another CPU may order a sum differently)."""
    if isinstance(expected, float):
        assert isinstance(actual, float) and math.isclose(actual, expected, rel_tol=1e-5, abs_tol=1e-6), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for key in expected:
            _same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for i, (a, e) in enumerate(zip(actual, expected)):
            _same(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, path


@pytest.mark.parametrize("task", ["sentiment", "ner", "translation"])
def test_a_pipeline_saved_in_format_1_loads_and_predicts_as_it_did(task: str):
    folder = FIXTURES / "saved_pipelines_v1"
    recorded = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a finished run's folder loads without any warning
        pipeline = nlp_lstm.load(folder / task)
    assert pipeline.task == task and not pipeline.unfinished
    for i, (inputs, expected) in enumerate(zip(recorded["inputs"][task], recorded["predictions"][task])):
        _same(pipeline.predict(inputs), expected, f"{task} call {i}")
