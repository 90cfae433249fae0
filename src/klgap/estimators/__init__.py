"""Estimators of the KL decomposition of a diagonal-Gaussian encoder against N(0, I).

The public API: ``from klgap.estimators import kl_decomposition`` (or ``klgap.estimators.<name>``).
NumPy and SciPy only; nothing here imports TensorFlow.
"""

from klgap.estimators.decomposition import (  # noqa: F401 (public API)
    ACTIVE_UNIT_THRESHOLD,
    CEILING_MARGIN,
    CeilingWarning,
    active_units,
    gaussian_kl_to_standard_normal,
    heldout_kl_decomposition,
    kl_decomposition,
    minibatch_log_weights,
    moment_matched_kl,
    standard_normal_sampler,
)
from klgap.estimators.minibatch import (  # noqa: F401 (public API)
    MINIBATCH_METHODS,
    minibatch_kl_decomposition,
)
from klgap.estimators.holes import HOLE_RATIO, prior_holes  # noqa: F401 (public API)
from klgap.estimators.fitted_density import fitted_density_kl  # noqa: F401 (public API)
