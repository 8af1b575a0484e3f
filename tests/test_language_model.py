"""The language model: stream batching, perplexity, carried states, sampling, saving and the CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, run_cli

SAMPLE = REPO / "data" / "sample" / "language_model"


def tiny_config(tmp_path: Path, **sections: str):
    """A small language-model config over the sample text (`sections`: YAML blocks that replace defaults)."""
    from nlp_lstm.config import load_config

    blocks = {
        "data": f"data: {{train: {SAMPLE / 'train.txt'}, validation: {SAMPLE / 'validation.txt'}, "
        f"test: {SAMPLE / 'test.txt'}}}",
        "preprocessing": "preprocessing: {tokenizer: whitespace, lowercase: true, sequence_length: 12}",
        "model": "model: {embedding_dim: 8, rnn: {units: 12, layers: 2, bidirectional: false}}",
        "training": "training: {epochs: 1, batch_size: 4, seed: 3}",
        **sections,
    }
    path = tmp_path / "lm.yaml"
    path.write_text(
        "task: language_model\n"
        + "\n".join(blocks.values())
        + f"\ntracking: {{uri: 'sqlite:///{tmp_path / 'mlflow.db'}', experiment: tests}}\noutput_dir: {tmp_path / 'runs'}\n",
        encoding="utf-8",
    )
    return path, load_config(path)


def untrained_pipeline(tmp_path: Path, **sections: str):
    from nlp_lstm.tasks import get_task

    _, config = tiny_config(tmp_path, **sections)
    task = get_task("language_model")(config)
    return task, task.build_pipeline(task.read_splits().train)


@pytest.mark.parametrize("rows, steps", [(1, 5), (3, 4), (4, 7), (7, 100)])
def test_stream_batches_predict_every_unit_once_in_order(rows: int, steps: int):
    from nlp_lstm.preprocessing.streams import StreamBatches, unit_stream

    stream = unit_stream([[5, 6, 7], [], [8, 9, 10, 11, 12], [13]], end_id=2)
    batches = StreamBatches(stream, batch_size=rows, sequence_length=steps)
    inputs = np.concatenate([batches[i][0] for i in range(len(batches))], axis=1)
    targets = np.concatenate([batches[i][1] for i in range(len(batches))], axis=1)
    assert all(batches[i][0].shape[0] == rows and batches[i][0].shape[1] <= steps for i in range(len(batches)))
    # Row after row, the batches read the stream contiguously: each target is the unit after its input.
    flat_inputs, flat_targets = inputs.reshape(-1), targets.reshape(-1)
    predicted = flat_targets != 0
    assert flat_targets[predicted].tolist() == stream[1:].tolist()  # every unit but the first, once, in order
    assert flat_inputs[predicted].tolist() == stream[:-1].tolist()
    assert batches.num_examples == len(stream) - 1 == int(batches.lengths.sum())


def test_a_uniform_model_has_the_vocabulary_size_as_perplexity(tmp_path: Path):
    for mode in ("stream", "lines"):
        _, pipeline = untrained_pipeline(
            tmp_path, preprocessing=f"preprocessing: {{tokenizer: whitespace, lowercase: true, mode: {mode}}}"
        )
        pipeline.model.set_weights([np.zeros_like(w) for w in pipeline.model.get_weights()])
        metrics = pipeline.evaluate(SAMPLE / "validation.txt").metrics
        assert metrics["perplexity"] == pytest.approx(len(pipeline.units.vocab), rel=1e-5), mode
        assert metrics["bits_per_char"] == pytest.approx(
            metrics["units"] * math.log2(len(pipeline.units.vocab)) / metrics["characters"], rel=1e-5
        )
        score = pipeline.score(["the baker sells a book ."])[0]
        assert score["units"] == 7 and score["perplexity"] == pytest.approx(len(pipeline.units.vocab), rel=1e-5)


@pytest.mark.backends
def test_the_carried_state_continues_a_stream_like_one_long_read(tmp_path: Path):
    """Two calls of the training model (state carried) equal one call over both halves; reset starts afresh."""
    import keras

    from nlp_lstm.models.language_model import build_language_model, build_step_model, language_model_layer
    from nlp_lstm.tasks.language_model.config import LanguageModelNetworkConfig

    network = LanguageModelNetworkConfig(
        embedding_dim=6,
        embedding_dropout=0.2,
        input_dropout=0.2,
        output_dropout=0.2,
        rnn={"units": 5, "layers": 2, "dropout": 0.1},
    )
    keras.utils.set_random_seed(0)
    model = build_language_model(20, network, carry_batch_size=2)
    ids = np.array([[2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13]], dtype="int32")
    whole = model.predict_on_batch(ids)
    language_model_layer(model).reset_carried_state()
    halves = np.concatenate([model.predict_on_batch(ids[:, :3]), model.predict_on_batch(ids[:, 3:])], axis=1)
    np.testing.assert_allclose(halves, whole, atol=1e-5)
    language_model_layer(model).reset_carried_state()
    np.testing.assert_allclose(model.predict_on_batch(ids), whole, atol=1e-6)
    step = build_step_model(model)
    zeros = [np.zeros((2, size), "float32") for size in language_model_layer(model).state_sizes]
    logits, *states = step.predict_on_batch([ids[:, :4], *zeros])
    rest, *_ = step.predict_on_batch([ids[:, 4:], *states])
    np.testing.assert_allclose(np.concatenate([logits, rest], axis=1), whole, atol=1e-5)


def test_sampling_is_seeded_and_temperature_zero_is_greedy(tmp_path: Path):
    from nlp_lstm.tasks.language_model.task import sample_next

    _, pipeline = untrained_pipeline(tmp_path)
    prompts = ["the baker", "the teachers", ""]
    greedy = pipeline.generate(prompts, max_tokens=8, temperature=0)
    assert pipeline.generate(prompts, max_tokens=8, temperature=1e-6, seed=1) == greedy
    assert pipeline.generate(prompts, max_tokens=8, top_k=1, seed=2) == greedy
    sampled = pipeline.generate(prompts, max_tokens=8, temperature=1.5, seed=7)
    assert pipeline.generate(prompts, max_tokens=8, temperature=1.5, seed=7) == sampled
    rng = np.random.default_rng(0)
    logits = np.array([5.0, 1.0, 3.0, 2.9, -1.0])
    assert sample_next(logits, rng, temperature=0, top_k=0, top_p=1.0) == 2  # padding (id 0) is never drawn
    drawn = {sample_next(logits, rng, temperature=1.0, top_k=0, top_p=0.6) for _ in range(200)}
    assert drawn == {2, 3}  # the smallest set of units holding 60% of the mass (padding excluded)
    unknown_first = np.array([0.0, 9.0, 3.0, 2.9, -1.0])  # nor is the unknown unit (id 1), however likely
    assert sample_next(unknown_first, rng, temperature=0, top_k=0, top_p=1.0) == 2
    assert 1 not in {sample_next(unknown_first, rng, temperature=5.0, top_k=0, top_p=1.0) for _ in range(200)}
    from nlp_lstm.errors import UsageError

    for bad in ({"top_p": 0}, {"seed": -1}, {"seed": 1.5}, {"max_tokens": 2.5}, {"top_k": True}):
        with pytest.raises(UsageError, match="generate takes whole numbers"):
            pipeline.generate("the", **bad)
    for temperature in (1e-300, 1e300):  # no overflow, no NaN: greedy-like, or near uniform
        assert 2 <= sample_next(logits, rng, temperature=temperature, top_k=0, top_p=1.0) <= 4
    with pytest.raises(UsageError, match="finite"):
        sample_next(logits, rng, temperature=float("inf"), top_k=0, top_p=1.0)


def test_units_of_every_level_read_back(tmp_path: Path):
    from nlp_lstm.preprocessing.units import UnitEncoder

    _, config = tiny_config(tmp_path)
    texts = ["The baker sells a book.", "A quiet harbour, at noon!"]
    levels = (
        ("word", "spacy"),
        ("word", "whitespace"),
        ("char", "spacy"),
        ("subword", "spacy"),
        ("subword", "whitespace"),
    )
    for level, tokenizer in levels:
        prep = config.preprocessing.model_copy(update={"level": level, "tokenizer": tokenizer, "lowercase": False})
        prep.subwords.vocab_size = 60
        encoder = UnitEncoder.fit(texts * 20, prep)
        ids = encoder.encode(texts)
        decoded = [encoder.decode(i) for i in ids]
        expected = [" ".join(t.split()) for t in texts] if tokenizer == "whitespace" else texts
        assert decoded == expected, (level, tokenizer)
        prefix = len(encoder.encode(["The baker"])[0])
        assert "The baker" + encoder.continuation(ids[0][prefix:], "The baker") == expected[0], (level, tokenizer)
        encoder.save(tmp_path)
        assert [UnitEncoder.load(tmp_path).decode(i) for i in ids] == expected


def test_a_trained_language_model_scores_and_generates_alike_in_a_new_process(tmp_path: Path):
    path, _ = tiny_config(tmp_path)
    result = run_cli("run", str(path), "--set", "training.epochs=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test_perplexity" in result.stdout and "test_bits_per_char" in result.stdout
    import mlflow

    run_id = next(line for line in result.stdout.splitlines() if line.startswith("run id:")).split()[-1]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    history = {key: client.get_metric_history(run_id, key) for key in ("val_loss", "val_perplexity")}
    assert len(history["val_loss"]) == len(history["val_perplexity"]) == 2  # one validation pass gives both
    for loss, perplexity in zip(history["val_loss"], history["val_perplexity"]):
        assert loss.value == pytest.approx(math.log(perplexity.value), rel=1e-6)
    model_dir = Path(next(line for line in result.stdout.splitlines() if line.startswith("model saved:")).split()[-1])
    import nlp_lstm

    pipeline = nlp_lstm.load(model_dir)
    texts = ["the baker sells a book .", "the teachers walk to the market"]
    scores = pipeline.score(texts)
    continuation = pipeline.generate(["the baker"], max_tokens=6, seed=4)
    script = (
        "import json, sys, nlp_lstm; p = nlp_lstm.load(sys.argv[1]); "
        f"print(json.dumps([p.score({texts!r}), p.generate(['the baker'], max_tokens=6, seed=4)]))"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    fresh_scores, fresh_continuation = json.loads(fresh.stdout.strip().splitlines()[-1])
    for a, b in zip(scores, fresh_scores):
        assert a["units"] == b["units"] and a["log_likelihood"] == pytest.approx(b["log_likelihood"], rel=1e-5)
    assert fresh_continuation == continuation

    generated = run_cli(
        "generate",
        str(model_dir),
        "--prompt",
        "the baker",
        "--prompt",
        "the miller",
        "--max-tokens",
        "5",
        "--seed",
        "1",
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    lines = generated.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("the baker") and lines[1].startswith("the miller")

    from tests.helpers.mlflow_models import post, scoring_server

    prompts = ["the baker", "", "the teachers walk"]
    seeded = {"max_tokens": 6, "temperature": 1.2, "top_k": 20, "seed": 5}
    with scoring_server(f"runs:/{run_id}/pipeline", f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path) as url:
        for payload in (
            {"inputs": prompts, "params": seeded},
            {"dataframe_split": {"columns": ["text"], "data": [[t] for t in prompts]}, "params": seeded},
        ):
            assert post(url, payload) == (200, {"predictions": pipeline.generate(prompts, **seeded)})
        for bad in ({"temperature": -1.0}, {"seed": -3}):
            status, answer = post(url, {"inputs": prompts, "params": bad})
            assert status == 400 and next(iter(bad)) in answer["message"].strip().splitlines()[-1], answer
    metrics = json.loads(run_cli("evaluate", str(model_dir), "--data", str(SAMPLE / "test.txt")).stdout)
    assert metrics["perplexity"] == pytest.approx(
        json.loads((model_dir / "metrics.json").read_text())["test_perplexity"], rel=1e-5
    )


def test_language_model_mistakes_are_named(tmp_path: Path):
    from nlp_lstm.errors import ConfigError, UsageError

    _, lines_model = untrained_pipeline(
        tmp_path, preprocessing="preprocessing: {tokenizer: whitespace, mode: lines, sequence_length: 12}"
    )
    assert lines_model.score(["the baker"])[0]["units"] == 3
    with pytest.raises(UsageError, match="text 1 is blank"):  # lines mode never read a blank line
        lines_model.score(["the baker", "  "])

    with pytest.raises(ConfigError) as exc:
        tiny_config(tmp_path, model="model: {rnn: {bidirectional: true}}")
    assert "model.rnn" in exc.value.problems[0] and "left to right" in exc.value.problems[0]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    path, _ = tiny_config(tmp_path)
    result = run_cli("run", str(path), "--set", f"data.validation={empty}")
    assert result.returncode == 3 and f"{empty}: no text" in result.stderr
    assert not (tmp_path / "runs").exists()  # a data error leaves no folder behind


def test_a_line_longer_than_max_length_is_cut_without_a_false_end(tmp_path: Path):
    _, pipeline = untrained_pipeline(
        tmp_path, preprocessing="preprocessing: {tokenizer: whitespace, mode: lines, max_length: 3}"
    )
    end = pipeline.units.end_id
    batches = pipeline.line_batches(["the baker sells a book", "a map"], batch_size=2)
    (inputs, targets) = batches[0]
    rows = {tuple(row[row != 0]): tuple(t[t != 0]) for row, t in zip(inputs, targets)}
    long_ids = pipeline.units.encode(["the baker sells a book"])[0]
    short_ids = pipeline.units.encode(["a map"])[0]
    assert rows[(end, *long_ids[:3])] == tuple(long_ids[:4])  # the cut line's last target: the next word, not END
    assert rows[(end, *short_ids)] == (*short_ids, end)


def test_validation_and_test_text_split_off_as_blocks_at_the_end(tmp_path: Path):
    from nlp_lstm.config import load_config
    from nlp_lstm.tasks import get_task

    path, _ = tiny_config(tmp_path)
    config = load_config(path, {"data.validation": None, "data.test": None})
    splits = get_task("language_model")(config).read_splits()
    lines = (SAMPLE / "train.txt").read_text(encoding="utf-8").splitlines()
    assert splits.train.texts + splits.validation.texts + splits.test.texts == lines  # running text stays in order
    assert splits.validation.lines[0] == splits.train.lines[-1] + 1


def test_a_partial_rnn_section_keeps_the_language_model_defaults(tmp_path: Path):
    _, config = tiny_config(tmp_path, model="model: {rnn: {units: 16}}")
    assert config.model.rnn.units == 16 and not config.model.rnn.bidirectional and config.model.rnn.layers == 2


def test_the_saved_model_carries_no_state_and_takes_any_number_of_rows(tmp_path: Path):
    import keras

    import nlp_lstm  # noqa: F401  (registers the layers)

    _, pipeline = untrained_pipeline(tmp_path)
    pipeline.save(tmp_path / "folder")
    model = keras.saving.load_model(tmp_path / "folder" / "model.keras", compile=False)
    assert not [w for w in model.weights if "carried" in w.path]
    assert pipeline.num_parameters == model.count_params()
    ids = np.array([[2, 5, 6], [2, 7, 8], [2, 9, 10]], dtype="int32")
    first, second = model.predict_on_batch(ids), model.predict_on_batch(ids)
    np.testing.assert_allclose(first, second)
    np.testing.assert_allclose(first, pipeline.export_model().predict_on_batch(ids), atol=1e-6)


def test_generate_refuses_a_model_of_another_task():
    fixture = REPO / "tests" / "fixtures" / "saved_pipelines_v1" / "translation"
    result = run_cli("generate", str(fixture), "--prompt", "Ein Mann")
    assert result.returncode == 3 and "generate needs a language model" in result.stderr
    result = run_cli("generate", str(fixture), "--prompt", "Ein Mann", "--seed", "-1")
    assert result.returncode == 2 and "--seed" in result.stderr and "Traceback" not in result.stderr


def test_the_folder_of_an_unfinished_stream_run_predicts_with_its_best_epoch(tmp_path: Path):
    """Its checkpoint comes from the training model (with carried states); the folder's model has none."""
    import json as json_module

    import nlp_lstm
    from nlp_lstm.model_dir import BEST_WEIGHTS, CHECKPOINTS, MANIFEST

    _, pipeline = untrained_pipeline(tmp_path)
    folder = tmp_path / "folder"
    pipeline.save(folder, status="training")
    (folder / CHECKPOINTS).mkdir()
    pipeline.model.save_weights(folder / CHECKPOINTS / BEST_WEIGHTS)
    assert json_module.loads((folder / MANIFEST).read_text())["status"] == "training"
    with pytest.warns(UserWarning, match="unfinished run"):
        loaded = nlp_lstm.load(folder)
    assert loaded.score(["the baker ."])[0]["log_likelihood"] == pytest.approx(
        pipeline.score(["the baker ."])[0]["log_likelihood"], rel=1e-5
    )


