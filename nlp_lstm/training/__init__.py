"""Compiling and fitting Keras models from the `training` config section."""

from nlp_lstm.training.trainer import make_optimizer, set_seed, train_model

__all__ = ["make_optimizer", "set_seed", "train_model"]
