"""Sentiment, NER and translation models started from a trained language model (`model.init_from`), frozen
for the first epochs (`model.freeze_epochs`), with per-layer learning rates (`model.discriminative_lr`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.test_language_model import untrained_pipeline

SENTIMENT = REPO / "data" / "sample" / "sentiment"
NER = REPO / "data" / "sample" / "ner"


def language_model_folder(tmp_path: Path, units: int = 12, layers: int = 2) -> Path:
    """An (untrained: its weights are as good a witness) word-level LM saved as a run would save it."""
    _, pipeline = untrained_pipeline(
        tmp_path,
        preprocessing="preprocessing: {tokenizer: spacy, lowercase: true, sequence_length: 12}",
        model=f"model: {{embedding_dim: 8, rnn: {{units: {units}, layers: {layers}, bidirectional: false}}}}",
    )
    folder = tmp_path / "lm"
    pipeline.save(folder)
    return folder


@pytest.fixture(scope="module")
def lm_folders(tmp_path_factory) -> dict[int, Path]:
    """Saved language models (12 units) with 1 and 2 layers, shared by the tests of this module."""
    return {layers: language_model_folder(tmp_path_factory.mktemp(f"lm{layers}"), layers=layers) for layers in (1, 2)}


def task_over(tmp_path: Path, task_name: str, data: str, body: str):
    """The task `task_name` over the sample files `data` (a YAML mapping) with `body` (YAML lines), and its
    untrained pipeline."""
    from nlp_lstm.config import load_config
    from nlp_lstm.tasks import get_task

    path = tmp_path / f"{task_name}.yaml"
    path.write_text(
        f"task: {task_name}\ndata: {data}\n{body}\noutput_dir: {tmp_path / 'runs'}\ntracking: {{enabled: false}}\n",
        encoding="utf-8",
    )
    task = get_task(task_name)(load_config(path))
    return task, task.build_pipeline(task.read_splits().train)


def sentiment_task(tmp_path: Path, model: str, training: str = "{epochs: 2, batch_size: 16, seed: 1}"):
    data = (
        f"{{train: {SENTIMENT / 'train.csv'}, validation: {SENTIMENT / 'validation.csv'}, "
        f"test: {SENTIMENT / 'test.csv'}}}"
    )
    return task_over(tmp_path, "sentiment", data, f"{model}\ntraining: {training}")


def ner_task(tmp_path: Path, model: str):
    """The NER task over the sample files with `model` (a YAML line) and its untrained pipeline."""
    data = f"{{train: {NER / 'train.conll'}, validation: {NER / 'validation.conll'}, test: {NER / 'test.conll'}}}"
    return task_over(tmp_path, "ner", data, model)


def lm_weights(folder: Path):
    import nlp_lstm
    from nlp_lstm.models.language_model import language_model_layer

    lm = nlp_lstm.load(folder)
    return lm, language_model_layer(lm.model)


def test_the_sentiment_model_starts_from_the_language_models_words_and_forward_layers(tmp_path: Path, lm_folders):
    import keras

    folder = lm_folders[2]
    lm, network = lm_weights(folder)
    task, pipeline = sentiment_task(
        tmp_path, f"model: {{init_from: {folder}, embedding_dim: 8, rnn: {{units: 12, layers: 2}}}}"
    )
    vocab = pipeline.word_inputs.text_encoder.vocab
    embedding = keras.ops.convert_to_numpy(pipeline.model.get_layer("embedding").embeddings)
    lm_embedding = keras.ops.convert_to_numpy(network.embedding.embeddings)
    known = [t for t in vocab.tokens[2:] if t in lm.units.vocab.index]
    unknown = [t for t in vocab.tokens[2:] if t not in lm.units.vocab.index]
    assert known and unknown and task.transfer.words_found == len(known)
    for token in known:
        np.testing.assert_array_equal(embedding[vocab.index[token]], lm_embedding[lm.units.vocab.index[token]])
    for token in unknown:
        np.testing.assert_array_equal(embedding[vocab.index[token]], lm_embedding[1])  # the LM's unknown word
    encoder = pipeline.model.get_layer("encoder")
    for i, source in enumerate(network.encoder.recurrent_layers):
        forward, backward = encoder.directions(i)  # masked Bidirectional or a length-aware pair
        lm_kernel, lm_recurrent, lm_bias = (keras.ops.convert_to_numpy(w) for w in source[0].weights)
        kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in forward.weights)
        np.testing.assert_array_equal(kernel[: lm_kernel.shape[0]], lm_kernel)  # layer 1: the forward inputs
        assert kernel.shape[0] == (8 if i == 0 else 24)
        np.testing.assert_array_equal(recurrent, lm_recurrent)
        np.testing.assert_array_equal(bias, lm_bias)
        assert not np.allclose(keras.ops.convert_to_numpy(backward.weights[1]), lm_recurrent)
    assert task.summary(pipeline)["init_from_words_found"] == len(known)


def test_frozen_epochs_train_only_the_new_variables(tmp_path: Path, lm_folders):
    import keras

    folder = lm_folders[1]
    task, pipeline = sentiment_task(
        tmp_path,
        f"model: {{init_from: {folder}, freeze_epochs: 1, embedding_dim: 8, rnn: {{units: 12, layers: 1}}}}",
    )
    model = pipeline.model
    pretrained = sorted(task.transfer.variables)
    assert len(pretrained) == 4  # the embedding; the forward LSTM's kernel, recurrent kernel and bias

    def values():
        return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}

    batches = task.batches(pipeline, task.read_splits().train, shuffle=True).as_keras_input()
    schedule = task.callbacks(pipeline, task.read_splits())[-1]
    start = values()
    model.fit(batches, epochs=1, callbacks=[schedule], verbose=0)
    after_frozen = values()
    for path in start:
        changed = not np.allclose(start[path], after_frozen[path])
        assert changed == (path not in task.transfer.variables), path
    model.fit(batches, initial_epoch=1, epochs=2, callbacks=[schedule], verbose=0)
    after = values()
    assert all(not np.allclose(after_frozen[p], after[p]) for p in pretrained)


def _two_layers():
    import keras

    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(3, name="low")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="top")(hidden))


@pytest.mark.backends
def test_a_model_saved_with_layer_rates_loads_compiled_with_them(tmp_path: Path):
    import keras

    from nlp_lstm.training.layer_rates import LayerRates, LayerRateSchedule, with_layer_rates

    model = _two_layers()
    depth = {v.path: (2 if v.path.startswith("low") else 0) for v in model.trainable_variables}
    rates = LayerRates(depth, pretrained={p for p in depth if p.startswith("low")}, freeze_epochs=1, decay=2.6)
    model.compile(optimizer=with_layer_rates(keras.optimizers.Adam(learning_rate=0.01), rates), loss="mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    model.fit(x, y, epochs=2, callbacks=[LayerRateSchedule()], verbose=0)
    model.save(tmp_path / "model.keras")

    loaded = keras.saving.load_model(tmp_path / "model.keras")  # compiled: the optimizer class is found
    assert type(loaded.optimizer).__name__ == "LayerRateAdam"
    assert loaded.optimizer.layer_rates == rates
    scales = sorted(float(keras.ops.convert_to_numpy(s)) for s in loaded.optimizer.rate_scales)
    assert scales == pytest.approx([2.6**-2, 1.0])  # after the frozen epoch: discriminative rates
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_frozen_layers_stay_frozen_under_mixed_float16():
    """A LossScaleOptimizer builds its inner optimizer twice; the scales the updates read must be the ones
    the schedule sets."""
    import keras

    from nlp_lstm.training.layer_rates import LayerRates, LayerRateSchedule, with_layer_rates

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _two_layers()
    finally:
        keras.config.set_dtype_policy(previous)
    depth = {v.path: (1 if v.path.startswith("low") else 0) for v in model.trainable_variables}
    rates = LayerRates(depth, pretrained={p for p in depth if p.startswith("low")}, freeze_epochs=1)
    optimizer = keras.optimizers.LossScaleOptimizer(with_layer_rates(keras.optimizers.Adam(learning_rate=0.01), rates))
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 1), "float32")
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables}
    # batches of 1: the loss scale's first steps may overflow and be skipped
    model.fit(x, y, batch_size=1, epochs=1, callbacks=[LayerRateSchedule()], verbose=0)
    for variable in model.trainable_variables:
        changed = not np.allclose(before[variable.path], keras.ops.convert_to_numpy(variable))
        assert changed == variable.path.startswith("top"), variable.path
    scales = optimizer.inner_optimizer.rate_scales
    optimizer.inner_optimizer.build(model.trainable_variables)  # as the LossScaleOptimizer does when it builds
    assert optimizer.inner_optimizer.rate_scales is scales and len(scales) == 2


@pytest.mark.backends
def test_discriminative_rates_scale_each_layers_update():
    import keras

    from nlp_lstm.training.layer_rates import LayerRates, LayerRateSchedule, with_layer_rates

    model, reference = _two_layers(), _two_layers()
    depth = {v.path: (2 if v.path.startswith("low") else 0) for v in model.trainable_variables}
    optimizer = with_layer_rates(keras.optimizers.SGD(learning_rate=0.1), LayerRates(depth, decay=2.0))
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables]
    model.fit(x, y, batch_size=4, epochs=1, callbacks=[LayerRateSchedule()], verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    # Plain SGD from the same start gives the unscaled steps.
    for target, value in zip(reference.trainable_variables, before):
        target.assign(value)
    reference.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    reference.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for variable, start, scaled, plain in zip(model.trainable_variables, before, after, reference.trainable_variables):
        factor = 0.25 if variable.path.startswith("low") else 1.0
        np.testing.assert_allclose(scaled - start, factor * (keras.ops.convert_to_numpy(plain) - start), atol=1e-6)


def test_a_weight_decay_of_zero_reaches_the_optimizer():
    from nlp_lstm.config.schema import OptimizerConfig
    from nlp_lstm.training.trainer import make_optimizer

    assert make_optimizer(OptimizerConfig(name="adamw", weight_decay=0.0)).weight_decay == 0.0
    assert make_optimizer(OptimizerConfig(name="adamw")).weight_decay == pytest.approx(0.004)  # Keras's default


def test_init_from_mismatches_and_misuse_are_named(tmp_path: Path, lm_folders):
    from nlp_lstm.errors import ConfigError

    folder = lm_folders[2]
    with pytest.raises(ConfigError) as exc:
        sentiment_task(tmp_path, f"model: {{init_from: {folder}, embedding_dim: 16, rnn: {{units: 10}}}}")
    message = str(exc.value)
    assert "model.init_from" in message and "12 units, model.rnn.units is 10" in message
    assert "8 dimensions, model.embedding_dim is 16" in message
    with pytest.raises(ConfigError, match="sentiment model; it must be a language_model"):
        sentiment_task(tmp_path, f"model: {{init_from: {REPO / 'tests/fixtures/saved_pipelines_v1/sentiment'}}}")
    with pytest.raises(ConfigError, match="freeze_epochs"):
        sentiment_task(tmp_path, "model: {freeze_epochs: 2}")
    with pytest.raises(ConfigError, match="training.optimizer.weight_decay cannot go with"):
        sentiment_task(tmp_path, "model: {discriminative_lr: 2.6}", training="{optimizer: {weight_decay: 0.01}}")
    with pytest.raises(ConfigError, match="training.optimizer.weight_decay cannot go with"):  # AdamW's default decay
        sentiment_task(tmp_path, "model: {discriminative_lr: 2.6}", training="{optimizer: {name: adamw}}")
    with pytest.raises(ConfigError, match="folder not found"):
        sentiment_task(tmp_path, f"model: {{init_from: {tmp_path / 'nowhere'}}}")


def test_the_ner_model_starts_from_the_language_model_beside_its_char_features(tmp_path: Path, lm_folders):
    """The tagger's first layer reads word embeddings then char features: the LM fills the word rows."""
    import keras

    folder = lm_folders[1]
    _, network = lm_weights(folder)
    for encoder in ("lstm", "cnn"):
        task, pipeline = ner_task(
            tmp_path,
            f"model: {{init_from: {folder}, discriminative_lr: 2.6, embedding_dim: 8, casing: {{enabled: true}}, "
            f"char_features: {{enabled: true, encoder: {encoder}, embedding_dim: 4, filters: 3, lstm_units: 3}}, "
            "rnn: {units: 12, layers: 1}}",
        )
        # the char and casing features read the words beside the embedding: they learn as slowly
        input_layers = [
            layer for layer in pipeline.model.layers if layer.name.startswith(("char_", "casing_")) and layer.weights
        ]
        assert len(input_layers) == 2
        for variable in (v for layer in input_layers for v in layer.trainable_variables):
            assert task.layer_rates.depth[variable.path] == 2, variable.path
    forward = pipeline.model.get_layer("encoder").directions(0)[0]
    kernel = keras.ops.convert_to_numpy(forward.weights[0])
    lm_kernel = keras.ops.convert_to_numpy(network.encoder.directions(0)[0].weights[0])
    assert kernel.shape[0] > lm_kernel.shape[0] == 8
    np.testing.assert_array_equal(kernel[:8], lm_kernel)
    assert not np.allclose(kernel[8:], 0)