def test_the_served_model_generates_like_the_pipeline_and_refuses_bad_options(tmp_path: Path):
    from mlflow.exceptions import MlflowException

    from nlp_lstm.tracking.pyfunc import PipelinePyfunc

    _, pipeline = untrained_pipeline(tmp_path)
    wrapper = PipelinePyfunc()
    wrapper.pipeline = pipeline
    prompts = ["the baker", "the miller"]
    params = {"max_tokens": 5, "temperature": 0.0, "top_k": 0}
    assert wrapper.predict(None, prompts, params) == pipeline.generate(prompts, max_tokens=5, temperature=0)
    seeded = {"max_tokens": 6, "temperature": 1.5, "seed": 11}
    assert wrapper.predict(None, prompts, seeded) == pipeline.generate(prompts, **seeded)
    for bad in ({"temperature": -1.0}, {"top_k": -2}, {"max_tokens": 0}, {"seed": -1}, {"seed": 1.5}):
        with pytest.raises(MlflowException) as exc:
            wrapper.predict(None, prompts, bad)
        assert exc.value.get_http_status_code() == 400
    pipeline.config.generation.top_k = 20  # top_k 0 (every unit) is taken whatever the model's default
    assert wrapper.predict(None, prompts, params) == pipeline.generate(prompts, max_tokens=5, temperature=0)
    with pytest.raises(MlflowException, match="max_tokens must be a whole number >= 1"):
        wrapper.predict(None, prompts, {"max_tokens": 0})


