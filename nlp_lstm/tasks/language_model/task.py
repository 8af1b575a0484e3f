"""Language modelling: plain text -> a forward LSTM predicting the next unit; perplexity; text generation.
A composition of shared parts (readers, tokenizer/subwords/vocabulary, the recurrent encoder, trainer)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from nlp_lstm.data.conll import conll_reader
from nlp_lstm.data.readers import labelled_text_reader
from nlp_lstm.data.streamed import RowReader, column_of
from nlp_lstm.data.text import TextLines, text_line_reader
from nlp_lstm.errors import DataError, UsageError
from nlp_lstm.evaluation.language_model import LanguageModelEvaluation, language_model_metrics
from nlp_lstm.model_dir import load_best_weights
from nlp_lstm.models.language_model import (
    FeatureLossTraining,
    build_language_model,
    build_scorer,
    build_step_model,
    language_model_layer,
    path_within,
)
from nlp_lstm.models.seq2seq import SequenceLoss
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.preprocessing.cache import EncodedExamples
from nlp_lstm.preprocessing.embeddings import configured_embedding_matrix
from nlp_lstm.preprocessing.streams import StreamBatches, unit_stream
from nlp_lstm.preprocessing.units import UnitEncoder
from nlp_lstm.preprocessing.vocab import Vocabulary
from nlp_lstm.tasks.base import DataSplits, Task, TrainedPipeline
from nlp_lstm.tasks.language_model.config import LanguageModelConfig
from nlp_lstm.tasks.transfer import initialize_language_model
from nlp_lstm.training.trainer import compile_model


def text_reader(config: LanguageModelConfig, path: str | Path) -> RowReader[tuple[int, str], TextLines]:
    """The lines of text of `path` in the configured format, one at a time (labels and tags left out; a
    CoNLL file's sentences are lines, with a blank line between documents)."""
    data = config.data
    if data.format == "text":
        return text_line_reader(path, data.encoding)
    if data.format == "conll":
        sentences = conll_reader(
            path, token_column=data.token_column, tag_column=None, encoding=data.encoding, delimiter=data.delimiter
        )

        def rows() -> Iterator[tuple[int, str]]:
            previous = None
            for line, document, tokens, _ in sentences.rows():
                if previous is not None and document != previous:
                    yield line, ""  # a paragraph break between documents
                yield line, " ".join(tokens)
                previous = document

    else:
        table = labelled_text_reader(
            path,
            format=data.format,
            text_column=data.text_column,
            label_column=None,
            header=data.header,
            delimiter=data.delimiter,
            encoding=data.encoding,
        )

        def rows() -> Iterator[tuple[int, str]]:
            return ((line, text) for line, text, _ in table.rows())

    return RowReader(rows, lambda lines: TextLines.from_rows(lines, str(path)))


def _whole(value: Any, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


def sample_next(logits: np.ndarray, rng: np.random.Generator, *, temperature: float, top_k: int, top_p: float) -> int:
    """One unit id drawn from `logits` (vocab,): greedy at temperature 0, else from the softmax at that
    temperature restricted to the `top_k` most likely units and to the smallest set whose probabilities
    reach `top_p`. Neither padding (id 0) nor the unknown unit (id 1: a placeholder for the units cut from
    the vocabulary, written as `<unk>`) is drawn."""
    if not (math.isfinite(temperature) and temperature >= 0):
        raise UsageError(f"temperature must be a finite number >= 0, got {temperature}")
    logits = logits.astype("float64").copy()
    logits[[Vocabulary.pad_id, Vocabulary.oov_id]] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    with np.errstate(over="ignore"):
        scaled = (logits - logits.max()) / temperature  # the best unit at 0; -inf stays -inf
    order = np.argsort(-scaled, kind="stable")
    if top_k:
        order = order[:top_k]
    probabilities = np.exp(scaled[order] - scaled[order[0]])
    probabilities /= probabilities.sum()
    if top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(probabilities), top_p) + 1)
        order, probabilities = order[:keep], probabilities[:keep] / probabilities[:keep].sum()
    return int(order[rng.choice(len(order), p=probabilities)])


