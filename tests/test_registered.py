"""Every Keras object nlp_lstm registers (layers, cells, losses) is registered by `import nlp_lstm` alone, has a
complete `get_config` (every constructor argument) and round-trips through Keras's serialization."""

from __future__ import annotations

import copy
import inspect
import subprocess
import sys

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.backends


def _examples() -> dict[str, object]:
    """One instance of each registered class, with non-default arguments where there are any."""
    from nlp_lstm.models.adaptive_softmax import AdaptiveSoftmax
    from nlp_lstm.models.cells import CIFGLSTMCell, MultiplicativeLSTMCell, PeepholeLSTMCell
    from nlp_lstm.models.crf import CRF
    from nlp_lstm.models.encoders import RecurrentEncoder
    from nlp_lstm.models.features import CharBiLSTM
    from nlp_lstm.models.language_model import RecurrentLanguageModel, WordTypeDropout
    from nlp_lstm.models.layers import AttentionPooling, CharCNN, MaskedPooling, WordDropout
    from nlp_lstm.models.losses import ClassLoss
    from nlp_lstm.models.search import TranslationSearch
    from nlp_lstm.models.seq2seq import Attention, AttentionDecoder, SequenceLoss, SourceEncoder
    from nlp_lstm.models.tagger import CRFLoss, MaskedTagLoss, TagDecoder
    from nlp_lstm.models.weight_drop import WeightDropGRU, WeightDropLSTM, WeightDropRNN
    from nlp_lstm.training.layer_rates import (
        LayerRateAdam,
        LayerRateAdamW,
        LayerRateNadam,
        LayerRateRMSprop,
        LayerRates,
        LayerRateSGD,
    )

    rates = LayerRates(
        {"encoder/kernel": 2, "head/kernel": 0}, pretrained={"encoder/kernel"}, freeze_epochs=1, decay=2.6
    )

    def decoder():
        return AttentionDecoder(
            vocab_size=12,
            embedding_dim=4,
            units=6,
            num_layers=2,
            attention="additive",
            input_feeding=False,
            dropout=0.2,
            tie_embeddings=False,
            name="decoder",
        )

    crf = CRF(3, allowed_transitions=[(0, 1), (1, 2)], allowed_start=[0, 1], allowed_end=[2], name="crf")
    return {
        "AdaptiveSoftmax": AdaptiveSoftmax(40, [6, 20], factor=2.0, tied=True),
        "Attention": Attention(score="additive", units=5),
        "AttentionDecoder": decoder(),
        "AttentionPooling": AttentionPooling(units=7),
        "CIFGLSTMCell": CIFGLSTMCell(4, recurrent_dropout=0.1),
        "PeepholeLSTMCell": PeepholeLSTMCell(4, use_bias=False),
        "MultiplicativeLSTMCell": MultiplicativeLSTMCell(4, activation="relu"),
        "CRF": crf,
        "CRFLoss": CRFLoss(crf, name="my_crf_loss"),
        "CharBiLSTM": CharBiLSTM(vocab_size=20, embedding_dim=5, units=3),
        "ClassLoss": ClassLoss(name="class_loss"),
        "CharCNN": CharCNN(vocab_size=20, embedding_dim=5, filters=3, kernel_size=[2, 4]),
        "MaskedPooling": MaskedPooling("mean"),
        "MaskedTagLoss": MaskedTagLoss(name="tags"),
        "RecurrentEncoder": RecurrentEncoder(
            "gru",
            4,
            num_layers=2,
            bidirectional=False,
            dropout=0.1,
            recurrent_dropout=0.2,
            activation="relu",
            recurrent_activation="hard_sigmoid",
            use_bias=False,
            unroll=True,
            return_final=True,
            fused="off",
            weight_drop=0.25,
        ),
        "RecurrentLanguageModel": RecurrentLanguageModel(
            vocab_size=15,
            embedding_dim=4,
            encoder={"cell": "gru", "units": 6, "num_layers": 2, "dropout": 0.1, "fused": "auto"},
            tie_embeddings=True,
            embedding_dropout=0.1,
            input_dropout=0.2,
            output_dropout=0.3,
            carry_batch_size=3,
            adaptive_cutoffs=[5, 9],
            adaptive_factor=2.0,
            seed=7,
        ),
        "SequenceLoss": SequenceLoss(label_smoothing=0.2),
        "SourceEncoder": SourceEncoder(
            vocab_size=12, embedding_dim=4, dropout=0.3, rnn={"cell": "lstm", "units": 3, "num_layers": 1}
        ),
        "TagDecoder": TagDecoder(crf),
        "TranslationSearch": TranslationSearch(
            decoder(),
            bos_id=2,
            eos_id=3,
            beam_size=4,
            length_penalty=0.6,
            max_length=30,
            max_length_ratio=1.5,
            max_length_offset=4,
            return_attention=True,
        ),
        "LayerRateAdam": LayerRateAdam(learning_rate=0.01, clipnorm=0.5, layer_rates=rates),
        "LayerRateAdamW": LayerRateAdamW(weight_decay=0.0, layer_rates=rates),
        "LayerRateNadam": LayerRateNadam(learning_rate=0.02, layer_rates=rates),
        "LayerRateRMSprop": LayerRateRMSprop(rho=0.8, layer_rates=rates),
        "LayerRateSGD": LayerRateSGD(learning_rate=0.1, momentum=0.9, layer_rates=rates),
        "WeightDropGRU": WeightDropGRU(5, weight_drop=0.3, weight_drop_seed=2, return_sequences=True),
        "WeightDropLSTM": WeightDropLSTM(5, weight_drop=0.4, weight_drop_seed=1, return_state=True),
        "WeightDropRNN": WeightDropRNN(CIFGLSTMCell(4, name="cell"), weight_drop=0.2, return_sequences=True),
        "WordDropout": WordDropout(rate=0.3, oov_id=1, seed=5, keep_first=True),
        "WordTypeDropout": WordTypeDropout(rate=0.2, vocab_size=30, seed=4),
    }


