"""How well a model generates, judged by a classifier of the real images.

Decoded samples (Bernoulli means of the decoder at z from the prior, or from a density fitted to
the training codes) are labelled by a classifier trained on the real training images. A model
that generates well gives the label histogram of the data and confident labels; one whose
decoded prior samples fall between the classes gives a skewed histogram or unsure labels. The
classifier is a multinomial logistic regression (scikit-learn), kept as plain arrays so that it
is stored without pickling; the "ex-post" density (Ghosh et al. 2020) is a Gaussian mixture
fitted to the training codes, also kept as arrays.
"""

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import special

from klgap.errors import UserError


BOOTSTRAP_DRAWS = 1000  # of the label KL's standard error


class Classifier(NamedTuple):
    """A multinomial logistic regression: p(y|x) = softmax(x @ coef.T + intercept)."""

    coef: np.ndarray  # (C, P)
    intercept: np.ndarray  # (C,)
    classes: np.ndarray  # (C,) the labels


class GaussianMixtureDensity(NamedTuple):
    """A full-covariance Gaussian mixture over codes."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    covariances: np.ndarray  # (K, D, D)


def fit_classifier(x: np.ndarray, y: np.ndarray, seed: int = 0,
                   max_iter: int = 200) -> Classifier:
    """Trains the label classifier on real images.

    Args:
      x: images with values in [0, 1], (N, P).
      y: integer labels, (N,).
      seed: seed of the solver.
      max_iter: iterations of L-BFGS.

    Returns:
      The classifier's arrays.
    """
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=max_iter, random_state=seed)
    model.fit(np.asarray(x, dtype=np.float64), np.asarray(y))
    return Classifier(model.coef_, model.intercept_, model.classes_)


def predict_probabilities(classifier: Classifier, x: np.ndarray) -> np.ndarray:
    """p(y|x) for every image and class, (N, C)."""
    logits = np.asarray(x, dtype=np.float64) @ classifier.coef.T + classifier.intercept
    return special.softmax(logits, axis=1)


def accuracy(classifier: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of images whose most probable class is their label."""
    predicted = classifier.classes[np.argmax(predict_probabilities(classifier, x), axis=1)]
    return float(np.mean(predicted == np.asarray(y)))


def label_metrics(probabilities: np.ndarray, label_frequencies: np.ndarray, seed=0,
                  num_bootstrap: int = BOOTSTRAP_DRAWS) -> dict:
    """Compares the labels of generated images with the data's.

    Args:
      probabilities: the classifier's p(y|x) of M generated images, (M, C).
      label_frequencies: the classes' frequencies in the data, (C,), summing to 1.
      seed: seed (an int or a sequence of ints) of the bootstrap of ``label_kl_se``.
      num_bootstrap: bootstrap draws.

    Returns:
      ``label_kl``: KL(h || f) of the histogram h of the most probable labels from the data's
      frequencies f (0 for a generator with the data's class balance, log(1/f_c) if every image
      is of class c), in nats; ``top_class_probability``: the mean of max_y p(y|x) (1 for images
      the classifier is sure of); ``label_histogram``: h, (C,). The Monte Carlo errors over the M
      independent images, given the generator and the classifier: ``top_class_probability_se``
      (sd / sqrt(M)) and ``label_kl_se`` (the sd of the KL of histograms of M labels drawn from
      h, a parametric bootstrap: it stays honest near KL = 0, where the plug-in KL is biased up
      by about (C - 1) / (2M) and the delta method would report 0).

    Raises:
      UserError: shapes that disagree, or frequencies that are not a distribution.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    label_frequencies = np.asarray(label_frequencies, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(label_frequencies):
        raise UserError(f"probabilities of shape {probabilities.shape} do not match "
                        f"{len(label_frequencies)} class frequencies.")
    if np.any(label_frequencies <= 0) or not np.isclose(label_frequencies.sum(), 1.0):
        raise UserError("label_frequencies must be positive and sum to 1.")
    num = len(probabilities)
    counts = np.bincount(np.argmax(probabilities, axis=1), minlength=len(label_frequencies))
    histogram = counts / num  # (C,)
    resampled = np.random.default_rng(seed).multinomial(num, histogram, size=num_bootstrap) / num
    resampled_kl = np.sum(special.rel_entr(resampled, label_frequencies), axis=1)  # (B,)
    top = np.max(probabilities, axis=1)  # (M,)
    return {"label_kl": float(np.sum(special.rel_entr(histogram, label_frequencies))),
            "label_kl_se": float(np.std(resampled_kl, ddof=1)),
            "top_class_probability": float(np.mean(top)),
            "top_class_probability_se": float(np.std(top, ddof=1) / math.sqrt(num)),
            "label_histogram": histogram}


def fit_expost_density(codes: np.ndarray, num_components: int = 10,
                       seed: int = 0) -> GaussianMixtureDensity:
    """Fits the ex-post density: a Gaussian mixture on the training codes (e.g. posterior means).

    Args:
      codes: (N, D).
      num_components: mixture components K.
      seed: seed of the initialisation.

    Returns:
      The mixture's arrays.
    """
    from sklearn.mixture import GaussianMixture

    mixture = GaussianMixture(n_components=num_components, covariance_type="full",
                              random_state=seed).fit(np.asarray(codes, dtype=np.float64))
    return GaussianMixtureDensity(mixture.weights_, mixture.means_, mixture.covariances_)


def sample_density(density: GaussianMixtureDensity, num_samples: int, seed) -> np.ndarray:
    """Draws codes from a Gaussian mixture density, (num_samples, D).

    Args:
      density: the mixture.
      num_samples: codes M.
      seed: an int or a sequence of ints (``np.random.default_rng``).

    Returns:
      The codes, (M, D).
    """
    rng = np.random.default_rng(seed)
    components = rng.choice(len(density.weights), size=num_samples, p=density.weights)
    cholesky = np.linalg.cholesky(density.covariances)  # (K, D, D)
    noise = rng.standard_normal((num_samples, density.means.shape[1]))  # (M, D)
    return density.means[components] + np.einsum("mij,mj->mi", cholesky[components], noise)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] as bytes 0..255 (rounded), same shape."""
    return np.round(np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def stack_sample_grids(rundirs: list) -> dict[str, np.ndarray]:
    """Stacks the runs' ``samples.npz`` (written by ``klgap evaluate``) into one set of arrays.

    Args:
      rundirs: run directories, each with a ``samples.npz``; all of one dataset.

    Returns:
      ``prior`` and ``expost``: uint8 grey levels, (R, G, P); ``image_shape``: (2,);
      ``rundir``: the run directories as strings, (R,).

    Raises:
      UserError: a missing file, or runs whose images differ in shape.
    """
    from klgap import atomic

    grids = []
    for rundir in rundirs:
        path = Path(rundir) / "samples.npz"
        if not path.is_file():
            raise UserError(f"{path} not found; evaluate the run first (`klgap evaluate`).")
        grids.append(atomic.load_npz(path))
    shapes = {tuple(grid["image_shape"]) for grid in grids}
    if len(shapes) > 1:
        raise UserError(f"the runs' samples have different image shapes {sorted(shapes)}; "
                        f"stack the runs of one dataset at a time.")
    return {"prior": np.stack([grid["prior"] for grid in grids]),
            "expost": np.stack([grid["expost"] for grid in grids]),
            "image_shape": grids[0]["image_shape"] if grids else np.zeros(2, np.int64),
            "rundir": np.array([str(rundir) for rundir in rundirs])}
