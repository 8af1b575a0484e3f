"""`nlp-lstm` that kills itself with SIGKILL at a chosen point of training, as `kill -9` or a power cut would.

    python -m tests.helpers.killed_run KILL_POINT EPOCH nlp-lstm-arguments...

KILL_POINT is `after-checkpoint` (right after epoch EPOCH's resume state is written, before MLflow logs the
epoch), `next-epoch` (in the middle of the epoch after EPOCH), `mid-write` (half-way through writing
epoch EPOCH's resume state) or `crash` (an unexpected exception after epoch EPOCH, not a kill).
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

from nlp_lstm import cli
from nlp_lstm.training import checkpoints


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    point, epoch = sys.argv[1], int(sys.argv[2])
    original_end = checkpoints.ResumeCheckpoint.on_epoch_end
    original_batch_end = checkpoints.ResumeCheckpoint.on_train_batch_end

    def on_epoch_end(self, index, logs=None):
        if point == "mid-write" and index + 1 == epoch:
            savez = np.savez

            def half_then_die(handle, **arrays):
                savez(handle, **arrays)
                handle.truncate(handle.tell() // 2)
                handle.flush()
                _die()

            np.savez = half_then_die
        original_end(self, index, logs)
        if point == "after-checkpoint" and index + 1 == epoch:
            _die()
        if point == "crash" and index + 1 == epoch:
            raise RuntimeError("a bug in the middle of training")

    def on_train_batch_end(self, batch, logs=None):
        original_batch_end(self, batch, logs)
        if point == "next-epoch" and len(self.history) == epoch and batch == 1:
            _die()

    checkpoints.ResumeCheckpoint.on_epoch_end = on_epoch_end
    checkpoints.ResumeCheckpoint.on_train_batch_end = on_train_batch_end
    sys.exit(cli.main(sys.argv[3:]))


if __name__ == "__main__":
    main()
