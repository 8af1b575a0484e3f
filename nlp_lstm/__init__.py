"""nlp_lstm: declarative NLP pipelines (NER, sentiment, translation) built on Keras 3 LSTMs."""

from __future__ import annotations

import logging
import os
import sys

import wrapt

# TensorFlow's C++ start-up chatter (oneDNN, CPU feature notes) buries the messages users need.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's default CPU allocator hands every large buffer back to the OS when an op is done with it (glibc
# maps allocations over 32 MB afresh), so each training step page-faults its big tensors in again: a language
# model's 33k x 400 embedding gradient and optimizer temporaries spent a fifth of their CPU time in the kernel.
# Its BFC allocator keeps and reuses them (benchmarks/lm_softmax_throughput.py: 1.37x units/s on 2 cores).
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")


class _RetracingNoticeFilter(logging.Filter):
    """Drops TensorFlow's 'triggered tf.function retracing' notice.

    Batches are padded to a multiple of `preprocessing.pad_to_multiple`, so only a few shapes occur and
    TensorFlow relaxes to dynamic shapes after two or three traces (measured: 3 traces for SST-2 test).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_RetracingNoticeFilter())

from nlp_lstm.version import __version__  # noqa: E402


def _register_keras_objects(_keras=None) -> None:
    """Register every custom layer, cell, loss and optimizer with Keras, so that `keras.saving.load_model`
    and `mlflow.keras.load_model` load any nlp_lstm model after `import nlp_lstm`.

    Run when Keras is imported (at once if it already is) rather than by importing Keras here: validating a
    config must not pay for Keras. When an `nlp_lstm.models` module is what imports Keras, the package is
    already importing all of them.
    """
    if "nlp_lstm.models" not in sys.modules:
        import nlp_lstm.models  # noqa: F401
    import nlp_lstm.training.layer_rates  # noqa: F401  (the optimizers of fine-tuned models)


wrapt.register_post_import_hook(_register_keras_objects, "keras")


def load(model_dir):
    """Load a trained pipeline saved by `nlp-lstm run`; returns an object with `.predict(texts)`."""
    from nlp_lstm.pipeline import load_pipeline

    return load_pipeline(model_dir)


__all__ = ["__version__", "load"]