@pytest.mark.backends
@pytest.mark.parametrize("tie_embeddings", [True, False])
def test_the_sampled_softmax_loss_equals_a_brute_force_one_over_the_same_draws(tie_embeddings: bool):
    import keras

    from nlp_lstm.models.language_model import RecurrentLanguageModel

    vocab, drawn = 30, 12
    network = RecurrentLanguageModel(
        vocab, 6, {"units": 10, "num_layers": 1}, tie_embeddings=tie_embeddings, seed=5, name="language_model"
    )
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, (3, 5)).astype("int32")
    targets = rng.integers(1, vocab, (3, 5)).astype("int32")
    targets[2, 3:] = 0  # padding: not a target
    features = np.asarray(network(ids, return_features=True, training=False))
    state = np.array(keras.ops.convert_to_numpy(network.sampler.state.value))
    loss = float(keras.ops.convert_to_numpy(network.sampled_softmax_loss(features, targets, drawn)))

    network.sampler.state.assign(state)  # the same draws again
    uniform = keras.ops.convert_to_numpy(keras.random.uniform((drawn,), seed=network.sampler))
    candidates = vocab - 1
    sampled = np.clip(np.floor(np.exp(uniform * math.log(candidates + 1))).astype(int) - 1, 0, candidates - 1) + 1
    if tie_embeddings:
        matrix, bias = keras.ops.convert_to_numpy(network.embedding.embeddings), network.output_bias
    else:
        matrix, bias = keras.ops.convert_to_numpy(network.output_layer.kernel).T, network.output_layer.bias
    bias = keras.ops.convert_to_numpy(bias)

    def log_expected_count(unit: int) -> float:  # log-uniform over ranks 0.. (= ids 1..), times the draws
        rank = unit - 1
        return math.log(drawn * math.log((rank + 2) / (rank + 1)) / math.log(candidates + 1))

    losses = []
    for feature, target in zip(features.reshape(-1, features.shape[-1]), targets.reshape(-1)):
        if target == 0:
            continue
        logits = [feature @ matrix[target] + bias[target] - log_expected_count(target)]
        logits += [feature @ matrix[u] + bias[u] - log_expected_count(u) for u in sampled if u != target]
        logits = np.asarray(logits, dtype="float64")
        losses.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[0])
    assert loss == pytest.approx(float(np.mean(losses)), rel=1e-4)


