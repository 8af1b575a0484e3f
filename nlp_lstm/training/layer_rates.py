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


def with_layer_rates(optimizer: keras.optimizers.Optimizer, rates: LayerRates) -> keras.optimizers.Optimizer:
    """`optimizer` rebuilt as a subclass of its class whose updates are scaled per `rates`' groups."""
    base = type(optimizer)

    class LayerRateOptimizer(base):  # a subclass per base class, made here: Keras optimizers have no hook
        def build(self, variables):
            super().build(variables)
            groups = [rates.group(v.path) for v in variables]
            self.rate_groups = sorted(set(groups))
            self._variable_group = [self.rate_groups.index(g) for g in groups]
            self.rate_scales = [
                self.add_variable((), initializer="ones", name=f"rate_scale_{i}") for i in range(len(self.rate_groups))
            ]

        def update_step(self, gradient, variable, learning_rate):
            scale = self.rate_scales[self._variable_group[self._get_variable_index(variable)]]
            return super().update_step(gradient, variable, learning_rate * ops.cast(scale, learning_rate.dtype))

    LayerRateOptimizer.__name__ = LayerRateOptimizer.__qualname__ = f"LayerRate{base.__name__}"
    return LayerRateOptimizer.from_config(optimizer.get_config())


class LayerRateSchedule(keras.callbacks.Callback):
    """Sets the optimizer's per-group scales for each epoch (frozen, then discriminative rates)."""

    def __init__(self, rates: LayerRates):
        super().__init__()
        self.rates = rates

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
        if not optimizer.built:  # TensorFlow's fit builds it only when it traces the first step
            optimizer.build(self.model.trainable_variables)
        for group, scale in zip(optimizer.rate_groups, optimizer.rate_scales):
            value = self.rates.scale(group, epoch)
            scale.assign(value)
        if epoch == self.rates.freeze_epochs and epoch > 0:
            print(f"Epoch {epoch + 1}: model.freeze_epochs ({epoch}) done; the pretrained layers train from here.")
