"""Data-parallel training on the backends' own engines (`training.distribution`): `mirrored` over one
host's devices (`tf.distribute.MirroredStrategy` on TensorFlow, `keras.distribution.DataParallel` on JAX),
`multi_worker` over several processes or hosts (`tf.distribute.MultiWorkerMirroredStrategy` configured
from TF_CONFIG; `jax.distributed` plus `DataParallel` on JAX).

Every batch stays the global batch (`training.batch_size`): the replicas each take an equal slice of it. A
batch whose size the replicas do not divide (the last one of an epoch) is topped up with copies of its
first rows that weigh nothing (`nlp_lstm.preprocessing.batching.replica_batch`), and the losses
(`nlp_lstm.models.losses`) divide by the count of the whole global batch, so the summed per-replica
losses, and so the gradients, are those of one device reading the same batch. Every worker draws the same
batches (same seed); TensorFlow shards each one over the workers' replicas, on JAX each process passes
its own rows (`Replication.share`).

Only the chief (worker 0) tracks, checkpoints and saves; the workers agree at every epoch's end whether
to stop (`AgreeToStop`), and at the end on the chief's outcome (`Replication.outcome`).
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import keras

from nlp_lstm.config.schema import DistributionOptions, TrainingConfig
from nlp_lstm.errors import UsageError, exit_status


@dataclass
class Replication:
    """How a run spreads its training over devices and processes.

    Args:
        kind: the `training.distribution` setting ("none", "mirrored" or "multi_worker").
        devices: the devices that hold a replica each, over all workers (names as the backend gives them).
        engine: the `tf.distribute.Strategy` or `keras.distribution.Distribution`; None for one device.
        workers: the processes training together (1 but for multi_worker).
        worker_index: this process's place among them; 0 is the chief.
    """

    kind: str = "none"
    devices: list[str] = field(default_factory=list)
    engine: Any = None
    workers: int = 1
    worker_index: int = 0
    _summing: Any = field(default=None, repr=False)

    @property
    def num_replicas(self) -> int:
        return max(1, len(self.devices)) if self.engine is not None else 1

    @property
    def num_workers(self) -> int:
        return self.workers

    @property
    def is_chief(self) -> bool:
        """The process that tracks the run, writes checkpoints and saves the pipeline."""
        return self.worker_index == 0

    @property
    def share(self) -> tuple[int, int] | None:
        """(index, count): this process passes the index-th of count equal parts of every (filled-up) global
        batch. JAX assembles the global batch from each process's part; TensorFlow's workers each read the
        whole batch and shard it themselves (None)."""
        if self.workers == 1 or keras.backend.backend() != "jax":
            return None
        return self.worker_index, self.workers

    @property
    def params(self) -> dict[str, Any]:
        """What the MLflow run records about it."""
        return {"distribution": self.kind, "replicas": self.num_replicas, "workers": self.num_workers}

    def describe(self) -> str:
        if self.engine is None:
            return "one device (training.distribution: none)"
        name = type(self.engine).__name__
        over = f"{self.workers} workers, this one {self.worker_index}: " if self.workers > 1 else ""
        return f"{self.num_replicas} replicas ({over}{name} over {', '.join(self.devices)})"

    def any_worker(self, flag: bool) -> bool:
        """Whether `flag` holds on any worker (every worker must call this at the same point)."""
        if self.workers == 1:
            return flag
        return self._all_workers_sum(int(flag)) > 0

    def outcome(self, exit_status: int) -> int:
        """The chief's exit status, on every worker (each passes its own; only the chief's counts)."""
        if self.workers == 1:
            return exit_status
        return self._all_workers_sum(exit_status if self.is_chief else 0)

    @contextmanager
    def announcing_outcome(self) -> Iterator[None]:
        """The chief, after training: the other workers wait for how what this wraps ends (`outcome`)."""
        try:
            yield
        except BaseException as exc:
            try:
                self.outcome(exit_status(exc))
            except Exception:  # the other workers gone too: the chief's own error is what to report
                pass
            raise
        self.outcome(0)

    def _all_workers_sum(self, value: int) -> int:
        if keras.backend.backend() == "jax":
            import numpy as np
            from jax.experimental import multihost_utils

            return int(np.sum(multihost_utils.process_allgather(np.asarray(value, dtype="int32"))))
        import tensorflow as tf

        if self._summing is None:  # a tf.function: eager collectives are slow and TensorFlow warns about them

            @tf.function
            def summing(local_value):
                per_replica = self.engine.run(lambda: tf.identity(local_value))
                return self.engine.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

            self._summing = summing
        total = self._summing(tf.constant(value, "int32"))
        # Summed over every replica: each worker's value counted once per local replica.
        return int(total.numpy()) // max(1, self.engine.num_replicas_in_sync // self.workers)

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
    """The devices and engine `config.distribution` asks for, on the configured Keras backend. For
    multi_worker this waits until every worker has joined."""
    if config.distribution == "none":
        return Replication()
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        raise UsageError(f"training.distribution {config.distribution!r} is not supported on the {backend} backend")
    if config.distribution == "multi_worker":
        if backend == "tensorflow":
            return _tensorflow_workers()
        return _jax_processes(config.distribution_options or DistributionOptions())
    if config.cpu_devices is not None:
        _split_cpu(config.cpu_devices, backend)
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        names = [device.name for device in devices]
        return Replication(config.distribution, names, tf.distribute.MirroredStrategy(names))
    import jax

    devices = jax.devices()  # the default platform: every GPU when there are any, else the CPU devices
    engine = keras.distribution.DataParallel(devices=devices)
    return Replication(config.distribution, [f"{d.platform}:{d.id}" for d in devices], engine)


def tf_config_cluster() -> tuple[int, int]:
    """(workers, this worker's index) from TF_CONFIG, the chief (if the cluster names one) first."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UsageError(
            "training.distribution: multi_worker on TensorFlow reads the cluster from the TF_CONFIG environment "
            'variable, which is not set (e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
            '"task": {"type": "worker", "index": 0}} on the first host)'
        )
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        chiefs = len(cluster.get("chief", []))
        workers = chiefs + len(cluster.get("worker", []))
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"TF_CONFIG: not a cluster spec with 'cluster' and 'task' ({exc})") from None
    if kind not in ("chief", "worker") or workers < 1:
        raise UsageError(f"TF_CONFIG: task type {kind!r}: data-parallel training runs on 'chief' and 'worker' tasks")
    return workers, (index if kind == "chief" else chiefs + index)


