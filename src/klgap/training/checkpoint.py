"""A run's checkpoint, its resume point: weights, optimizer state, history and identity.

On disk one ``.npz``: the weights under their variable keys (``encoder/w0``), the optimizer state
under ``adam/*``, ``history`` (epochs, len(HISTORY_COLUMNS)) and ``identity`` (0-d str, the
run's ``RunConfig.identity()``). The same format serves the single and the stacked path, so
either resumes the other's runs.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from klgap import atomic
from klgap.training.adam import STATE_PREFIX


@dataclass
class Checkpoint:
    """The state of one run (or, stacked, of K runs) after some epochs."""

    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    history: np.ndarray  # (epochs, len(HISTORY_COLUMNS)); one run's
    identity: str

    @property
    def epochs(self) -> int:
        """Number of finished epochs."""
        return len(self.history)

    def save(self, path: str | Path) -> None:
        """Writes the checkpoint atomically."""
        atomic.savez(path, history=self.history, identity=np.array(self.identity),
                     **self.weights, **self.optimizer)

    @classmethod
    def load(cls, path: str | Path) -> "Checkpoint":
        """Reads a checkpoint written by ``save``."""
        arrays = atomic.load_npz(path)
        history, identity = arrays.pop("history"), str(arrays.pop("identity"))
        optimizer = {k: v for k, v in arrays.items() if k.startswith(STATE_PREFIX)}
        weights = {k: v for k, v in arrays.items() if not k.startswith(STATE_PREFIX)}
        return cls(weights, optimizer, history, identity)


def stack(checkpoints: list[Checkpoint]) -> tuple[dict, dict]:
    """Stacks K runs' weights and optimizer states on a leading axis (for
    ``klgap.training.batched``).

    Per-variable arrays become (K, ...); 0-d state (Adam's step count, equal for runs at the
    same epoch) is shared.

    Returns:
      The stacked weights and optimizer state.
    """
    def stacked(key, part):
        values = [getattr(c, part)[key] for c in checkpoints]
        return values[0] if np.ndim(values[0]) == 0 else np.stack(values)

    first = checkpoints[0]
    return ({k: stacked(k, "weights") for k in first.weights},
            {k: stacked(k, "optimizer") for k in first.optimizer})


def select(weights: dict, optimizer: dict, k: int, history: np.ndarray,
           identity: str) -> Checkpoint:
    """Returns run k's checkpoint from stacked weights and optimizer state (undoes ``stack``)."""
    return Checkpoint({key: value[k] for key, value in weights.items()},
                      {key: value if np.ndim(value) == 0 else value[k]
                       for key, value in optimizer.items()}, history, identity)

