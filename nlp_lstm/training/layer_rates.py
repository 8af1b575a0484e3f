"""Per-layer learning rates for fine-tuning a pretrained model (ULMFiT, Howard & Ruder 2018): the variables
taken from the pretrained model stay frozen while the new head trains for the first epochs, and afterwards
each layer learns at the rate of the layer above divided by a factor ("discriminative fine-tuning").

The optimizer keeps one scale variable per group of variables and multiplies its learning rate by it in
each variable's update; a callback sets the scales when an epoch starts. The scales are optimizer variables,
so the compiled train step reads them (no retracing) and a resume checkpoint carries them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
from keras import ops


@dataclass
class LayerRates:
    """Which variables learn how fast.

    Args:
        depth: per variable path, layers below the top (0: the head and every new layer above the encoder).
        pretrained: paths of the variables initialised from a pretrained model, frozen while
            `epoch < freeze_epochs` (0-based epochs).
        freeze_epochs: epochs that train only the variables not in `pretrained`.
        decay: a variable `d` layers below the top learns at learning_rate / decay ** d (1: all alike).
    """

    depth: dict[str, int]
    pretrained: set[str] = field(default_factory=set)
    freeze_epochs: int = 0
    decay: float = 1.0

    def group(self, path: str) -> tuple[int, bool]:
        return self.depth.get(path, 0), path in self.pretrained

    def scale(self, group: tuple[int, bool], epoch: int) -> float:
        depth, pretrained = group
        if pretrained and epoch < self.freeze_epochs:
            return 0.0
        return self.decay ** (-depth)

    def get_config(self) -> dict:
        return {
            "depth": dict(self.depth),
            "pretrained": sorted(self.pretrained),
            "freeze_epochs": self.freeze_epochs,
            "decay": self.decay,
        }

    @classmethod
    def from_config(cls, config: dict) -> LayerRates:
        return cls(
            depth=dict(config["depth"]),
            pretrained=set(config.get("pretrained", ())),
            freeze_epochs=int(config.get("freeze_epochs", 0)),
            decay=float(config.get("decay", 1.0)),
        )

    @property
    def active(self) -> bool:
        return self.decay != 1.0 or (self.freeze_epochs > 0 and bool(self.pretrained))


def encoder_depths(encoder: keras.layers.Layer, input_layers: Sequence[keras.layers.Layer] = ()) -> dict[str, int]:
    """Depth of the variables of a `RecurrentEncoder` and of the layers that feed it: encoder layer i of L
    is L - i below the top, its other variables 1, the `input_layers` (word embedding, char and casing
    features) L + 1; a variable not listed (the head, a decoder) is at the top, 0."""
    num_layers = len(encoder.recurrent_layers)
    depths = {variable.path: 1 for variable in encoder.trainable_variables}
    for index in range(num_layers):
        for direction in encoder.directions(index):
            depths.update({variable.path: num_layers - index for variable in direction.trainable_variables})
    for layer in input_layers:
        depths.update({variable.path: num_layers + 1 for variable in layer.trainable_variables})
    return depths


class LayerRateOptimizer:
    """Mixin over a Keras optimizer class: each variable's update is scaled by its group's scale variable.

    Args:
        layer_rates: the `LayerRates` (or their config), saved with the optimizer so that a model saved
            with it loads compiled (`keras.saving.load_model`, `mlflow.keras.load_model`) and trains on at
            the rates it had.
    """

    def __init__(self, *args, layer_rates: LayerRates | dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(layer_rates, dict):
            layer_rates = LayerRates.from_config(layer_rates)
        self.layer_rates = layer_rates or LayerRates({})

    def build(self, variables):
        # A LossScaleOptimizer builds its inner optimizer again when it builds itself: a second set of
        # scales would be the ones the updates read, left at 1 (no freezing).
        if self.built:
            return
        super().build(variables)
        groups = [self.layer_rates.group(v.path) for v in variables]
        self.rate_groups = sorted(set(groups))
        self._variable_group = [self.rate_groups.index(g) for g in groups]
        self.rate_scales = [
            self.add_variable((), initializer="ones", name=f"rate_scale_{i}") for i in range(len(self.rate_groups))
        ]

    def update_step(self, gradient, variable, learning_rate):
        scale = self.rate_scales[self._variable_group[self._get_variable_index(variable)]]
        return super().update_step(gradient, variable, learning_rate * ops.cast(scale, learning_rate.dtype))

    def set_epoch(self, epoch: int) -> None:
        """Set every group's scale for `epoch` (0-based)."""
        for group, scale in zip(self.rate_groups, self.rate_scales):
            scale.assign(self.layer_rates.scale(group, epoch))

    def get_config(self) -> dict:
        return {**super().get_config(), "layer_rates": self.layer_rates.get_config()}


# One registered class per optimizer `training.optimizer.name` offers, defined at module level so that
# Keras finds them by name when it loads a saved model.
@keras.saving.register_keras_serializable(package="nlp_lstm")
class LayerRateSGD(LayerRateOptimizer, keras.optimizers.SGD):
    """SGD with per-layer rates."""


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LayerRateAdam(LayerRateOptimizer, keras.optimizers.Adam):
    """Adam with per-layer rates."""


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LayerRateAdamW(LayerRateOptimizer, keras.optimizers.AdamW):
    """AdamW with per-layer rates (its decoupled weight decay does not follow them: refused with them)."""


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LayerRateNadam(LayerRateOptimizer, keras.optimizers.Nadam):
    """Nadam with per-layer rates."""


@keras.saving.register_keras_serializable(package="nlp_lstm")
class LayerRateRMSprop(LayerRateOptimizer, keras.optimizers.RMSprop):
    """RMSprop with per-layer rates."""


LAYER_RATE_OPTIMIZERS: dict[type, type] = {
    keras.optimizers.SGD: LayerRateSGD,
    keras.optimizers.Adam: LayerRateAdam,
    keras.optimizers.AdamW: LayerRateAdamW,
    keras.optimizers.Nadam: LayerRateNadam,
    keras.optimizers.RMSprop: LayerRateRMSprop,
}


def with_layer_rates(optimizer: keras.optimizers.Optimizer, rates: LayerRates) -> keras.optimizers.Optimizer:
    """`optimizer` rebuilt as its layer-rate class, its updates scaled per `rates`' groups."""
    if type(optimizer) not in LAYER_RATE_OPTIMIZERS:
        raise TypeError(
            f"no per-layer rates for {type(optimizer).__name__}: one of {sorted(c.__name__ for c in LAYER_RATE_OPTIMIZERS)}"
        )
    return LAYER_RATE_OPTIMIZERS[type(optimizer)].from_config({**optimizer.get_config(), "layer_rates": rates})


class LayerRateSchedule(keras.callbacks.Callback):
    """Sets the per-group scales of the model's layer-rate optimizer for each epoch (frozen, then
    discriminative rates)."""

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        if not self.model.optimizer.built:  # TensorFlow's fit builds it only when it traces the first step
            self.model.optimizer.build(self.model.trainable_variables)
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)  # LossScaleOptimizer
        optimizer.set_epoch(epoch)
        freeze_epochs = optimizer.layer_rates.freeze_epochs
        if epoch == freeze_epochs and epoch > 0:
            print(f"Epoch {epoch + 1}: model.freeze_epochs ({epoch}) done; the pretrained layers train from here.")