def translator_task(tmp_path: Path, model: str, preprocessing: str = ""):
    """The translation task over the sample pairs, English to German (the sample LM's language is the source),
    with `model` (a YAML line), and its untrained pipeline."""
    prefix = REPO / "data" / "sample" / "translation"
    data = (
        f"{{format: parallel, source_lang: en, target_lang: de, train: {prefix / 'train'}, "
        f"validation: {prefix / 'validation'}, test: {prefix / 'test'}}}"
    )
    return task_over(tmp_path, "translation", data, f"{preprocessing}\n{model}")


def test_the_translators_encoder_starts_from_a_language_model_over_its_source_language(tmp_path: Path, lm_folders):
    """Source embedding by word and the encoder's forward layers from the LM; the decoder stays fresh and
    learns fastest, the encoder's layers slower from the top down, the source embedding slowest."""
    import keras

    from nlp_lstm.errors import ConfigError

    folder = lm_folders[2]
    lm, network = lm_weights(folder)
    task, pipeline = translator_task(
        tmp_path,
        f"model: {{init_from: {folder}, freeze_epochs: 1, discriminative_lr: 2.0, source_embedding_dim: 8, "
        "target_embedding_dim: 6, encoder: {units: 12, layers: 2, bidirectional: true}, decoder: {units: 10}}",
    )
    vocab = pipeline.pairs.source.vocab
    encoder = pipeline.model.get_layer("encoder")
    embedding = keras.ops.convert_to_numpy(encoder.embedding.embeddings)
    lm_embedding = keras.ops.convert_to_numpy(network.embedding.embeddings)
    known = [t for t in vocab.tokens[2:] if t.lower() in lm.units.vocab.index]
    assert known and len(known) < len(vocab) - 2 and task.transfer.words_found == len(known)
    for token in vocab.tokens[2:]:
        row = lm.units.vocab.index.get(token.lower(), 1)  # the LM is lowercased; unknown words: its <unk>
        np.testing.assert_array_equal(embedding[vocab.index[token]], lm_embedding[row])
    for i in range(2):
        forward, backward = encoder.rnn.directions(i)
        lm_weights_i = [keras.ops.convert_to_numpy(w) for w in network.encoder.directions(i)[0].weights]
        kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in forward.weights)
        np.testing.assert_array_equal(kernel[: lm_weights_i[0].shape[0]], lm_weights_i[0])
        np.testing.assert_array_equal(recurrent, lm_weights_i[1])
        np.testing.assert_array_equal(bias, lm_weights_i[2])
        assert not np.allclose(keras.ops.convert_to_numpy(backward.weights[1]), lm_weights_i[1])
    rates = task.layer_rates
    depth = {v.path: rates.group(v.path)[0] for v in pipeline.model.trainable_variables}
    assert depth[encoder.embedding.embeddings.path] == 3
    assert {depth[v.path] for v in encoder.rnn.directions(0)[1].trainable_variables} == {2}
    assert {depth[v.path] for v in encoder.rnn.directions(1)[0].trainable_variables} == {1}
    decoder = pipeline.model.get_layer("decoder")
    assert {depth[v.path] for v in decoder.trainable_variables} == {0}
    assert not any(v.path in task.transfer.variables for v in decoder.trainable_variables)
    assert rates.active and rates.scale(rates.group(encoder.embedding.embeddings.path), epoch=0) == 0.0

    with pytest.raises(ConfigError) as exc:
        translator_task(tmp_path, f"model: {{init_from: {folder}, source_embedding_dim: 6, encoder: {{units: 10}}}}")
    message = str(exc.value)
    assert "12 units, model.encoder.units is 10" in message
    assert "8 dimensions, model.source_embedding_dim is 6" in message
    with pytest.raises(ConfigError, match="model.init_from maps a word-level language model"):
        translator_task(
            tmp_path,
            f"model: {{init_from: {folder}}}",
            preprocessing="preprocessing: {source: {subwords: {enabled: true, vocab_size: 60}}}",
        )


