"""The label classifier of a dataset: trained once on its real training images (``klgap
classifier``).

``klgap evaluate`` labels decoded samples with it (``klgap.evaluation.generation``). The file
holds the logistic regression's arrays (no pickle), its accuracy on the test split, and the
training split's label frequencies, the reference of the label KL.
"""

import argparse
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from klgap import atomic
from klgap.data import datasets as data
from klgap.evaluation import generation
from klgap.errors import UserError

KEYS = ("coef", "intercept", "classes", "label_frequencies", "test_accuracy", "train_accuracy",
        "dataset", "n_train", "iterations")
MAX_ITER = 200  # L-BFGS iterations


class StoredClassifier(NamedTuple):
    """A dataset's label classifier with what evaluation compares against."""

    classifier: generation.Classifier
    label_frequencies: np.ndarray  # (C,) of the training labels, in the order of ``classes``
    test_accuracy: float
    dataset: str


def train_classifier(arrays: dict, seed: int = 0, max_iter: int = MAX_ITER) -> dict:
    """Trains the classifier on the training images (grey levels) and scores it on the test split.

    Args:
      arrays: a prepared dataset (``x_train``, ``y_train``, ``x_test``, ``y_test``, ``dataset``).
      seed: seed of the solver.
      max_iter: L-BFGS iterations.

    Returns:
      The arrays to store (``KEYS``).

    Raises:
      UserError: missing arrays, or fewer than two classes.
    """
    missing = [key for key in ("x_train", "y_train", "x_test", "y_test") if key not in arrays]
    if missing:
        raise UserError(f"the dataset has no {', '.join(missing)}; prepare it again "
                        f"(`klgap prepare`).")
    y_train = np.asarray(arrays["y_train"])
    classes, counts = np.unique(y_train, return_counts=True)
    if len(classes) < 2:
        raise UserError(f"the training labels have {len(classes)} class; a classifier needs at "
                        f"least two: check the dataset.")
    if max_iter < 1:
        raise UserError(f"max_iter must be >= 1, got {max_iter}.")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings():  # the iterations are recorded instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(np.asarray(arrays["x_train"], dtype=np.float64), y_train)
    classifier = generation.Classifier(model.coef_, model.intercept_, model.classes_)
    return {"coef": classifier.coef, "intercept": classifier.intercept,
            "classes": classifier.classes, "label_frequencies": counts / counts.sum(),
            "test_accuracy": np.array(generation.accuracy(classifier, arrays["x_test"],
                                                          arrays["y_test"])),
            "train_accuracy": np.array(generation.accuracy(classifier, arrays["x_train"],
                                                           y_train)),
            "dataset": np.array(str(arrays.get("dataset", ""))), "n_train": np.array(len(y_train)),
            "iterations": np.array(int(np.max(model.n_iter_)))}


def load_classifier(path, dataset: str | None = None,
                    data_dim: int | None = None) -> StoredClassifier:
    """Loads a classifier file written by ``klgap classifier``, checking it fits the data.

    Args:
      path: the ``.npz`` file.
      dataset: the dataset it must belong to (None: any).
      data_dim: the number of pixels it must take (None: any).

    Returns:
      The classifier, its label frequencies and test accuracy.

    Raises:
      UserError: a missing or incomplete file, or one of another dataset or image size.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"classifier {path} not found; train it first with `klgap classifier "
                        f"--data DATA.npz --out {path}` (the workflow's rule `classifier`).")
    arrays = atomic.load_npz(path)
    missing = [key for key in KEYS if key not in arrays]
    if missing:
        raise UserError(f"classifier {path} lacks {', '.join(missing)}; train it again with "
                        f"`klgap classifier`.")
    stored = str(arrays["dataset"])
    if dataset is not None and stored != str(dataset):
        raise UserError(f"classifier {path} was trained on {stored!r}, not {str(dataset)!r}; "
                        f"pass the classifier of the run's dataset.")
    if data_dim is not None and arrays["coef"].shape[1] != data_dim:
        raise UserError(f"classifier {path} takes {arrays['coef'].shape[1]} pixels, the model "
                        f"{data_dim}; pass the classifier of the run's dataset.")
    classifier = generation.Classifier(arrays["coef"], arrays["intercept"], arrays["classes"])
    return StoredClassifier(classifier, arrays["label_frequencies"],
                            float(arrays["test_accuracy"]), stored)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the ``classifier`` command's arguments."""
    parser.add_argument("--data", required=True, help="prepared dataset (.npz)")
    parser.add_argument("--out", required=True, type=Path, help="output classifier (.npz)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the solver")
    parser.add_argument("--max-iter", type=int, default=MAX_ITER, help="L-BFGS iterations")


def main(args: argparse.Namespace) -> None:
    """Runs ``classifier``: trains it and writes its ``.npz`` atomically."""
    arrays = train_classifier(data.load(args.data), args.seed, args.max_iter)
    atomic.savez(args.out, **arrays)
    print(f"classifier of {arrays['dataset']}: test accuracy {float(arrays['test_accuracy']):.4f}"
          f" (train {float(arrays['train_accuracy']):.4f}, {int(arrays['iterations'])} "
          f"iterations) -> {args.out}")