def _tensorflow_workers() -> Replication:
    workers, index = tf_config_cluster()
    engine = _keras_multi_worker_strategy()
    devices = [f"worker {w} replica {r}" for w in range(workers) for r in range(engine.num_replicas_in_sync // workers)]
    return Replication("multi_worker", devices, engine, workers=workers, worker_index=index)


def _keras_multi_worker_strategy():
    """A `MultiWorkerMirroredStrategy` whose `reduce` takes what Keras 3's `fit` gives it.

    Keras reduces each step's scalar logs with `strategy.reduce("MEAN", value, axis=0)` under this strategy,
    which TensorFlow refuses for a scalar (tensorflow/tensorflow#72388), and the first batch (to build the
    model) as a nested structure, which it cannot reduce at all. Here a scalar is reduced as a scalar and a
    structure part by part; Keras's metrics are summed on write, so every replica holds the same values.
    """
    import tensorflow as tf

    class KerasMultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis=None):
            parent = super()

            def reduce_one(part):
                local = self.experimental_local_results(part)[0]
                scalar = getattr(local, "shape", None) is not None and local.shape.rank == 0
                return parent.reduce(reduce_op, part, axis=None if scalar else axis)

            return tf.nest.map_structure(reduce_one, value)

    with _own_sigterm():
        return KerasMultiWorkerMirroredStrategy()


@contextmanager
def _own_sigterm() -> Iterator[None]:
    """Keep SIGTERM's handler through what this wraps. The coordination service of TensorFlow's and JAX's
    multi-worker runtimes takes SIGTERM over (to notice preemption) and swallows it: the process would then
    ignore `kill` and a launcher's shutdown, and stall its peers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _jax_processes(options: DistributionOptions) -> Replication:
    """Join the other JAX processes (`jax.distributed.initialize`, through Keras) and replicate over all
    their devices."""
    import jax

    try:  # CPU processes exchange gradients over Gloo (GPUs use NCCL whatever this says)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):
        pass
    coordinator, count, process = _jax_meeting_point(options)
    if not jax.distributed.is_initialized():
        try:
            with _own_sigterm():
                jax.distributed.initialize(coordinator_address=coordinator, num_processes=count, process_id=process)
        except (ValueError, RuntimeError) as exc:
            raise UsageError(
                "training.distribution: multi_worker on JAX: could not join the other processes "
                f"(coordinator {coordinator or 'from the cluster environment'}, {count or '?'} processes, this one "
                f"{process if process is not None else '?'}): {exc}; set training.distribution_options or the "
                "KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID "
                "variables"
            ) from None
    devices = jax.devices()
    if len(jax.local_devices()) * jax.process_count() != len(devices):
        raise UsageError("training.distribution: multi_worker on JAX needs as many devices in every process")
    engine = keras.distribution.DataParallel(devices=devices)
    engine.auto_shard_dataset = False  # each process passes its own rows of every batch (Replication.share)
    names = [f"{d.platform}:{d.id}" for d in devices]
    return Replication("multi_worker", names, engine, workers=jax.process_count(), worker_index=jax.process_index())


def planned_workers(config: TrainingConfig) -> str:
    """Where a multi_worker run would find its workers, without joining them (`nlp-lstm info`)."""
    if keras.backend.backend() == "tensorflow":
        workers, index = tf_config_cluster()
        return f"{workers} workers from TF_CONFIG, this process worker {index} (the chief is worker 0)"
    coordinator, count, process = _jax_meeting_point(config.distribution_options or DistributionOptions())
    if coordinator is None:
        return "JAX processes from the cluster launcher's environment (jax.distributed.initialize)"
    return f"{count or '?'} JAX processes meeting at {coordinator}, this one {process if process is not None else '?'}"


def _jax_meeting_point(options: DistributionOptions) -> tuple[str | None, int | None, int | None]:
    """(coordinator address, number of processes, this process's id): the options, else Keras's variables;
    None leaves it to jax.distributed's detection of the cluster launcher."""
    addresses = os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES", "")
    coordinator = options.coordinator_address or (addresses.split(",")[0] if addresses else None)
    count = options.num_processes or _int_from_env("KERAS_DISTRIBUTION_NUM_PROCESSES")
    process = options.process_id if options.process_id is not None else _int_from_env("KERAS_DISTRIBUTION_PROCESS_ID")
    return coordinator, count, process


def _int_from_env(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name}={value!r}: not a whole number") from None


class AgreeToStop(keras.callbacks.Callback):
    """At every epoch's end, stop on every worker when any one would stop (its time limit passed, or its
    validation metric, identical in principle, says so): a worker that went on alone would wait forever for
    the others' gradients."""

    def __init__(self, replication: Replication):
        super().__init__()
        self.replication = replication

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.model.stop_training = self.replication.any_worker(bool(self.model.stop_training))


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