def test_a_fine_tuned_run_trains_logs_and_saves(tmp_path: Path, lm_folders):
    """Through the runner: the frozen epoch, then all layers; the run logs init_from and saves a loadable model."""
    import keras
    import mlflow

    import nlp_lstm
    from nlp_lstm.config import load_config
    from nlp_lstm.model_dir import MODEL
    from nlp_lstm.pipeline import run_pipeline

    folder = lm_folders[1]
    path = tmp_path / "sentiment.yaml"
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    path.write_text(
        f"task: sentiment\ndata: {{train: {SENTIMENT / 'train.csv'}, validation: {SENTIMENT / 'validation.csv'}, "
        f"test: {SENTIMENT / 'test.csv'}}}\nmodel: {{init_from: {folder}, freeze_epochs: 1, discriminative_lr: 2.6, "
        "embedding_dim: 8, rnn: {units: 12, layers: 1}}\ntraining: {epochs: 2, batch_size: 16, seed: 1}\n"
        f"output_dir: {tmp_path / 'runs'}\ntracking: {{uri: '{store}', experiment: transfer}}\n",
        encoding="utf-8",
    )
    result = run_pipeline(load_config(path), path)
    assert result.timings["epochs_run"] == 2
    run = mlflow.MlflowClient(store).get_run(result.run_id)
    assert run.data.params["model.init_from"] == str(folder)
    assert run.data.params["model.freeze_epochs"] == "1"
    assert int(run.data.params["init_from_words_found"]) > 0
    loaded = nlp_lstm.load(result.model_dir)
    assert loaded.predict(["a wonderful film"])[0]["label"] in set(loaded.labels.classes)
    # the Keras model alone loads compiled, with the optimizer it trained with
    compiled = keras.saving.load_model(Path(result.model_dir) / MODEL)
    assert type(compiled.optimizer).__name__ == "LayerRateAdam"
    assert compiled.optimizer.layer_rates.freeze_epochs == 1