def _adaptive_reference(layer, features: np.ndarray, embeddings: np.ndarray | None) -> np.ndarray:
    """Log-probabilities of every unit from the layer's weights in NumPy (float64): P(head word), or
    P(cluster) * P(word | cluster) from a softmax over the cluster's own units."""
    import keras

    def value(variable) -> np.ndarray:
        return keras.ops.convert_to_numpy(variable).astype("float64")

    def log_softmax(x: np.ndarray) -> np.ndarray:
        x = x - x.max(axis=-1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))

    bounds, bias = layer.bounds, value(layer.word_bias)
    head_vectors = embeddings[: bounds[0]] if layer.tied else value(layer.head_kernel).T
    head = np.concatenate(
        [
            features @ head_vectors.T + bias[: bounds[0]],
            features @ value(layer.cluster_kernel) + value(layer.cluster_bias),
        ],
        axis=-1,
    )
    head = log_softmax(head)
    parts = [head[:, : bounds[0]]]
    for i in range(len(layer.cutoffs)):
        kernel = value(layer.tail_kernels[i])
        vectors = embeddings[bounds[i] : bounds[i + 1]] @ kernel if layer.tied else kernel
        logits = (features @ value(layer.tail_projections[i])) @ vectors.T + bias[bounds[i] : bounds[i + 1]]
        parts.append(head[:, bounds[0] + i : bounds[0] + i + 1] + log_softmax(logits))
    return np.concatenate(parts, axis=-1)


