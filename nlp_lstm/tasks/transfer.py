"""Start a sentiment, NER or translation model from a trained language model (ULMFiT, Howard & Ruder 2018;
TagLM, Peters et al. 2017): `model.init_from` names the language model's folder, whose word embeddings and
recurrent layers initialise the new model's (the translator's: its encoder's), word by word and layer by layer.

- Embeddings: each word of the new vocabulary takes the language model's vector of the same word, a word
  the language model does not know takes its unknown-word vector. Kept as they are when the pipeline
  configures pretrained vectors (`model.embeddings`): then only the recurrent layers are taken.
- Recurrent layers: layer i's forward direction takes the language model's layer i (a language model reads
  forward); the inputs the language model had not seen (char and casing features, the backward direction's
  outputs feeding the next layer) keep their fresh weights.
- `model.freeze_epochs` trains only the other variables first, `model.discriminative_lr` gives each layer
  the learning rate of the layer above divided by that factor (`nlp_lstm.training.layer_rates`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from nlp_lstm.errors import ConfigError, NlpLstmError
from nlp_lstm.models.features import WORD_INPUT_LAYERS
from nlp_lstm.preprocessing.vocab import Vocabulary
from nlp_lstm.training.layer_rates import LayerRates, encoder_depths


@dataclass
class Transfer:
    """What `model.init_from` initialised: variable paths and how many of the new words the LM knew."""

    source: Path
    variables: set[str]
    words_found: int | None


@dataclass(frozen=True)
class TransferSite:
    """Where a model keeps what a language model initialises.

    Args:
        embedding: the word embedding filled with the language model's vectors, row by word.
        encoder: the `RecurrentEncoder` whose layers' forward directions take the language model's layers.
        inputs: the layers feeding the encoder (embedding, char and casing features): they learn slowest.
        uses_vectors: the embedding holds pretrained vectors (`model.embeddings`), kept: only the recurrent
            layers are taken.
        embedding_key: the config key of the embedding's size, named in errors.
        encoder_key: the config section of the encoder, named in errors.
    """

    embedding: keras.layers.Embedding
    encoder: keras.layers.Layer
    inputs: tuple[keras.layers.Layer, ...]
    uses_vectors: bool = False
    embedding_key: str = "model.embedding_dim"
    encoder_key: str = "model.rnn"

    @classmethod
    def of_word_model(cls, model: keras.Model, model_config) -> TransferSite:
        """The classifier's and tagger's layout: layers `embedding` (+ char and casing features) -> `encoder`."""
        names = {layer.name for layer in model.layers}
        return cls(
            embedding=model.get_layer("embedding"),
            encoder=model.get_layer("encoder"),
            inputs=tuple(model.get_layer(name) for name in WORD_INPUT_LAYERS if name in names),
            uses_vectors=model_config.embeddings.source is not None,
        )


def _problem(message: str) -> ConfigError:
    return ConfigError([f"model.init_from: {message}"])


def _forward_rnn(layer):
    """The forward recurrent layer of an encoder layer (length-aware pair, masked Bidirectional, or forward)."""
    if isinstance(layer, list):
        return layer[0]
    return getattr(layer, "forward_layer", layer)


def _load_language_model(directory: Path, level: str = "word"):
    """The language model saved in `directory`, over units of `level` (its rows are mapped by their text)."""
    from nlp_lstm.tasks import load_folder

    if not directory.is_dir():
        raise _problem(f"{directory} is not a folder (the output folder of a language_model run)")
    try:
        pipeline = load_folder(directory)
    except NlpLstmError as exc:
        raise _problem(f"{directory}: {exc}") from exc
    if pipeline.task != "language_model":
        raise _problem(f"{directory} holds a {pipeline.task} model; it must be a language_model one")
    if pipeline.units.level != level:
        raise _problem(
            f"{directory} is a {pipeline.units.level}-level language model; this model needs a {level}-level one"
        )
    return pipeline


def initialize_from_language_model(site: TransferSite, vocab: Vocabulary, model_config) -> Transfer:
    """Copy the weights of the language model in `model_config.init_from` into the layers of `site`, for a
    model over `vocab`; a mismatch is a `ConfigError` naming the keys."""
    from nlp_lstm.models.language_model import language_model_layer

    source = Path(model_config.init_from)
    lm = _load_language_model(source)
    network = language_model_layer(lm.model)
    lm_encoder, encoder = network.encoder, site.encoder
    problems = []
    if lm_encoder.cell != encoder.cell:
        problems.append(f"the language model's cell is {lm_encoder.cell}, {site.encoder_key}.cell is {encoder.cell}")
    if lm_encoder.units != encoder.units:
        problems.append(f"the language model has {lm_encoder.units} units, {site.encoder_key}.units is {encoder.units}")
    lm_dim, dim = network.embedding_dim, site.embedding.output_dim
    if lm_dim != dim:
        what = "the pretrained vectors have" if site.uses_vectors else f"{site.embedding_key} is"
        problems.append(f"the language model's embeddings have {lm_dim} dimensions, {what} {dim}")
    if problems:
        raise ConfigError([f"model.init_from: {p}" for p in problems])

    initialised: set[str] = set()
    words_found = None
    if not site.uses_vectors:
        lm_vocab = lm.units.vocab
        lm_vectors = keras.ops.convert_to_numpy(network.embedding.embeddings)
        rows = _rows_by_token(lm_vocab, vocab.tokens)
        words_found = sum(row != Vocabulary.oov_id for row in rows[2:])
        embedding = site.embedding
        embedding.embeddings.assign(lm_vectors[rows].astype(embedding.embeddings.dtype))
        initialised.add(embedding.embeddings.path)
        # a language model over another language finds few words: said, not hidden
        print(f"model.init_from: the language model knows {words_found:,} of the {len(rows) - 2:,} words")
    for source_layer, target_layer in zip(lm_encoder.recurrent_layers, encoder.recurrent_layers):
        source_rnn, target_rnn = _forward_rnn(source_layer), _forward_rnn(target_layer)
        for source_weight, target_weight in zip(source_rnn.weights, target_rnn.weights):
            value = keras.ops.convert_to_numpy(source_weight)
            current = keras.ops.convert_to_numpy(target_weight).copy()
            if value.shape != current.shape:  # an input kernel over more inputs: the LM's come first
                current[: value.shape[0]] = value
                value = current
            target_weight.assign(value.astype(current.dtype))
            initialised.add(target_weight.path)
    if len(encoder.recurrent_layers) > len(lm_encoder.recurrent_layers):
        print(
            f"model.init_from: the language model has {len(lm_encoder.recurrent_layers)} layers; the layers "
            "above them start fresh"
        )
    return Transfer(source, initialised, words_found)


def initialize_language_model(model: keras.Model, units, model_config) -> Transfer:
    """ULMFiT's second stage: a language model over a new corpus starts from the one in
    `model_config.init_from`: every weight taken as it is, except the rows of the unit embeddings and the
    output biases, taken unit by unit (a unit the old model does not know takes its unknown unit's row)."""
    from nlp_lstm.models.language_model import language_model_layer, path_within

    source = Path(model_config.init_from)
    old = _load_language_model(source, units.level)
    old_network, network = language_model_layer(old.model), language_model_layer(model)
    for adaptive in (network.adaptive, old_network.adaptive):
        if adaptive is not None and not adaptive.tied:
            raise _problem(
                "an untied adaptive softmax keeps its rare units' vectors per cluster, which cannot be mapped to "
                "another vocabulary; use tie_embeddings: true for both language models"
            )
    clusters = [len(n.adaptive.cutoffs) if n.adaptive is not None else None for n in (old_network, network)]
    if clusters[0] is not None and clusters[1] is not None and clusters[0] != clusters[1]:
        raise _problem(
            f"{source} has {clusters[0]} adaptive softmax clusters, this vocabulary ({len(units.vocab)} units) "
            f"{clusters[1]}: give model.adaptive_cutoffs that both vocabularies exceed"
        )
    old_vocab = old.units.vocab
    rows = _rows_by_token(old_vocab, units.vocab.tokens)
    by_vocabulary = {id(variable): axis for variable, axis in network.vocabulary_weights()}
    initialised: set[str] = set()
    old_weights = {path_within(v, old_network): v for v in old_network.weights if "carried" not in v.path}
    problems = []
    for variable in network.weights:
        key = path_within(variable, network)
        if "carried" in variable.path or "seed_generator" in variable.path:
            continue
        if key not in old_weights:
            problems.append(
                f"{source} has no weight {key}: the same model.rnn (cell, units, layers), tie_embeddings and "
                "softmax (full and sampled share their weights) are needed"
            )
            continue
        old_value = keras.ops.convert_to_numpy(old_weights[key])
        value = old_value
        if id(variable) in by_vocabulary:
            value = np.take(old_value, rows, axis=by_vocabulary[id(variable)])
        if value.shape != tuple(variable.shape):  # a weight taken unit by unit must agree on its other axes
            problems.append(
                f"{key} is {old_value.shape} in {source}, {tuple(variable.shape)} here: the same "
                "model.embedding_dim and model.rnn (cell, units, layers) are needed"
            )
            continue
        variable.assign(value.astype(variable.dtype))
        initialised.add(variable.path)
    if problems:
        raise ConfigError([f"model.init_from: {p}" for p in problems[:5]])
    words_found = sum(row != Vocabulary.oov_id for row in rows[3:])  # after padding, unknown and end
    return Transfer(source, initialised, words_found)


def _rows_by_token(source: Vocabulary, tokens: list[str]) -> list[int]:
    """For each token, its row in `source`, else the row of its first other casing there (a lowercased
    corpus still finds a cased model's names: "paris" -> "Paris"), else the unknown-word row; padding stays
    padding."""

    def row(token: str) -> int:
        for form in (token, token.lower(), token.capitalize(), token.upper()):
            if form in source.index:
                return source.index[form]
        return Vocabulary.oov_id

    rows = [row(token) for token in tokens]
    rows[Vocabulary.pad_id] = Vocabulary.pad_id
    return rows


def fine_tuning(site: TransferSite, vocab: Vocabulary, model_config) -> tuple[LayerRates, Transfer | None]:
    """Initialise the layers of `site` from `model.init_from` (if set) and the layer rates its settings ask
    for (`site.encoder`'s layers below the rest of the model, its inputs below them)."""
    transfer = initialize_from_language_model(site, vocab, model_config) if model_config.init_from else None
    rates = LayerRates(
        depth=encoder_depths(site.encoder, site.inputs),
        pretrained=transfer.variables if transfer else set(),
        freeze_epochs=model_config.freeze_epochs,
        decay=model_config.discriminative_lr,
    )
    return rates, transfer


__all__ = ["Transfer", "TransferSite", "fine_tuning", "initialize_from_language_model"]
