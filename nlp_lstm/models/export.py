"""A trained Keras tagger's weights as the NumPy arrays `nlp_lstm.inference.tagger.NumpyTagger` computes with.

Only what the NumPy forward pass reproduces exactly is exported: LSTM or GRU encoders (tanh/sigmoid, with
biases, no weight dropping), character CNN or BiLSTM features, casing, a CRF or softmax decoder, float32
weights, and no layer besides those. Anything else raises `NotExportable` naming it, and the Keras model
stays the only way to run it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from nlp_lstm.inference.tagger import DIRECTIONS, TaggerArrays
from nlp_lstm.models.crf import CRF
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.features import CharBiLSTM
from nlp_lstm.models.layers import CharCNN
from nlp_lstm.models.tagger import unknown_tagger_layer


class NotExportable(ValueError):
    """The model holds something the NumPy forward pass does not compute."""


def _float(variable) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float32)


def _encoder_arrays(encoder: RecurrentEncoder, prefix: str, arrays: dict[str, np.ndarray]) -> None:
    unsupported = {
        "cell": encoder.cell not in ("lstm", "gru"),
        "weight_drop": bool(encoder.weight_drop),
        "activation": encoder.activation != "tanh",
        "recurrent_activation": encoder.recurrent_activation != "sigmoid",
        "use_bias": not encoder.use_bias,
    }
    for setting, refused in unsupported.items():
        if refused:
            raise NotExportable(f"{encoder.name}: {setting} {getattr(encoder, setting)!r} is not exported")
    for index in range(encoder.num_layers):
        for direction, rnn in zip(DIRECTIONS, encoder.directions(index)):
            cell = rnn.cell
            if encoder.cell == "gru" and not cell.reset_after:
                raise NotExportable(f"{encoder.name}: a GRU without reset_after is not exported")
            name = f"{prefix}_{index}_{direction}" if prefix == "encoder" else f"{prefix}_{direction}"
            arrays[f"{name}_kernel"] = _float(cell.kernel)
            arrays[f"{name}_recurrent_kernel"] = _float(cell.recurrent_kernel)
            arrays[f"{name}_bias"] = _float(cell.bias)


def _check_layers(model: keras.Model) -> None:
    unknown = unknown_tagger_layer(model)
    if unknown is not None:
        raise NotExportable(f"layer {unknown} is not exported")
    if any(layer.dtype_policy.compute_dtype != "float32" for layer in model.layers if layer.weights):
        raise NotExportable("mixed precision models are not exported (the NumPy pass computes in float32)")
    dense = model.get_layer("tag_scores")
    if dense.activation is not keras.activations.linear or not dense.use_bias:
        raise NotExportable("tag_scores: only a linear layer with a bias is exported")
    if "word_features" in {layer.name for layer in model.layers}:
        # the NumPy pass concatenates word, character and casing features in this order
        order = [t._keras_history.operation.name for t in model.get_layer("word_features").input]
        if order != sorted(order, key=["embedding", "char_cnn", "char_lstm_features", "casing_embedding"].index):
            raise NotExportable(f"word_features: inputs in the order {order} are not exported")
    if "char_cnn" in {layer.name for layer in model.layers}:
        for conv in [model.get_layer("char_cnn").conv, *model.get_layer("char_cnn").wider_convs]:
            if (conv.strides, conv.dilation_rate, conv.padding, conv.activation) != (
                (1,),
                (1,),
                "same",
                keras.activations.tanh,
            ):
                raise NotExportable(f"{conv.name}: only stride 1, dilation 1, same padding and tanh are exported")


def export_tagger(model: keras.Model) -> TaggerArrays:
    """The arrays and architecture of a model `build_sequence_tagger` built (trained or not)."""
    _check_layers(model)
    by_name = {layer.name: layer for layer in model.layers}
    arrays = {"word_embedding": _float(by_name["embedding"].embeddings)}
    spec: dict = {"char": None, "casing": "casing_embedding" in by_name}
    if "char_cnn" in by_name:
        char: CharCNN = by_name["char_cnn"]
        arrays["char_embedding"] = _float(char.embedding.embeddings)
        convs = [char.conv, *char.wider_convs]
        for i, conv in enumerate(convs):
            arrays[f"char_conv_{i}_kernel"], arrays[f"char_conv_{i}_bias"] = _float(conv.kernel), _float(conv.bias)
        spec["char"] = {"kind": "cnn", "widths": [int(conv.kernel.shape[0]) for conv in convs]}
    elif "char_lstm_features" in by_name:
        char_lstm: CharBiLSTM = by_name["char_lstm_features"]
        arrays["char_embedding"] = _float(char_lstm.embedding.embeddings)
        _encoder_arrays(char_lstm.encoder, "char", arrays)
        spec["char"] = {"kind": "lstm"}
    if spec["casing"]:
        arrays["casing_embedding"] = _float(by_name["casing_embedding"].embeddings)
    encoder: RecurrentEncoder = by_name["encoder"]
    _encoder_arrays(encoder, "encoder", arrays)
    spec.update(cell=encoder.cell, layers=encoder.num_layers, bidirectional=encoder.bidirectional)
    dense: layers.Dense = by_name["tag_scores"]
    arrays["tag_scores_kernel"], arrays["tag_scores_bias"] = _float(dense.kernel), _float(dense.bias)
    crf = by_name.get("crf")
    spec["decoder"] = "crf" if isinstance(crf, CRF) else "softmax"
    if isinstance(crf, CRF):
        transitions, start, end = crf._score_tables()  # the constraints added, as decoding sees them
        arrays.update(crf_transitions=_float(transitions), crf_start=_float(start), crf_end=_float(end))
    return TaggerArrays(spec, arrays)