@pytest.mark.backends
@pytest.mark.parametrize("tied", [True, False])
def test_the_adaptive_softmax_is_a_distribution_and_its_loss_the_exact_nll(tied: bool, monkeypatch):
    """The adaptive softmax's log-probabilities equal a NumPy computation from its weights and sum to one;
    its training loss (tails only for their own targets, or masked as on JAX) is their mean NLL."""
    import keras

    from nlp_lstm.models import adaptive_softmax
    from nlp_lstm.models.adaptive_softmax import AdaptiveSoftmax

    vocab, dim = 40, 8
    rng = np.random.default_rng(4)
    layer = AdaptiveSoftmax(vocab, [7, 19], factor=2.0, tied=tied)
    embeddings = rng.normal(size=(vocab, dim)).astype("float32") if tied else None
    features = rng.normal(size=(3, 5, dim)).astype("float32")
    layer.build(features.shape)
    layer.word_bias.assign(rng.normal(size=(vocab,)).astype("float32"))  # not all zero: each bias must count
    log_probs = keras.ops.convert_to_numpy(layer(features, embeddings=embeddings))
    assert log_probs.shape == (3, 5, vocab) and layer.tail_dims(dim) == [4, 2]
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=-1), 1.0, rtol=1e-5)
    flat = features.reshape(-1, dim).astype("float64")
    reference = _adaptive_reference(layer, flat, None if embeddings is None else embeddings.astype("float64"))
    np.testing.assert_allclose(log_probs.reshape(-1, vocab), reference, rtol=1e-4, atol=1e-5)

    targets = np.array([[1, 3, 6, 7, 18], [19, 39, 25, 2, 0], [8, 30, 0, 0, 0]], dtype="int32")  # every cluster
    real = targets.reshape(-1) != 0
    expected = -reference[np.arange(len(flat)), targets.reshape(-1)][real].mean()
    for dynamic in (True, False):
        monkeypatch.setattr(adaptive_softmax, "_dynamic_shapes", lambda dynamic=dynamic: dynamic)
        if dynamic and keras.backend.backend() == "jax":
            continue  # jit needs fixed shapes; eager JAX would take them, but the masked path is JAX's
        loss = float(keras.ops.convert_to_numpy(layer.loss(features, targets, embeddings=embeddings)))
        assert loss == pytest.approx(expected, rel=1e-5), dynamic


