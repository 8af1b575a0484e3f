"""Learning curves of a run: the loss and the monitored validation metric per epoch, the kept epoch marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def plot_learning_curves(
    history: Sequence[Mapping[str, float]], monitor: str, best_epoch: int | None, path: str | Path
) -> Path:
    """Two panels: training and validation loss; the monitored metric (when it is not the loss itself).

    Args:
        history: per-epoch logs, epoch 1 first (`loss`, `val_loss`, `val_f1`...).
        monitor: the metric that selected the kept epoch (`training.early_stopping.monitor`).
        best_epoch: the kept epoch (1-based), marked on every panel.
        path: the PNG to write.
    """
    from matplotlib.figure import Figure  # not pyplot: drawing a file must not change a notebook's backend
    from matplotlib.ticker import MaxNLocator

    epochs = list(range(1, len(history) + 1))
    panels = [("loss", ["loss", "val_loss"])]
    if monitor not in ("loss", "val_loss"):
        panels.append((monitor, [monitor]))
    fig = Figure(figsize=(5.5 * len(panels), 4.0))
    for ax, (title, keys) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        for key in keys:
            values = [logs.get(key) for logs in history]
            if any(v is not None for v in values):
                ax.plot(
                    epochs,
                    [float("nan") if v is None else v for v in values],
                    marker="o",
                    markersize=3,
                    label={"loss": "train_loss"}.get(key, key),
                )
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