class LanguageModelPipeline(TrainedPipeline):
    """Prompts in, generated continuations out; texts in, their likelihood out."""

    config: LanguageModelConfig
    dataset_type = TextLines
    file_reader = staticmethod(text_reader)
    output_name = "logits"

    def __init__(self, model: keras.Model, config: LanguageModelConfig, units: UnitEncoder):
        super().__init__(model, config)
        self.units = units
        self._step: keras.Model | None = None
        self._scorer: keras.Model | None = None

    @property
    def step_model(self) -> keras.Model:
        """[ids, *states] -> [logits, *states]: shares the model's weights (so always its current ones)."""
        if self._step is None:
            self._step = build_step_model(self.model)
        return self._step

    def export_model(self) -> keras.Model:
        """The trained model without the carried states: any number of rows, the same answer every call (the
        folder's `model.keras` and the logged Keras model)."""
        network = language_model_layer(self.model)
        if not network.carry_batch_size and not isinstance(self.model, FeatureLossTraining):
            return self.model
        exported = build_language_model(len(self.units.vocab), self.config.model, inference=True)
        _copy_weights(self.model, exported)
        return exported

    def load_unfinished_weights(self, directory: Path) -> None:
        """The checkpoint of a stream-mode run holds its carried states too: read it into a model like the
        training one, then keep the weights."""
        if self.config.preprocessing.mode != "stream" and self.config.model.softmax == "full":
            return super().load_unfinished_weights(directory)
        training = training_model(len(self.units.vocab), self.config)
        load_best_weights(training, directory)
        _copy_weights(training, self.model)

    @property
    def scorer(self) -> keras.Model:
        """[ids, targets, *states] -> [per-row NLL, *states]: shares the model's weights."""
        if self._scorer is None:
            self._scorer = build_scorer(self.model)
        return self._scorer

    def _zero_states(self, rows: int) -> list[np.ndarray]:
        return [np.zeros((rows, size), dtype="float32") for size in language_model_layer(self.model).state_sizes]

    def _run(self, ids: np.ndarray, states: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        logits, *states = self.step_model.predict_on_batch([ids, *states])
        return np.asarray(logits), [np.asarray(s) for s in states]

    def _nll(
        self, ids: np.ndarray, targets: np.ndarray, states: list[np.ndarray]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Per row, the summed NLL of `targets` read after `ids` from `states`; and the states after them."""
        nll, *states = self.scorer.predict_on_batch([ids, targets, *states])
        return np.asarray(nll, dtype="float64"), [np.asarray(s) for s in states]

    # ------------------------------------------------------------------------------ batching
    def stream_batches(self, data: TextLines, batch_size: int | None = None) -> StreamBatches:
        return self.batches_of_stream(self.stream(data.texts), batch_size)

    def stream(self, texts: Sequence[str]) -> np.ndarray:
        """The text as one sequence of unit ids, an end unit after each line."""
        return unit_stream(self.units.encode(texts), self.units.end_id)

    def batches_of_stream(self, stream: np.ndarray, batch_size: int | None = None) -> StreamBatches:
        return StreamBatches(
            stream,
            batch_size=batch_size or self.config.training.batch_size,
            sequence_length=self.config.preprocessing.sequence_length,
        )

    def line_batches(
        self, texts: Sequence[str], *, shuffle: bool = False, batch_size: int | None = None, seed: int = 0
    ) -> PaddedBatches:
        encoded = self.encode_lines(texts)
        return self.padded_batches(
            encoded.inputs, encoded.targets, length_field="token_ids", shuffle=shuffle, batch_size=batch_size, seed=seed
        )

    def encode_lines(self, texts: Sequence[str]) -> EncodedExamples:
        """END + each line's units -> the units + END; blank lines left out. A line longer than max_length is
        read up to it, its last target the unit that follows there (a cut line has not ended)."""
        limit = self.config.preprocessing.max_length
        end = self.units.end_id
        lines = self.units.encode([t for t in texts if t.strip()])
        return EncodedExamples(
            {"token_ids": [[end, *u[:limit]] for u in lines]},
            [u[: limit + 1] if len(u) > limit else [*u, end] for u in lines],
        )

    # ------------------------------------------------------------------------------ scoring
    def _stream_nll(self, data: TextLines, batch_size: int | None = None) -> tuple[float, int]:
        """Summed NLL and count of the predicted units of `data` read as the model was trained on it: rows
        of running text, the state carried from segment to segment."""
        batches = self.stream_batches(data, batch_size or self.config.preprocessing.evaluation_rows)
        states = self._zero_states(batches.batch_size)
        total = 0.0
        for index in range(len(batches)):
            inputs, targets = batches[index]
            nll, states = self._nll(inputs, targets, states)
            total += float(nll.sum())
        return total, int(np.count_nonzero(batches.targets))

    def _lines_nll(self, texts: Sequence[str], batch_size: int = 64) -> tuple[list[float], list[int]]:
        """Per text, the summed NLL of its units and END, each text read on its own from a fresh state."""
        end = self.units.end_id
        ids = [[end, *units] for units in self.units.encode(texts)]
        nll, counts = [0.0] * len(ids), [len(i) for i in ids]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(ids[i]) for i in rows)
            x = np.zeros((len(rows), width), dtype="int32")
            y = np.zeros((len(rows), width), dtype="int32")
            for r, i in enumerate(rows):
                x[r, : len(ids[i])] = ids[i]
                y[r, : len(ids[i])] = [*ids[i][1:], end]
            row_nll, _ = self._nll(x, y, self._zero_states(len(rows)))
            for i, value in zip(rows, row_nll):
                nll[i] = float(value)
        return nll, counts

    def score(self, texts: str | Sequence[str], batch_size: int = 64) -> list[dict[str, float]]:
        """Per text: `log_likelihood` (natural log, its units and the end of the line), `units` and
        `perplexity`, the text read on its own."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if self.config.preprocessing.mode == "lines":
            blank = next((i for i, text in enumerate(texts) if not text.strip()), None)
            if blank is not None:  # its score would be that of an end of line alone, which training never read
                raise UsageError(
                    f"score: text {blank} is blank; a language model trained on lines scores no blank text"
                )
        nll, counts = self._lines_nll(texts, batch_size)
        return [
            {"log_likelihood": -n, "units": c, "perplexity": math.exp(min(n / c, 700.0))} for n, c in zip(nll, counts)
        ]

    def evaluate(self, data: TextLines | str | Path) -> LanguageModelEvaluation:
        """Perplexity (per unit) and bits per character of `data`, read as in training (`mode`)."""
        data = self.as_dataset(data)
        if self.config.preprocessing.mode == "stream":
            texts = data.texts
            total, units = self._stream_nll(data)
        else:
            texts = [t for t in data.texts if t.strip()]  # lines mode reads no blank line
            if not texts:
                raise DataError(f"{data.source}: no text to evaluate")
            nll, counts = self._lines_nll(texts)
            total, units = sum(nll), sum(counts)
        characters = sum(len(self.units.tokenizer.normalize(text)) + 1 for text in texts)
        return language_model_metrics(total, units, characters)

    # ------------------------------------------------------------------------------ generation
    def generate(
        self,
        prompts: str | Sequence[str],
        max_tokens: int | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """The continuation of each prompt, up to `max_tokens` units or the end of a line: `prompt +
        continuation` is the whole text. Settings not given come from the config's `generation` section;
        `seed` makes sampling reproducible (prompt i draws from the seed's i-th stream)."""
        settings = self.config.generation
        max_tokens = settings.max_tokens if max_tokens is None else max_tokens
        temperature = settings.temperature if temperature is None else temperature
        top_k = settings.top_k if top_k is None else top_k
        top_p = settings.top_p if top_p is None else top_p
        if (
            not _whole(max_tokens, 1)
            or not (math.isfinite(temperature) and temperature >= 0)
            or not _whole(top_k, 0)
            or not 0 < top_p <= 1
            or not (seed is None or _whole(seed, 0))
        ):
            raise UsageError(
                "generate takes whole numbers max_tokens >= 1, top_k >= 0 and seed >= 0 (or none), a finite "
                "temperature >= 0 and 0 < top_p <= 1"
            )
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        generators = np.random.SeedSequence(seed).spawn(len(prompts))
        end = self.units.end_id
        results = []
        for prompt, stream in zip(prompts, generators):
            rng = np.random.default_rng(stream)
            logits, states = self._run(
                np.asarray([[end, *self.units.encode([prompt])[0]]], "int32"), self._zero_states(1)
            )
            generated: list[int] = []
            for _ in range(max_tokens):
                scores = logits[0, -1].copy()
                if not generated and not prompt.strip():
                    scores[end] = -np.inf  # from nothing, a text starts (not with the blank lines between texts)
                unit = sample_next(scores, rng, temperature=temperature, top_k=top_k, top_p=top_p)
                if unit == end:
                    break
                generated.append(unit)
                logits, states = self._run(np.asarray([[unit]], "int32"), states)
            results.append(self.units.continuation(generated, prompt))
        return results

    def predict(self, inputs: str | Sequence[str], batch_size: int = 64, **options: Any) -> list[str]:
        """Generated continuations of prompts (`generate`'s options)."""
        return self.generate(inputs, **options)

    def predict_options(self) -> dict[str, Any]:
        settings = self.config.generation
        return {
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_k": settings.top_k,
            "top_p": settings.top_p,
            "seed": None,  # unseeded unless given: a served model samples anew for each request
        }

    def least_option_value(self, name: str) -> int:
        return 0 if name in ("top_k", "seed") else super().least_option_value(name)  # top_k 0: every unit

    def prediction_type(self):
        return "string"

    # ------------------------------------------------------------------------------ persistence
    def model_io(self) -> tuple[list[str], int]:
        return ["token_ids"], len(self.units.vocab)

    def save_preprocessing(self, directory: Path) -> None:
        self.units.save(directory)

    @classmethod
    def load_preprocessing(cls, directory: Path, config: LanguageModelConfig) -> dict[str, Any]:
        return {"units": UnitEncoder.load(directory)}


def training_model(
    vocab_size: int, config: LanguageModelConfig, embedding_matrix: np.ndarray | None = None
) -> keras.Model:
    """The model as trained: with the carried states in stream mode, the sampled softmax if configured."""
    stream = config.preprocessing.mode == "stream"
    return build_language_model(
        vocab_size,
        config.model,
        carry_batch_size=config.training.batch_size if stream else None,
        seed=config.training.seed,
        embedding_matrix=embedding_matrix,
    )


def _copy_weights(source: keras.Model, target: keras.Model) -> None:
    """Every weight of `target`'s language model layer from the same weight of `source`'s (which may hold
    more: states). Paths are compared from the layer down: the layer may sit at another depth."""
    source_layer, target_layer = language_model_layer(source), language_model_layer(target)
    weights = {path_within(variable, source_layer): variable for variable in source_layer.weights}
    for variable in target_layer.weights:
        variable.assign(weights[path_within(variable, target_layer)].value)


class CarriedStateReset(keras.callbacks.Callback):
    """Zeroes the carried states when an epoch starts: each epoch reads its streams from their beginning
    (validation reads from states of its own, through the scorer)."""

    def __init__(self, model: keras.Model):
        super().__init__()
        self.network = language_model_layer(model)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.network.reset_carried_state()


class LanguageModelTask(Task[TextLines]):
    config_class = LanguageModelConfig
    pipeline_class = LanguageModelPipeline
    config: LanguageModelConfig
    validates_loss = True  # one pass gives val_loss (the cross-entropy per unit) and the perplexity
    encodes_examples_alone = True  # lines; a stream is one example, sliced by `encode_parts`

    def hold_out(self, data: TextLines, fraction: float, *, seed: int, stratify: bool) -> tuple[list[int], list[int]]:
        """The last `fraction` of the lines, in one block: running text keeps its order on both sides."""
        taken = max(1, round(len(data) * fraction))
        if taken >= len(data):
            raise DataError(f"{data.source}: too few lines ({len(data)}) to split a validation or test part off")
        return list(range(len(data) - taken)), list(range(len(data) - taken, len(data)))

    def check_splits(self, splits: DataSplits[TextLines]) -> None:
        for name in ("train", "validation", "test"):
            data = getattr(splits, name)
            if not any(text.strip() for text in column_of(data, "texts")):
                raise DataError(f"{data.source}: the {name} split has no text")

    def fit_preprocessing(self, train: TextLines) -> dict[str, Any]:
        return {"units": UnitEncoder.fit(column_of(train, "texts"), self.config.preprocessing)}

    def build_model(self, preprocessing: dict[str, Any]) -> LanguageModelPipeline:
        config, units = self.config, preprocessing["units"]
        matrix, self.pretrained_words_found = configured_embedding_matrix(
            config.model.embeddings, units.vocab, seed=config.training.seed
        )
        model = training_model(len(units.vocab), config, matrix)
        if config.model.init_from:
            self.transfer = initialize_language_model(model, units, config.model)
        compile_model(model, config.training, loss=SequenceLoss())
        return LanguageModelPipeline(model, config, units)

    def encode(self, pipeline: LanguageModelPipeline, data: TextLines) -> EncodedExamples:
        if self.config.preprocessing.mode == "stream":
            return EncodedExamples({"stream": [pipeline.stream(data.texts)]})  # one example: the whole text
        return pipeline.encode_lines(data.texts)

    def encode_parts(self, pipeline: LanguageModelPipeline, data: TextLines) -> Iterator[EncodedExamples]:
        if self.config.preprocessing.mode != "stream":
            yield from super().encode_parts(pipeline, data)
            return
        # the one example, the whole text, encoded a slice of lines at a time (each line ends with END; `stream`
        # also starts each piece with one, kept only at the text's start)
        pieces = [pipeline.stream(part.texts)[1 if i else 0 :] for i, part in enumerate(self.slices(data))]
        yield EncodedExamples({"stream": [np.concatenate(pieces)]})

    def batches_from(self, pipeline: LanguageModelPipeline, examples: EncodedExamples, *, shuffle: bool):
        if self.config.preprocessing.mode == "stream":
            # consecutive batches continue each other: never shuffled
            return pipeline.batches_of_stream(np.asarray(examples.inputs["stream"][0]))
        return pipeline.padded_batches(
            examples.inputs, examples.targets, length_field="token_ids", shuffle=shuffle, seed=self.config.training.seed
        )

    def validation_scores(self, pipeline: LanguageModelPipeline, data: TextLines) -> dict[str, float]:
        metrics = pipeline.evaluate(data).metrics
        return {**metrics, "loss": metrics["cross_entropy"]}

    def callbacks(self, pipeline: LanguageModelPipeline, splits: DataSplits) -> list[keras.callbacks.Callback]:
        carried = [CarriedStateReset(pipeline.model)] if self.config.preprocessing.mode == "stream" else []
        return [*carried, *super().callbacks(pipeline, splits)]

    def summary(self, pipeline: LanguageModelPipeline) -> dict[str, Any]:
        return {**super().summary(pipeline), "vocab_size": len(pipeline.units.vocab), "level": pipeline.units.level}