@pytest.mark.backends
def test_an_adaptive_language_model_reads_its_clusters_in_few_dimensions():
    """In the language model the adaptive softmax is tied to the embedding (through a projection when the top
    layer is wider), and its vocabulary-indexed weights are the embedding and the word biases."""
    import keras

    from nlp_lstm.models.language_model import RecurrentLanguageModel

    network = RecurrentLanguageModel(
        60, 6, {"units": 10, "num_layers": 1}, adaptive_cutoffs=[8, 30], adaptive_factor=3.0, name="language_model"
    )
    ids = np.random.default_rng(0).integers(1, 60, (2, 7)).astype("int32")
    log_probs = keras.ops.convert_to_numpy(network(ids))
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=-1), 1.0, rtol=1e-5)
    assert [tuple(w.shape) for w in network.adaptive.tail_projections] == [(6, 2), (6, 1)]
    assert network.projection is not None and network.adaptive.tied
    assert [(v.path, axis) for v, axis in network.vocabulary_weights()] == [
        (network.embedding.embeddings.path, 0),
        (network.adaptive.word_bias.path, 0),
    ]
    features = network(ids, return_features=True, training=False)
    loss = float(keras.ops.convert_to_numpy(network.training_loss(features, ids, None)))
    assert loss > 0 and math.isfinite(loss)


