"""`nlp-lstm info`: the Keras backend, its devices, and for a pipeline config whether each recurrent layer
will run the fused (cuDNN) kernel on a GPU."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from nlp_lstm.config.schema import DecoderConfig, PipelineConfig, RecurrentConfig


@dataclass
class RecurrentLayerReport:
    key: str  # the config key that builds the layer(s)
    description: str
    blockers: list[str]  # why it would not run fused; empty when it would

    @property
    def fused(self) -> bool:
        return not self.blockers


def backend_devices() -> tuple[str, list[str]]:
    """The Keras backend and the devices it can use (e.g. ['CPU:0', 'GPU:0 NVIDIA H100'])."""
    import keras

    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [d.name.removeprefix("/physical_device:") for d in tf.config.list_physical_devices()]
    elif backend == "jax":
        import jax

        devices = [f"{d.platform.upper()}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()]
    elif backend == "torch":
        import torch

        devices = ["CPU:0"] + [f"GPU:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
    else:
        devices = []
    return backend, devices


def _recurrent_sections(section: BaseModel, prefix: str) -> Iterator[tuple[str, RecurrentConfig]]:
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, RecurrentConfig):
            yield f"{prefix}{name}", value
        elif isinstance(value, BaseModel):
            yield from _recurrent_sections(value, f"{prefix}{name}.")


def recurrent_layers(config: PipelineConfig, backend: str, gpu: bool = False) -> list[RecurrentLayerReport]:
    """Every recurrent layer a pipeline config builds, with what keeps it off the fused kernel and the mode
    its `fused` setting takes on `backend` (with or without a GPU)."""
    from nlp_lstm.fused_kernels import length_aware_encoder
    from nlp_lstm.models.encoders import fused_kernel_blockers

    def encoder_report(key: str, rnn: RecurrentConfig, what: str) -> RecurrentLayerReport:
        aware = length_aware_encoder(rnn.fused, rnn.bidirectional, backend, gpu)
        mode = "length-aware, no mask" if aware else ("masked Bidirectional" if rnn.bidirectional else "masked")
        if rnn.fused == "auto":
            mode += f": fused auto on {backend} {'GPU' if gpu else 'CPU'}"
        blockers = fused_kernel_blockers(rnn, backend)
        if not aware and backend != "tensorflow":
            blockers.append(f"masked: {backend} fuses only without a mask (auto is length-aware on a GPU)")
        return RecurrentLayerReport(key, f"{what} ({mode})", blockers)

    reports = [
        encoder_report(
            key,
            rnn,
            f"{rnn.layers} x {'bidirectional ' if rnn.bidirectional else ''}{rnn.cell}, {rnn.units} units",
        )
        for key, rnn in _recurrent_sections(config.model, "model.")
    ]
    chars = getattr(config.model, "char_features", None)
    if chars is not None and chars.enabled and chars.encoder == "lstm":
        reports.append(
            encoder_report(
                "model.char_features",
                RecurrentConfig(units=chars.lstm_units),
                f"bidirectional lstm over characters, {chars.lstm_units} units",
            )
        )
    decoder = getattr(config.model, "decoder", None)
    if isinstance(decoder, DecoderConfig):
        blockers = (
            [
                "input_feeding is true: each step reads the previous attentional vector, so the decoder "
                "steps through its LSTM cells in an ops.scan"
            ]
            if decoder.input_feeding
            else []
        )
        reports.append(
            RecurrentLayerReport(
                "model.decoder", f"{decoder.layers} x lstm, {decoder.units} units (teacher-forced, no mask)", blockers
            )
        )
    return reports


def _part_scanning_over_time(config: PipelineConfig) -> str | None:
    """The part of the model whose `call` scans over time (see `models.layers.scans_over_time`), if any."""
    decoder = getattr(config.model, "decoder", None)  # "crf"/"softmax" for NER, a DecoderConfig for translation
    if decoder == "crf":
        return "the CRF"
    if isinstance(decoder, DecoderConfig) and decoder.input_feeding:
        return "the input-feeding decoder"
    return None


PACKAGE = "nlp-lstm"


def _unmet(requirement, depth: int = 1) -> list[str]:
    """What of `requirement` is not installed: the distribution, its version, or the extras it asks of it
    (`jax[cuda12]` needs jax's own cuda12 requirements, followed `depth` levels down)."""
    import importlib.metadata

    from packaging.requirements import Requirement

    try:
        version = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return [requirement.name]
    if not requirement.specifier.contains(version, prereleases=True):
        return [f"{requirement.name} {version} (needs {requirement.specifier})"]
    unmet = []
    for extra in sorted(requirement.extras) if depth else ():
        for text in importlib.metadata.requires(requirement.name) or []:
            needed = Requirement(text)
            if (
                needed.marker is not None
                and needed.marker.evaluate({"extra": extra})
                and not (needed.marker.evaluate({"extra": ""}))
            ):
                unmet += _unmet(needed, depth - 1)
    return unmet


def installed_extras(package: str = PACKAGE) -> dict[str, list[str]]:
    """Each optional extra of the installed package -> what of it is not installed here (empty: the extra
    is installed). Requirements whose markers exclude this platform do not count."""
    import importlib.metadata

    from packaging.requirements import Requirement

    try:
        requirements = importlib.metadata.requires(package) or []
        extras = importlib.metadata.metadata(package).get_all("Provides-Extra") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    missing: dict[str, list[str]] = {extra: [] for extra in extras}
    for text in requirements:
        requirement = Requirement(text)
        for extra in extras:
            if requirement.marker is not None and requirement.marker.evaluate({"extra": extra}):
                if not requirement.marker.evaluate({"extra": ""}):  # not a requirement of the package itself
                    missing[extra] += _unmet(requirement)
    return missing


def tensorflow_build() -> str | None:
    """'CUDA' or 'CPU-only' for the TensorFlow that imports here (None when it is not installed)."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        return None
    import tensorflow as tf

    return "CUDA" if tf.sysconfig.get_build_info().get("is_cuda_build") else "CPU-only"


def packaging_lines(backend: str) -> list[str]:
    """Which extras are installed, which backend is used, and whether TensorFlow can use a GPU."""
    extras = installed_extras()
    if not extras:
        return [f"extras: unknown ({PACKAGE} is not installed as a package here)"]
    shown = ", ".join(f"{extra} {'yes' if not missing else 'no'}" for extra, missing in extras.items())
    lines = [f"extras installed: {shown}"]
    build = tensorflow_build() if backend == "tensorflow" else None
    if build is not None:
        import tensorflow as tf

        lines.append(f"tensorflow {tf.__version__}: {build} build")
        if build == "CPU-only" and extras.get("gpu") == []:
            lines.append(
                "  the gpu extra is installed, but the CPU-only build imports (tensorflow-cpu was installed after "
                f"tensorflow): pip install --force-reinstall --no-deps tensorflow=={tf.__version__}"
            )
    return lines


def info_text(config: PipelineConfig | None = None, config_name: str = "") -> str:
    import keras

    # First: a split of the CPU into devices (training.cpu_devices) must precede the backend listing them.
    distribution = _replicas(config.training) if config is not None else ""
    backend, devices = backend_devices()
    lines = [f"backend: {backend} (keras {keras.__version__}; KERAS_BACKEND selects another)"]
    lines += packaging_lines(backend)
    lines.append(f"devices: {', '.join(devices) or 'none found'}")
    if not any("GPU" in d for d in devices):
        lines.append("no GPU: the fused kernels below apply when one is present")
    if config is not None:
        lines.append(f"{config_name or 'config'} ({config.task}):")
        for report in recurrent_layers(config, backend, gpu=any("GPU" in d for d in devices)):
            verdict = "fused kernel" if report.fused else "generic loop: " + "; ".join(report.blockers)
            lines.append(f"  {report.key}: {report.description}: {verdict}")
        training = config.training
        line = f"  training: mixed_precision {training.mixed_precision}, jit_compile {training.jit_compile}"
        scanning = (
            _part_scanning_over_time(config) if backend == "tensorflow" and training.jit_compile is True else None
        )
        if scanning:
            line += f" (falls back to off on tensorflow: {scanning} runs an ops.scan XLA cannot differentiate)"
        lines.append(line)
        lines.append(f"  distribution: {distribution}")
    return "\n".join(lines)


def _replicas(training) -> str:
    """The replicas `training.distribution` would train on here, and the batch each one reads."""
    from nlp_lstm.training.distribution import planned_workers, replication_for

    if training.distribution == "multi_worker":  # joining the other workers would wait for them
        return f"multi_worker: {planned_workers(training)}; global batch {training.batch_size}"
    replication = replication_for(training)
    if replication.engine is None:
        return "none: one device"
    per_replica = -(-training.batch_size // replication.num_replicas)
    return (
        f"{training.distribution}: {replication.describe()}; global batch {training.batch_size}, "
        f"{per_replica} per replica"
    )
