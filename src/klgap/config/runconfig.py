"""What defines one training run, and what a checkpoint must match to resume it."""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from klgap.config import schema as config_schema
from klgap.models import networks
from klgap.training import objectives
from klgap.errors import UserError


@dataclass
class RunConfig:
    """Everything that defines one training run (defaults: the schema's)."""

    data: str
    rundir: str
    latent_dim: int
    seed: int
    epochs: int
    objective: str = config_schema.default("objective")
    weights: dict[str, float] = field(default_factory=lambda: {"beta": 1.0})
    batch_size: int = config_schema.default("batch_size")
    learning_rate: float = config_schema.default("learning_rate")
    hidden: list[int] = field(default_factory=lambda: list(config_schema.default("hidden")))
    network: str = config_schema.default("network")
    threads: int | None = None
    # K of the VampPrior (objective vamp; klgap.models.vae.VampPrior); unused by the others.
    num_pseudo_inputs: int = networks.DEFAULT_NUM_PSEUDO_INPUTS
    # Train and test only on the examples of these classes (e.g. [1]: the ones alone); None: all.
    classes: list[int] | None = None

    def identity(self) -> str:
        """What a checkpoint must match to be resumed: the data, objective, every hyperparameter."""
        keys = ("objective", "weights", "latent_dim", "seed", "batch_size", "learning_rate",
                "hidden")
        identity = {"data": Path(self.data).name, **{k: getattr(self, k) for k in keys}}
        # Keys added later enter only where they matter, so that checkpoints written before they
        # existed stay resumable.
        if self.network != "mlp":
            identity["network"] = self.network
        if networks.prior_of(self) == "vamp":
            identity["num_pseudo_inputs"] = self.num_pseudo_inputs
        if self.classes is not None:
            identity["classes"] = sorted(self.classes)
        return json.dumps(identity, sort_keys=True)

    def name(self, dataset: str) -> str:
        """A run's name in messages, e.g. ``digits vae z=2 beta=1.0 seed=3``."""
        weights = " ".join(f"{k}={v}" for k, v in self.weights.items())
        classes = ("" if self.classes is None
                   else " classes=" + ",".join(str(c) for c in sorted(self.classes)))
        return (f"{dataset}{classes} {self.objective} z={self.latent_dim} {weights} "
                f"seed={self.seed}")

    def validate(self) -> None:
        """Raises UserError for out-of-range values, before any expensive work."""
        objective = objectives.get(self.objective)
        if sorted(self.weights) != sorted(objective.weights):
            raise UserError(f"objective {self.objective} takes the weights "
                            f"{', '.join(objective.weights)}, got {', '.join(self.weights)}.")
        checks = [(False, message) for message in objective.check(self.weights)] + [
            (self.latent_dim >= 1, f"latent size must be >= 1, got {self.latent_dim}"),
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (math.isfinite(self.learning_rate) and self.learning_rate > 0,
             f"learning rate must be > 0, got {self.learning_rate}"),
            (len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden),
             f"hidden sizes must be a non-empty list of positive ints, got {self.hidden}"),
            (self.network in networks.NETWORKS,
             f"network must be one of {', '.join(networks.NETWORKS)}, got {self.network!r}"),
            (isinstance(self.num_pseudo_inputs, int)
             and not isinstance(self.num_pseudo_inputs, bool) and self.num_pseudo_inputs >= 1,
             f"the number of pseudo-inputs must be an int >= 1, got {self.num_pseudo_inputs!r}"),
            (self.classes is None or (len(self.classes) >= 1 and len(set(self.classes))
                                      == len(self.classes)
                                      and all(isinstance(c, int) and not isinstance(c, bool)
                                              and c >= 0 for c in self.classes)),
             f"classes must be a non-empty list of distinct labels >= 0, got {self.classes!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message + "; fix the value in the config or command line.")