def test_a_language_model_fine_tunes_from_another_on_new_text(tmp_path: Path, lm_folders):
    """ULMFiT's second stage: same layers, unit rows mapped by text (new units: the unknown unit's row)."""
    import keras

    from nlp_lstm.models.language_model import language_model_layer

    folder = lm_folders[2]
    old, old_network = lm_weights(folder)
    sample = REPO / "data" / "sample" / "language_model"
    other = tmp_path / "other.txt"
    other.write_text((sample / "test.txt").read_text(encoding="utf-8") + "\nzyzzyva quokka .\n", encoding="utf-8")
    task, pipeline = untrained_pipeline(
        tmp_path,
        preprocessing="preprocessing: {tokenizer: spacy, lowercase: true, sequence_length: 12}",
        model=f"model: {{init_from: {folder}, embedding_dim: 8, rnn: {{units: 12, layers: 2, bidirectional: false}}, "
        "softmax: sampled, num_sampled: 10}",
        data=f"data: {{train: {other}, validation: {sample / 'validation.txt'}, test: {sample / 'test.txt'}}}",
    )
    network = language_model_layer(pipeline.model)
    vocab, old_vocab = pipeline.units.vocab, old.units.vocab
    assert vocab.tokens != old_vocab.tokens and "quokka" in vocab.index and "quokka" not in old_vocab.index
    embedding = keras.ops.convert_to_numpy(network.embedding.embeddings)
    old_embedding = keras.ops.convert_to_numpy(old_network.embedding.embeddings)
    bias, old_bias = (keras.ops.convert_to_numpy(n.output_bias) for n in (network, old_network))
    for token, row in vocab.index.items():
        old_row = old_vocab.index.get(token, 1)
        np.testing.assert_array_equal(embedding[row], old_embedding[old_row])
        assert bias[row] == old_bias[old_row]
    for mine, theirs in zip(network.encoder.weights, old_network.encoder.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))
    assert 0 < task.transfer.words_found < len(vocab) - 3

    from nlp_lstm.errors import ConfigError

    data = f"data: {{train: {other}, validation: {sample / 'validation.txt'}, test: {sample / 'test.txt'}}}"
    with pytest.raises(
        ConfigError,
        match=r"model.init_from: embedding/embeddings is \(\d+, 8\) in .*, \(\d+, 16\) here: the same model.embedding_dim",
    ):
        untrained_pipeline(
            tmp_path,
            preprocessing="preprocessing: {tokenizer: spacy, lowercase: true, sequence_length: 12}",
            model=f"model: {{init_from: {folder}, embedding_dim: 16, rnn: {{units: 12, layers: 2, bidirectional: false}}}}",
            data=data,
        )
    with pytest.raises(ConfigError, match="is a word-level language model; this model needs a char-level one"):
        untrained_pipeline(
            tmp_path,
            preprocessing="preprocessing: {level: char, sequence_length: 12}",
            model=f"model: {{init_from: {folder}, embedding_dim: 8, rnn: {{units: 12, layers: 2, bidirectional: false}}}}",
            data=data,
        )


