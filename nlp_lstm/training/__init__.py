"""Compiling and fitting Keras models from the `training` config section (names load on first use: the
metric-direction helpers are needed where Keras is not)."""

from nlp_lstm.lazy import lazy_attributes

_HOMES = {"make_optimizer": "trainer", "set_seed": "trainer", "train_model": "trainer"}
__all__ = sorted(_HOMES)
__getattr__ = lazy_attributes(__name__, _HOMES)
