"""Translation: sentence pairs -> attentional LSTM encoder-decoder, decoded by beam search. A composition
of shared parts (readers, tokenizers, vocabularies, batching, trainer, tracking)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from nlp_lstm.config.schema import parallel_file
from nlp_lstm.data.parallel import Pair, ParallelTexts, parallel_file_reader, parallel_table_reader
from nlp_lstm.data.streamed import RowReader, StreamedSplit, column_of
from nlp_lstm.errors import DataError
from nlp_lstm.evaluation.translation import AttentionExample, TranslationEvaluation, score_translations
from nlp_lstm.models.search import build_search_model
from nlp_lstm.models.seq2seq import SequenceLoss, build_translator
from nlp_lstm.preprocessing.batching import PaddedBatches, restore_order
from nlp_lstm.preprocessing.cache import EncodedExamples
from nlp_lstm.preprocessing.pairs import EOS, PairEncoder
from nlp_lstm.preprocessing.tokenizer import JOINER
from nlp_lstm.tasks.base import Task, TrainedPipeline, non_blank, warn_truncated
from nlp_lstm.tasks.transfer import TransferSite
from nlp_lstm.tasks.translation.config import TranslationConfig

SAMPLE_TRANSLATIONS = 50  # pairs written to the evaluation's translations.tsv
ATTENTION_PLOTS = 3  # sentences drawn in attention.png


def pairs_reader(config: TranslationConfig, path: str | Path) -> RowReader[Pair, ParallelTexts]:
    """Pairs at `path` read with the config's data settings, one at a time: a `PREFIX` of PREFIX.src/PREFIX.tgt
    files (a missing target file gives sources only), or a table."""
    data = config.data
    if data.format != "parallel":
        return parallel_table_reader(
            path,
            format=data.format,
            source_column=data.source_column,
            target_column=data.target_column,
            header=data.header,
            delimiter=data.delimiter,
            encoding=data.encoding,
        )
    source_path = parallel_file(path, data.source_lang)
    if not source_path.exists():
        raise DataError(
            f"{source_path}: file not found ({path} is read as PREFIX.{data.source_lang} and PREFIX.{data.target_lang})"
        )
    target_path = parallel_file(path, data.target_lang)
    return parallel_file_reader(source_path, target_path if target_path.exists() else None, data.encoding)


# Search models built for the beam widths and settings asked for, the least recently used dropped first.
SEARCH_MODELS_KEPT = 4


class TranslatorPipeline(TrainedPipeline):
    """Raw source sentences in, detokenized translations out."""

    config: TranslationConfig
    dataset_type = ParallelTexts
    output_name = "logits"
    file_reader = staticmethod(pairs_reader)

    def __init__(self, model: keras.Model, config: TranslationConfig, pairs: PairEncoder):
        super().__init__(model, config)
        self.pairs = pairs
        self._search_models: dict[tuple, keras.Model] = {}

    def search_model(self, beam_size: int, return_attention: bool = False) -> keras.Model:
        """source ids -> (token ids, scores[, attention]); built once per setting, run compiled. The decoding
        settings are read from `config.decoding` each time, so changing them there takes effect."""
        decoding = self.config.decoding
        key = (
            beam_size,
            return_attention,
            decoding.length_penalty,
            decoding.max_length,
            decoding.max_length_ratio,
            decoding.max_length_offset,
        )
        if key in self._search_models:
            self._search_models[key] = self._search_models.pop(key)  # the most recently used last
        else:
            while len(self._search_models) >= SEARCH_MODELS_KEPT:  # each beam width asked for builds one
                self._search_models.pop(next(iter(self._search_models)))
            self._search_models[key] = build_search_model(
                self.model,
                bos_id=self.pairs.bos_id,
                eos_id=self.pairs.eos_id,
                beam_size=beam_size,
                length_penalty=decoding.length_penalty,
                max_length=decoding.max_length,
                max_length_ratio=decoding.max_length_ratio,
                max_length_offset=decoding.max_length_offset,
                return_attention=return_attention,
            )
        return self._search_models[key]

    # ------------------------------------------------------------------------------ batching
    def batches(
        self,
        data: ParallelTexts | Sequence[str],
        *,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
        apply_length_policy: bool = False,
    ) -> PaddedBatches:
        """Teacher-forcing batches for pairs, or source-only batches for translation."""
        common = dict(length_field="source_ids", shuffle=shuffle, batch_size=batch_size, seed=seed)
        if isinstance(data, ParallelTexts) and data.targets is not None:
            encoded = self.encode(data, apply_length_policy=apply_length_policy)
            return self.padded_batches(encoded.inputs, encoded.targets, **common)
        sources = data.sources if isinstance(data, ParallelTexts) else list(data)
        return self.padded_batches({"source_ids": self.pairs.encode_sources(sources)}, **common)

    def encode(self, data: ParallelTexts, *, apply_length_policy: bool = False) -> EncodedExamples:
        """Teacher-forcing inputs (source ids, target ids after BOS) and targets (target ids, then EOS) per
        pair; with `apply_length_policy`, pairs over a max_length dropped or cut (`preprocessing.long_pairs`),
        which may leave none."""
        encoded = self.pairs.encode_pairs(data.sources, data.targets, apply_length_policy=apply_length_policy)
        return EncodedExamples({"source_ids": encoded.source_ids, "target_in": encoded.target_in}, encoded.target_out)

    # ------------------------------------------------------------------------------ prediction
    def generate(
        self,
        sources: Sequence[str],
        *,
        beam_size: int | None = None,
        return_attention: bool = False,
        batch_size: int = 64,
    ) -> dict[str, list[np.ndarray]]:
        """Token ids, scores (and attention) per source sentence, in input order."""
        beam = beam_size or self.config.decoding.beam_size
        model = self.search_model(beam, return_attention)
        batches = self.batches(list(sources), batch_size=batch_size)
        names = ["ids", "scores", "attention"][: 3 if return_attention else 2]
        collected: dict[str, list] = {name: [] for name in names}
        for i in range(len(batches)):
            outputs = model.predict_on_batch(batches[i][0])
            for name, output in zip(names, outputs):
                collected[name].append(np.asarray(output))
        return {name: restore_order(values, batches.batch_indices) for name, values in collected.items()}

    def predict(
        self,
        inputs: str | Sequence[str],
        batch_size: int = 64,
        *,
        beam_size: int | None = None,
        return_attention: bool = False,
    ) -> list[Any]:
        """Translations (strings). With `return_attention`, dicts with the translation, its tokens, the
        source tokens and the attention weights (target tokens + EOS, source tokens).

        An empty or whitespace-only source translates to "" (nothing is generated for it). Sources longer
        than preprocessing.source.max_length are cut (one warning counts them; with `return_attention` their
        dicts say `'truncated': True`)."""
        sources = [inputs] if isinstance(inputs, str) else list(inputs)
        for i, text in enumerate(sources):
            if not isinstance(text, str):
                raise TypeError(f"predict() takes strings; item {i} is {type(text).__name__}")
        present = non_blank(sources)
        results: list[Any] = [
            {"translation": "", "source_tokens": [], "target_tokens": [], "attention": []} if return_attention else ""
            for _ in sources
        ]
        if not present:
            return results
        texts = [sources[i] for i in present]
        truncated = self.pairs.source_truncated(texts)
        warn_truncated(
            sum(truncated), len(sources), "preprocessing.source.max_length", self.pairs.source.tokenizer.max_length
        )
        generated = self.generate(texts, beam_size=beam_size, return_attention=return_attention, batch_size=batch_size)
        translations = [self.pairs.decode(ids) for ids in generated["ids"]]
        if self.config.decoding.replace_unknown:
            self._replace_unknown(texts, generated, translations, beam_size=beam_size, batch_size=batch_size)
        for row, (i, text, translation) in enumerate(zip(present, texts, translations)):
            if not return_attention:
                results[i] = translation
                continue
            example = self._attention_example(text, generated["ids"][row], generated["attention"][row])
            results[i] = {
                "translation": translation,
                "source_tokens": example.source_tokens,
                "target_tokens": example.target_tokens,
                "attention": example.weights.tolist(),
            }
            if truncated[row]:
                results[i]["truncated"] = True
        return results

    def _replace_unknown(
        self,
        sources: list[str],
        generated: dict[str, list[np.ndarray]],
        translations: list[str],
        *,
        beam_size: int | None,
        batch_size: int,
    ) -> None:
        """Re-decode, with attention, the translations holding <unk> (usually few, and the search is cheaper
        without attention) and copy the attended source word in its place; updates `translations` in place."""
        unknown = [i for i, ids in enumerate(generated["ids"]) if self.pairs.has_unknown(ids)]
        if not unknown:
            return
        if "attention" in generated:
            redone, rows = generated, unknown
        else:
            redone = self.generate(
                [sources[i] for i in unknown], beam_size=beam_size, return_attention=True, batch_size=batch_size
            )
            rows = range(len(unknown))
        for i, row in zip(unknown, rows):
            translations[i] = self.pairs.decode_replacing_unknown(
                redone["ids"][row], redone["attention"][row], sources[i]
            )

    def _attention_example(self, source: str, ids: np.ndarray, weights: np.ndarray) -> AttentionExample:
        source_tokens = self.pairs.source_tokens([source])[0] or [self.pairs.source.vocab.tokens[1]]
        target_tokens = [token.removeprefix(JOINER) for token in self.pairs.target_tokens(ids)] + [EOS]
        return AttentionExample(
            source_tokens, target_tokens, np.asarray(weights)[: len(target_tokens), : len(source_tokens)]
        )

    # ------------------------------------------------------------------------------ evaluation
    def evaluate(
        self,
        data: ParallelTexts | str | Path,
        *,
        beam_size: int | None = None,
        attention_examples: int = ATTENTION_PLOTS,
    ) -> TranslationEvaluation:
        """sacreBLEU BLEU and chrF of the translations of `data`'s sources against its raw references."""
        data = self.as_dataset(data)
        if data.targets is None:
            raise DataError(f"{data.source}: no reference translations to evaluate against")
        hypotheses = self.predict(data.sources, beam_size=beam_size)
        metrics, signatures, scores = score_translations(
            hypotheses, data.targets, lowercase=self.config.preprocessing.target.lowercase
        )
        samples = list(zip(data.sources, data.targets, hypotheses))[:SAMPLE_TRANSLATIONS]
        attention = []
        if attention_examples:
            picked = data.sources[:attention_examples]
            generated = self.generate(picked, beam_size=beam_size, return_attention=True)
            attention = [
                self._attention_example(text, ids, weights)
                for text, ids, weights in zip(picked, generated["ids"], generated["attention"])
            ]
        return TranslationEvaluation(metrics, signatures, scores, samples, attention)

    def write_predictions(self, data: ParallelTexts | str | Path, path: Path) -> None:
        """One detokenized hypothesis per line, in input order (score it with `sacrebleu REF < FILE`)."""
        data = self.as_dataset(data)
        with open(path, "w", encoding="utf-8") as handle:
            for hypothesis in self.predict(data.sources):
                handle.write(hypothesis.replace("\n", " ") + "\n")

    # ------------------------------------------------------------------------------ persistence
    def model_io(self) -> tuple[list[str], int]:
        return ["source_ids", "target_in"], len(self.pairs.target.vocab)

    def predict_options(self) -> dict[str, Any]:
        return {"batch_size": 64, "beam_size": self.config.decoding.beam_size, "return_attention": False}

    def prediction_type(self):
        from mlflow.types.schema import AnyType

        return AnyType()  # a translation string, or with return_attention a dict with its attention

    def save_preprocessing(self, directory: Path) -> None:
        self.pairs.save(directory)

    @classmethod
    def load_preprocessing(cls, directory: Path, config: TranslationConfig) -> dict[str, Any]:
        return {"pairs": PairEncoder.load(directory)}


