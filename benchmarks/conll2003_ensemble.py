"""CoNLL-2003: how much an ensemble of saved BiLSTM-CRF taggers gains over its members.

    python benchmarks/conll2003_ensemble.py --data-dir ../shared/data/conll2003 --model-dir A --model-dir B ...

Each `--model-dir` is a pipeline saved by `benchmarks/conll2003.py` (or `nlp-lstm run`) with the same tag set.
The ensemble averages the members' CRF potentials (per-word tag scores and transition/start/end scores),
then decodes with Viterbi, so its output is still a valid tag sequence under the transition constraints.
Prints entity F1 on eng.testa and eng.testb for every member, every subset of 3 (when there are more than
3 members) and all of them. An experiment, not a shipped feature: it costs one training per member.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from common import ROOT  # noqa: F401  (puts the repository on sys.path)


def sequence_scores(pipeline, data) -> list[np.ndarray]:
    """Per token sequence the tagger reads (windows of long sentences, packed neighbours), its unpadded
    (words, tags) scores."""
    batches, packed = pipeline.batches(data.tokens, documents=data.documents)
    outputs = pipeline.run_batches(batches)
    return [scores[: sum(b - a for _, a, b in sequence)] for sequence, scores in zip(packed, outputs)]


def ensemble_tags(
    pipelines, data, members: Sequence[int] | None = None, scores: list[list[np.ndarray]] | None = None
) -> list[list[str]]:
    """Tags per sentence (training scheme) from the members' averaged CRF potentials, decoded with Viterbi
    through the first member's CRF, as `NerPipeline.tag` decodes one model. `scores` (per member, from
    `sequence_scores`) saves recomputing them for several subsets."""
    from keras import ops

    from nlp_lstm.models.tagger import _crf_layer
    from nlp_lstm.tasks.ner.prediction import per_sentence, sequences

    members = list(range(len(pipelines))) if members is None else list(members)
    if scores is None:
        scores = [sequence_scores(p, data) for p in pipelines]
    prep = pipelines[0].config.preprocessing
    packed = sequences([len(t) for t in data.tokens], prep.max_length, data.documents, prep.join_sentences)
    crfs = [_crf_layer(pipelines[m].model) for m in members]
    tables = [(c.transitions, c.start_scores, c.end_scores) for c in crfs]
    saved = [ops.convert_to_numpy(v) for v in tables[0]]
    try:
        for index, variable in enumerate(tables[0]):
            variable.assign(np.mean([ops.convert_to_numpy(t[index]) for t in tables], axis=0))
        averaged = [np.mean([scores[m][k] for m in members], axis=0) for k in range(len(packed))]
        paths = decode(crfs[0], averaged)
    finally:
        for variable, value in zip(tables[0], saved):
            variable.assign(value)
    return [pipelines[0].tags.decode(ids) for ids in per_sentence(packed, paths, len(data.tokens))]


def decode(crf, scores: list[np.ndarray], batch_size: int = 256) -> list[np.ndarray]:
    """Viterbi paths of `scores` (one (words, tags) array per sequence) through `crf`."""
    from keras import ops

    paths: list[np.ndarray] = [np.zeros(0, dtype=np.int32)] * len(scores)
    order = sorted((i for i, s in enumerate(scores) if len(s)), key=lambda i: len(scores[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = len(scores[chunk[-1]])
        padded = np.zeros((len(chunk), width, scores[chunk[0]].shape[1]), dtype=np.float32)
        mask = np.zeros((len(chunk), width), dtype=bool)
        for row, i in enumerate(chunk):
            padded[row, : len(scores[i])] = scores[i]
            mask[row, : len(scores[i])] = True
        best, _ = crf.decode(ops.convert_to_tensor(padded), ops.convert_to_tensor(mask))
        best = ops.convert_to_numpy(best)
        for row, i in enumerate(chunk):
            paths[i] = best[row, : len(scores[i])]
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with eng.testa and eng.testb")
    parser.add_argument("--model-dir", type=Path, action="append", required=True, dest="model_dirs")
    args = parser.parse_args(argv)
    if len(args.model_dirs) < 2:
        parser.error("give at least two --model-dir")

    from nlp_lstm.errors import NlpLstmError
    from nlp_lstm.evaluation.tagging import evaluate_entities
    from nlp_lstm.models.tagger import _crf_layer
    from nlp_lstm.pipeline import load_pipeline

    try:
        pipelines = [load_pipeline(d) for d in args.model_dirs]
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    first = pipelines[0]
    for directory, pipeline in zip(args.model_dirs, pipelines):
        prep, first_prep = pipeline.config.preprocessing, first.config.preprocessing
        if (
            _crf_layer(pipeline.model) is None
            or pipeline.tags.tags != first.tags.tags
            or (prep.max_length, prep.join_sentences) != (first_prep.max_length, first_prep.join_sentences)
        ):
            print(
                f"error: {directory}: every member needs a CRF, and the tag set and preprocessing.max_length/"
                f"join_sentences of {args.model_dirs[0]}",
                file=sys.stderr,
            )
            return 2

    splits = {name: pipelines[0].read_data(args.data_dir / f"eng.{name}") for name in ("testa", "testb")}
    scores = {name: [sequence_scores(p, data) for p in pipelines] for name, data in splits.items()}

    def f1(members: tuple[int, ...], split: str) -> float:
        predicted = ensemble_tags(pipelines, splits[split], members, scores[split])
        return evaluate_entities(splits[split].tags, predicted).metrics["f1"]

    n = len(pipelines)
    for i, directory in enumerate(args.model_dirs):
        print(f"[{i}] {directory}")
    subsets = [(i,) for i in range(n)]
    subsets += list(itertools.combinations(range(n), 3)) if n > 3 else []
    subsets += [tuple(range(n))]
    print(f"{'members':<20}{'eng.testa F1':>14}{'eng.testb F1':>14}")
    for members in subsets:
        print(
            f"{','.join(map(str, members)):<20}{f1(members, 'testa'):>14.4f}{f1(members, 'testb'):>14.4f}", flush=True
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
