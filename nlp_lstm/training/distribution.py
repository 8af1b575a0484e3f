"""Data-parallel training on the backends' own engines: `tf.distribute.MirroredStrategy` on TensorFlow,
`keras.distribution.DataParallel` on JAX (`training.distribution: mirrored`).

Every batch stays the global batch (`training.batch_size`): the replicas each take an equal slice of it. A
batch whose size the replicas do not divide (the last one of an epoch) is topped up with copies of its
first rows that weigh nothing (`nlp_lstm.preprocessing.batching.replica_batch`), and the losses
(`nlp_lstm.models.losses`) divide by the count of the whole global batch, so the summed per-replica
losses, and so the gradients, are those of one device reading the same batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from nlp_lstm.config.schema import TrainingConfig
from nlp_lstm.errors import UsageError


@dataclass
class Replication:
    """How a run spreads its training over devices.

    Args:
        kind: the `training.distribution` setting ("none" or "mirrored").
        devices: the devices that hold a replica each (names as the backend gives them).
        engine: the `tf.distribute.Strategy` or `keras.distribution.Distribution`; None for one device.
    """

    kind: str = "none"
    devices: list[str] = field(default_factory=list)
    engine: Any = None

    @property
    def num_replicas(self) -> int:
        return max(1, len(self.devices)) if self.engine is not None else 1

    @property
    def num_workers(self) -> int:
        return 1

    @property
    def params(self) -> dict[str, Any]:
        """What the MLflow run records about it."""
        return {"distribution": self.kind, "replicas": self.num_replicas, "workers": self.num_workers}

    def describe(self) -> str:
        if self.engine is None:
            return "one device (training.distribution: none)"
        name = type(self.engine).__name__
        return f"{self.num_replicas} replicas ({name} over {', '.join(self.devices)})"

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Build and compile the model inside this: its variables are then replicated."""
        if self.engine is None:
            yield
            return
        with self.engine.scope():
            yield

    @contextmanager
    def training(self) -> Iterator[None]:
        """Around `fit`. JAX reads the distribution from the context; a TensorFlow model keeps the strategy
        it was built under, and models built during training (validation decoders) must not take it."""
        import keras

        if self.engine is None or keras.backend.backend() != "jax":
            yield
            return
        with self.engine.scope():
            yield

    @contextmanager
    def single_device(self, models: list[Any]) -> Iterator[None]:
        """Run predictions of `models` (built in `scope`) on whole batches, as one device would.

        Keras's TensorFlow `predict_on_batch` of a model built under a strategy runs every replica on the
        whole batch and concatenates the answers (twice the rows on two replicas); JAX's shards any batch
        over the devices and refuses one they do not divide. Inference therefore leaves the distribution.
        """
        if self.engine is None:
            yield
            return
        import keras

        if keras.backend.backend() == "jax":
            from keras.distribution import distribution, set_distribution

            previous = distribution()
            set_distribution(None)
            try:
                yield
            finally:
                set_distribution(previous)
            return
        saved = [(model, model._distribute_strategy, model.predict_function) for model in models]
        for model, _, _ in saved:
            model._distribute_strategy = None
            model.predict_function = None
        try:
            yield
        finally:
            for model, strategy, predict_function in saved:
                model._distribute_strategy = strategy
                model.predict_function = predict_function

    def release(self, models: list[Any]) -> None:
        """After training: `models` predict on one device from now on (their weights stay as trained)."""
        if self.engine is None:
            return
        for model in models:
            if hasattr(model, "_distribute_strategy"):
                model._distribute_strategy = None
            model.predict_function = model.test_function = model.train_function = None


def _split_cpu(count: int, backend: str) -> None:
    """Make the host CPU appear as `count` devices (before the backend first lists its devices)."""
    if backend == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        try:
            tf.config.set_logical_device_configuration(cpu, wanted)
        except RuntimeError as exc:  # TensorFlow's devices are fixed once it has run anything
            if len(tf.config.list_logical_devices("CPU")) != count:
                raise UsageError(
                    f"training.cpu_devices: {count}: TensorFlow had started with "
                    f"{len(tf.config.list_logical_devices('CPU'))} CPU device(s) in this process ({exc})"
                ) from exc
    else:
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", count)
        except RuntimeError as exc:
            if len(jax.devices("cpu")) != count:
                raise UsageError(
                    f"training.cpu_devices: {count}: JAX had started with {len(jax.devices('cpu'))} CPU "
                    f"device(s) in this process; start it with XLA_FLAGS=--xla_force_host_platform_device_count="
                    f"{count}"
                ) from exc


def replication_for(config: TrainingConfig) -> Replication:
    """The devices and engine `config.distribution` asks for, on the configured Keras backend."""
    if config.distribution == "none":
        return Replication()
    import keras

    backend = keras.backend.backend()
    if config.cpu_devices is not None:
        _split_cpu(config.cpu_devices, backend)
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        names = [device.name for device in devices]
        return Replication(config.distribution, names, tf.distribute.MirroredStrategy(names))
    if backend == "jax":
        import jax

        devices = jax.devices()  # the default platform: every GPU when there are any, else the CPU devices
        engine = keras.distribution.DataParallel(devices=devices)
        return Replication(config.distribution, [f"{d.platform}:{d.id}" for d in devices], engine)
    raise UsageError(f"training.distribution {config.distribution!r} is not supported on the {backend} backend")


def clip_after_aggregation(optimizer: Any) -> Any:
    """Make `optimizer` clip the gradient of the whole global batch under a TensorFlow strategy.

    Keras clips (`clipnorm`, `global_clipnorm`, `clipvalue`) each replica's partial gradient and sums the
    clipped parts afterwards: not the clipped gradient of the batch, nor what one device computes. Here
    the replicas sum their gradients first and clip the sum; each then passes on a share that Keras's own
    summation adds up to it again: 1/replicas of a dense gradient; a sparse (embedding) gradient whole
    from the first replica and zeros from the others, since Adam's sparse update squares every slice as it
    comes (halves of a slice would add half its square).
    """
    import tensorflow as tf

    clip = optimizer._clip_gradients

    def clip_global_gradient(grads: list[Any]) -> list[Any]:
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return clip(grads)
        present = [i for i, grad in enumerate(grads) if grad is not None]
        # Sparse (embedding) gradients stay IndexedSlices: Keras measures their norm over the slices as they
        # are, and the replicas' slices gathered are the slices one device would have had.
        clipped = clip(context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present]))
        first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), "float32")
        shares = list(grads)
        for i, grad in zip(present, clipped):
            if isinstance(grad, tf.IndexedSlices):
                values = grad.values * tf.cast(first, grad.values.dtype)
                shares[i] = tf.IndexedSlices(values, grad.indices, grad.dense_shape)
            else:
                shares[i] = grad / replicas
        return shares

    optimizer._clip_gradients = clip_global_gradient
    return optimizer