# Constructor arguments that are a live object the config names another way.
_STANDS_IN = {"CRFLoss": {"crf"}}  # the CRF layer is the model's: the config keeps its name (crf_layer)


def test_import_nlp_lstm_registers_every_object_without_importing_keras_itself():
    script = (
        "import sys, nlp_lstm; assert 'keras' not in sys.modules\n"
        "import keras\n"
        "print(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('nlp_lstm>')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    registered = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 (our own printout)
    assert registered == sorted(f"nlp_lstm>{name}" for name in _examples())


@pytest.mark.parametrize("name", sorted(_examples()))
def test_every_registered_object_round_trips_with_a_complete_config(name):
    obj = _examples()[name]
    assert keras.saving.get_registered_object(f"nlp_lstm>{name}") is type(obj)
    config = keras.saving.serialize_keras_object(obj)
    rebuilt = keras.saving.deserialize_keras_object(copy.deepcopy(config))  # RNN.from_config pops its "cell"
    assert type(rebuilt) is type(obj)
    assert keras.saving.serialize_keras_object(rebuilt) == config
    arguments = [
        p.name
        for p in inspect.signature(type(obj).__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    missing = set(arguments) - set(config["config"]) - _STANDS_IN.get(name, set())
    assert not missing, f"{name}.get_config() leaves out {sorted(missing)}"


def test_a_crf_loss_rebuilt_from_its_config_binds_to_the_model_or_refuses():
    from nlp_lstm.models.crf import CRF
    from nlp_lstm.models.tagger import CRFLoss

    inputs = keras.Input((None, 3))
    crf = CRF(3, name="crf")
    model = keras.Model(inputs, crf(inputs))
    scores = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    targets = np.array([[1, 2, 3, 0], [3, 3, 1, 1]], dtype="int32")
    expected = keras.ops.convert_to_numpy(CRFLoss(crf)(targets, scores))
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(CRFLoss(crf)))
    with pytest.raises(ValueError, match="holds no CRF layer: call loss.bind\\(model\\) \\(layer 'crf'\\)"):
        rebuilt(targets, scores)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rebuilt.bind(model)(targets, scores)), expected)