def test_a_language_model_reads_the_text_of_a_table_or_a_conll_file(tmp_path: Path):
    from nlp_lstm.config import load_config
    from nlp_lstm.tasks.language_model.task import LanguageModelPipeline

    conll = tmp_path / "tagged.conll"
    conll.write_text(
        "-DOCSTART- O\n\nEU B-ORG\nrejects O\n\nPeter B-PER\nruns O\n\n-DOCSTART- O\n\nBonn B-LOC\n", encoding="utf-8"
    )
    for data, expected in (
        (f"{{format: csv, train: {SENTIMENT / 'train.csv'}}}", None),
        (f"{{format: conll, train: {conll}}}", ["EU rejects", "Peter runs", "", "Bonn"]),
    ):
        path = tmp_path / "lm.yaml"
        path.write_text(f"task: language_model\ndata: {data}\n", encoding="utf-8")
        config = load_config(path)
        lines = LanguageModelPipeline.read_file(config, config.data.train)
        if expected is None:
            import csv

            with open(SENTIMENT / "train.csv", encoding="utf-8") as handle:
                assert lines.texts == [row["text"] for row in csv.DictReader(handle)]
        else:
            assert lines.texts == expected and lines.lines[0] == 3


def test_a_language_models_per_unit_output_weights_are_mapped_or_refused(tmp_path: Path):
    """Every weight indexed by unit id (embedding, word biases of a tied adaptive softmax, an untied output
    layer's kernel columns and biases) is mapped by text; an untied adaptive softmax keeps per-cluster
    vectors that cannot be, and another number of adaptive clusters cannot be matched: both refused."""
    import keras

    from nlp_lstm.errors import ConfigError
    from nlp_lstm.models.language_model import language_model_layer

    def model(tie: bool, softmax: str, init_from: Path | None = None, cutoffs: str = "[10, 30]") -> str:
        start = f"init_from: {init_from}, " if init_from else ""
        return (
            f"model: {{{start}embedding_dim: 8, tie_embeddings: {str(tie).lower()}, softmax: {softmax}, "
            f"adaptive_cutoffs: {cutoffs}, rnn: {{units: 12, layers: 1, bidirectional: false}}}}"
        )

    def numpy(variable) -> np.ndarray:
        return keras.ops.convert_to_numpy(variable)

    prep = "preprocessing: {tokenizer: spacy, lowercase: true, sequence_length: 12}"
    kinds = {
        "tied adaptive": (True, "adaptive"),
        "untied adaptive": (False, "adaptive"),
        "untied full": (False, "full"),
    }
    folders = {}
    for kind, (tie, softmax) in kinds.items():
        (tmp_path / kind).mkdir()
        _, source = untrained_pipeline(tmp_path / kind, preprocessing=prep, model=model(tie, softmax))
        for variable, axis in language_model_layer(source.model).vocabulary_weights():
            shape = [1] * len(variable.shape)
            shape[axis] = variable.shape[axis]  # each unit's entries tell its old id
            variable.assign(np.broadcast_to(np.arange(shape[axis], dtype="float32").reshape(shape), variable.shape))
        folders[kind] = tmp_path / f"lm-{kind}"
        source.save(folders[kind])
    sample = REPO / "data" / "sample" / "language_model"
    other = tmp_path / "other.txt"
    other.write_text("zyzzyva quokka .\n" + (sample / "test.txt").read_text(encoding="utf-8"), encoding="utf-8")
    data = f"data: {{train: {other}, validation: {sample / 'validation.txt'}, test: {sample / 'test.txt'}}}"
    for kind in ("tied adaptive", "untied full"):
        (tmp_path / f"to {kind}").mkdir()
        tie, softmax = kinds[kind]
        _, pipeline = untrained_pipeline(
            tmp_path / f"to {kind}", preprocessing=prep, model=model(tie, softmax, folders[kind]), data=data
        )
        old_vocab = lm_weights(folders[kind])[0].units.vocab
        assert pipeline.units.vocab.tokens != old_vocab.tokens and "quokka" in pipeline.units.vocab.index
        expected = np.asarray([old_vocab.index.get(t, 1) for t in pipeline.units.vocab.tokens], dtype="float32")
        expected[0] = 0
        weights = language_model_layer(pipeline.model).vocabulary_weights()
        assert len(weights) == (2 if tie else 3)
        for variable, axis in weights:
            np.testing.assert_array_equal(
                np.moveaxis(numpy(variable), axis, 0).reshape(len(expected), -1)[:, 0], expected
            )
    refusals = [
        ("untied adaptive softmax", model(True, "adaptive", folders["untied adaptive"])),
        ("untied adaptive softmax", model(False, "adaptive", folders["tied adaptive"])),
        (
            "2 adaptive softmax clusters, this vocabulary",
            model(True, "adaptive", folders["tied adaptive"], "[10, 5000]"),
        ),
    ]
    for index, (message, refused) in enumerate(refusals):
        (tmp_path / f"refused-{index}").mkdir()
        with pytest.raises(ConfigError, match=message):
            untrained_pipeline(tmp_path / f"refused-{index}", preprocessing=prep, model=refused, data=data)


