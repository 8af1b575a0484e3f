"""A BiLSTM(-CRF) sequence tagger in NumPy: the forward pass of `nlp_lstm.models.tagger` from its exported
arrays, for the same inputs `WordInputs` gives the Keras model (right-padded token, character and casing
ids).

The arrays and a description of the architecture are one `.npz` file (`TaggerArrays.save`); the names:
`word_embedding`; `char_embedding` with `char_conv_<i>_kernel`/`_bias` per width (CNN) or
`char_<direction>_kernel`/`_recurrent_kernel`/`_bias` (BiLSTM); `casing_embedding`;
`encoder_<layer>_<direction>_kernel`/`_recurrent_kernel`/`_bias`; `tag_scores_kernel`/`_bias`; and for a CRF
`crf_transitions`, `crf_start`, `crf_end` with its constraints already added (`-1e4` where forbidden).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.inference.ops import MASKED_FILL, bidirectional, conv1d_same, viterbi

FORMAT = 1
DIRECTIONS = ("forward", "backward")


@dataclass
class TaggerArrays:
    """A tagger's weights by name and its architecture (`spec`): `cell` ("lstm" or "gru"), `layers`,
    `bidirectional`, `char` (None, {"kind": "cnn", "widths": [...]} or {"kind": "lstm"}), `casing` (bool),
    `decoder` ("crf" or "softmax")."""

    spec: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def save(self, path: str | Path) -> None:
        spec = json.dumps({"format": FORMAT, **self.spec})
        with open(path, "wb") as handle:
            np.savez(handle, spec=np.asarray(spec), **self.arrays)

    @classmethod
    def load(cls, path: str | Path) -> TaggerArrays:
        with np.load(path) as stored:
            spec = json.loads(str(stored["spec"]))
            if spec.pop("format", None) != FORMAT:
                raise ValueError(f"{path}: written in another format than {FORMAT}")
            return cls(spec, {name: stored[name] for name in stored.files if name != "spec"})


class NumpyTagger:
    """Tag scores and best tag indices of a tagger, computed from its `TaggerArrays` in NumPy.

    Args:
        exported: the tagger's arrays and architecture.
    """

    def __init__(self, exported: TaggerArrays):
        self.spec = exported.spec
        self.arrays = {name: np.asarray(array, dtype=np.float32) for name, array in exported.arrays.items()}

    def _weights(self, prefix: str) -> list[np.ndarray]:
        return [self.arrays[f"{prefix}_{part}"] for part in ("kernel", "recurrent_kernel", "bias")]

    def _directions(self, prefix: str, bidirectional_layer: bool) -> tuple[list, list | None]:
        forward = self._weights(f"{prefix}_forward")
        return forward, self._weights(f"{prefix}_backward") if bidirectional_layer else None

    def char_features(self, char_ids: np.ndarray) -> np.ndarray:
        """(batch, words, features) character features of (batch, words, chars) character ids."""
        batch, words, chars = char_ids.shape
        flat = char_ids.reshape(batch * words, chars)
        valid = flat != 0
        is_word = valid.any(axis=1)
        embedded = self.arrays["char_embedding"][flat]
        char = self.spec["char"]
        if char["kind"] == "cnn":
            features = np.concatenate(
                [
                    np.tanh(
                        conv1d_same(embedded, self.arrays[f"char_conv_{i}_kernel"], self.arrays[f"char_conv_{i}_bias"])
                    )
                    for i in range(len(char["widths"]))
                ],
                axis=-1,
            )
            pooled = np.where(valid[:, :, None], features, MASKED_FILL).max(axis=1)
        else:
            lengths = valid.sum(axis=1)
            outputs = bidirectional(embedded, lengths, "lstm", *self._directions("char", True))
            units = outputs.shape[-1] // 2
            last = np.maximum(lengths - 1, 0)
            forward_final = outputs[np.arange(len(flat)), last, :units]
            pooled = np.concatenate([forward_final, outputs[:, 0, units:]], axis=-1)
        pooled = np.where(is_word[:, None], pooled, 0)
        return pooled.reshape(batch, words, -1)

    def scores(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, words, tags) tag scores (emissions) for right-padded `token_ids` (and `char_ids` or their
        `char_features`, `casing_ids` where the tagger reads them); rows past a sentence's length are not
        meaningful."""
        token_ids = np.asarray(inputs["token_ids"])
        parts = [self.arrays["word_embedding"][token_ids]]
        if "char_features" in inputs:  # computed beforehand (`char_features`), e.g. once per distinct word
            parts.append(np.asarray(inputs["char_features"], np.float32))
        elif self.spec["char"] is not None:
            parts.append(self.char_features(np.asarray(inputs["char_ids"])))
        if self.spec["casing"]:
            parts.append(self.arrays["casing_embedding"][np.asarray(inputs["casing_ids"])])
        x = np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        lengths = (token_ids != 0).sum(axis=1)
        for layer in range(self.spec["layers"]):
            x = bidirectional(
                x, lengths, self.spec["cell"], *self._directions(f"encoder_{layer}", self.spec["bidirectional"])
            )
        return x @ self.arrays["tag_scores_kernel"] + self.arrays["tag_scores_bias"]

    def decode(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(batch, words) best tag indices, 0 at padding: Viterbi through the CRF, or the best score."""
        token_ids = np.asarray(inputs["token_ids"])
        scores = self.scores(inputs)
        lengths = (token_ids != 0).sum(axis=1)
        if self.spec["decoder"] == "crf":
            arrays = self.arrays
            return viterbi(scores, lengths, arrays["crf_transitions"], arrays["crf_start"], arrays["crf_end"])
        return np.where(token_ids != 0, scores.argmax(axis=-1), 0)