class TranslationTask(Task[ParallelTexts]):
    config_class = TranslationConfig
    pipeline_class = TranslatorPipeline
    config: TranslationConfig
    encodes_examples_alone = True

    def read_file(self, path: Path) -> ParallelTexts:
        self.require_targets(path)
        return super().read_file(path)

    def read_training_file(self) -> StreamedSplit[ParallelTexts]:
        self.require_targets(Path(self.config.data.train))
        return super().read_training_file()

    def require_targets(self, path: Path) -> None:
        """Training and evaluation read pairs: a missing target file is an error (prediction reads sources
        alone)."""
        data = self.config.data
        if data.format == "parallel" and parallel_file(path, data.source_lang).exists():
            target = parallel_file(path, data.target_lang)
            if not target.exists():
                raise DataError(f"{target}: file not found")

    def files_of_split(self, name: str) -> list[Path]:
        data = self.config.data
        prefix = self.split_files()[name]
        if data.format != "parallel":
            return [prefix]
        files = (parallel_file(prefix, lang) for lang in (data.source_lang, data.target_lang))
        return [path for path in files if path.exists()]

    def fit_preprocessing(self, train: ParallelTexts) -> dict[str, Any]:
        config = self.config
        pairs = PairEncoder.fit(
            column_of(train, "sources"),
            column_of(train, "targets"),
            config.data.source_lang,
            config.data.target_lang,
            config.preprocessing,
        )
        return {"pairs": pairs}

    def build_model(self, preprocessing: dict[str, Any]) -> TranslatorPipeline:
        config, pairs = self.config, preprocessing["pairs"]
        model = build_translator(len(pairs.source.vocab), len(pairs.target.vocab), config.model)
        encoder = model.get_layer("encoder")  # a language model over the source language starts it
        site = TransferSite(
            embedding=encoder.embedding,
            encoder=encoder.rnn,
            inputs=(encoder.embedding,),
            embedding_key="model.source_embedding_dim",
            encoder_key="model.encoder",
        )
        loss = SequenceLoss(config.training.label_smoothing)
        self.compile_word_model(model, pairs.source.vocab, loss=loss, site=site)
        return TranslatorPipeline(model, config, pairs)

    def encode(self, pipeline: TranslatorPipeline, data: ParallelTexts) -> EncodedExamples:
        return pipeline.encode(data, apply_length_policy=True)

    def check_encoded(self, train: EncodedExamples, source: Path) -> None:
        if not len(train):
            raise DataError(f"{source}: no pair fits preprocessing.source/target.max_length")

    def batches_from(self, pipeline: TranslatorPipeline, examples: EncodedExamples, *, shuffle: bool) -> PaddedBatches:
        return pipeline.padded_batches(
            examples.inputs,
            examples.targets,
            length_field="source_ids",
            shuffle=shuffle,
            seed=self.config.training.seed,
        )

    def summary(self, pipeline: TranslatorPipeline) -> dict[str, Any]:
        return {**super().summary(pipeline), **pipeline.pairs.vocab_sizes}

    def validation_scores(self, pipeline: TranslatorPipeline, data: ParallelTexts) -> dict[str, float]:
        return pipeline.evaluate(
            data, beam_size=self.config.decoding.validation_beam_size, attention_examples=0
        ).metrics