def test_a_word_the_language_model_lacks_takes_another_casing_of_it_or_the_unknown_row():
    from nlp_lstm.preprocessing.vocab import OOV, PAD, Vocabulary
    from nlp_lstm.tasks.transfer import _rows_by_token

    source = Vocabulary([PAD, OOV, "the", "Paris", "NATO", "Apple", "apple"])
    # itself first ("apple"), then lowercased ("The"), Capitalized ("paris"), UPPER ("nato"); else unknown
    assert _rows_by_token(source, [PAD, OOV, "paris", "nato", "apple", "The", "zyzzyva"]) == [0, 1, 3, 4, 6, 2, 1]


def test_a_language_model_learns_over_pretrained_vectors_and_hands_its_layers_to_a_tagger_with_them(tmp_path: Path):
    """`model.embeddings` in a language model: its embedding starts from the vectors (kept fixed with
    trainable: false, the tied output too), so that a tagger over the same vectors gets recurrent layers
    trained on the inputs it will feed them (NER "with GloVe" from an LM)."""
    import keras

    from nlp_lstm.config import load_config
    from nlp_lstm.errors import ConfigError
    from nlp_lstm.models.language_model import language_model_layer

    rng = np.random.default_rng(0)
    table = {word: rng.normal(size=6).round(3) for word in ("the", "near", "library", "baker", "london")}
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in table.items()), encoding="utf-8")
    model = (
        f"model: {{embeddings: {{path: {vectors}, trainable: false}}, softmax: adaptive, adaptive_cutoffs: [20], "
        "rnn: {units: 12, layers: 1, bidirectional: false}}"
    )
    task, pipeline = untrained_pipeline(tmp_path, model=model)
    network = language_model_layer(pipeline.model)
    vocab = pipeline.units.vocab
    assert network.embedding_dim == 6 and task.pretrained_words_found == 4  # "london" is not in the text
    embedding = keras.ops.convert_to_numpy(network.embedding.embeddings)
    for word in ("the", "near", "library", "baker"):
        np.testing.assert_allclose(embedding[vocab.index[word]], table[word], rtol=1e-6)
    assert not any(v.path == network.embedding.embeddings.path for v in pipeline.model.trainable_weights)
    inputs, targets = task.batches(pipeline, task.read_splits().train, shuffle=False)[0]
    pipeline.model.train_on_batch(inputs, targets)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(network.embedding.embeddings), embedding)
    folder = tmp_path / "lm"
    pipeline.save(folder)

    _, tagger = ner_task(
        tmp_path, f"model: {{init_from: {folder}, embeddings: {{path: {vectors}}}, rnn: {{units: 12, layers: 1}}}}"
    )
    forward = tagger.model.get_layer("encoder").directions(0)[0]
    lm_kernel, *lm_rest = (keras.ops.convert_to_numpy(w) for w in network.encoder.directions(0)[0].weights)
    kernel, *rest = (keras.ops.convert_to_numpy(w) for w in forward.weights)
    np.testing.assert_array_equal(kernel[:6], lm_kernel)  # the vectors' rows; char and casing inputs follow
    for lm_weight, weight in zip(lm_rest, rest):
        np.testing.assert_array_equal(weight, lm_weight)
    tagger_vocab = tagger.word_inputs.text_encoder.vocab
    tagger_embedding = keras.ops.convert_to_numpy(tagger.model.get_layer("embedding").embeddings)
    np.testing.assert_allclose(tagger_embedding[tagger_vocab.index["the"]], table["the"], rtol=1e-6)

    for override, expected in (
        ("preprocessing.level=char", "pretrained word vectors need preprocessing.level: word"),
        ("model.embeddings.extend_vocab=10", "extend_vocab: a language model predicts"),
        (f"model.init_from={folder}", "embeddings and init_from"),
    ):
        with pytest.raises(ConfigError, match=expected):
            load_config(tmp_path / "lm.yaml", [override])