@pytest.mark.backends
def test_weight_drop_masks_the_recurrent_kernel_in_training_only():
    import keras

    from nlp_lstm.models.encoders import RecurrentEncoder

    x = np.random.default_rng(1).normal(size=(2, 6, 4)).astype("float32")
    for cell in ("lstm", "gru", "cifg_lstm"):
        plain = RecurrentEncoder(cell=cell, units=5, bidirectional=False, fused="auto")
        dropped = RecurrentEncoder(cell=cell, units=5, bidirectional=False, fused="auto", weight_drop=0.5)
        plain(x), dropped(x)
        dropped.set_weights(plain.get_weights())
        kernel = dropped.recurrent_layers[0][0].cell.recurrent_kernel
        np.testing.assert_allclose(dropped(x, training=False), plain(x, training=False), atol=1e-6)
        first, second = dropped(x, training=True), dropped(x, training=True)
        assert not np.allclose(first, plain(x, training=True)) and not np.allclose(first, second), cell
        assert dropped.recurrent_layers[0][0].cell.recurrent_kernel is kernel  # the variable is back
        assert isinstance(kernel, keras.Variable)
        restored = keras.layers.deserialize(keras.layers.serialize(dropped))
        assert restored.weight_drop == 0.5


@pytest.mark.parametrize("softmax", ["sampled: {num_sampled: 20}", "adaptive: {adaptive_cutoffs: [10, 30]}"])
def test_a_sampled_or_adaptive_softmax_run_trains_saves_and_resumes_like_a_full_one(tmp_path: Path, softmax: str):
    """softmax: sampled or adaptive, with weight drop: the loss falls, the saved model (the full softmax over
    the sampled model's weights; the adaptive one as trained) gives the pipeline's perplexity, and an
    unfinished folder reads its checkpoint."""
    import nlp_lstm
    from nlp_lstm.model_dir import BEST_WEIGHTS, CHECKPOINTS
    from nlp_lstm.models.language_model import FeatureLossTraining, language_model_layer

    kind, settings = softmax.split(": ", 1)
    model = (
        f"model: {{embedding_dim: 8, softmax: {kind}, {settings[1:-1]}, "
        "rnn: {units: 12, layers: 2, bidirectional: false, weight_drop: 0.3}}"
    )
    task, pipeline = untrained_pipeline(tmp_path, model=model)
    assert isinstance(pipeline.model, FeatureLossTraining)
    assert (language_model_layer(pipeline.model).adaptive is not None) == (kind == "adaptive")
    batches = task.batches(pipeline, task.read_splits().train, shuffle=True)
    history = pipeline.model.fit(batches.as_keras_input(), epochs=3, verbose=0).history["loss"]
    assert history[-1] < history[0]
    before = pipeline.evaluate(SAMPLE / "validation.txt").metrics["perplexity"]
    assert before < len(pipeline.units.vocab)
    # the compiled scorer's NLL is the log-softmax of the step model's logits at each next unit
    end = pipeline.units.end_id
    for text, score in zip(
        ["the baker sells a book .", "the teachers walk"],
        pipeline.score(["the baker sells a book .", "the teachers walk"]),
    ):
        ids = [end, *pipeline.units.encode([text])[0]]
        logits, _ = pipeline._run(np.asarray([ids], "int32"), pipeline._zero_states(1))
        logits = logits[0].astype("float64")
        log_probs = logits - logits.max(-1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
        expected = sum(log_probs[t, unit] for t, unit in enumerate([*ids[1:], end]))
        assert score["log_likelihood"] == pytest.approx(expected, rel=1e-5) and score["units"] == len(ids)
    pipeline.save(tmp_path / "done")
    assert nlp_lstm.load(tmp_path / "done").evaluate(SAMPLE / "validation.txt").metrics["perplexity"] == (
        pytest.approx(before, rel=1e-5)
    )
    folder = tmp_path / "unfinished"
    pipeline.save(folder, status="training")
    (folder / CHECKPOINTS).mkdir()
    pipeline.model.save_weights(folder / CHECKPOINTS / BEST_WEIGHTS)
    with pytest.warns(UserWarning, match="unfinished run"):
        loaded = nlp_lstm.load(folder)
    assert loaded.evaluate(SAMPLE / "validation.txt").metrics["perplexity"] == pytest.approx(before, rel=1e-5)
