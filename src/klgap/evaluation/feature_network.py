"""A small CNN classifier per dataset, whose penultimate activations are the features of FID/KID.

Inception features are for natural images; on MNIST-like data the usual substitute is a
classifier trained on the dataset itself. The network: two blocks of 3x3 convolution (ReLU,
"same" padding) and 2x2 max pooling, a dense ReLU layer (the features), dropout, and a linear
layer to the class logits. It takes flattened images (N, P) in [0, 1] and reshapes them to
``image_shape`` (28x28 for MNIST and Fashion-MNIST, 8x8 for the UCI digits). Keras 3 layers,
trained with Adam; a seed fixes the initialisation, the dropout masks and the order of the
batches, and training turns TensorFlow's op determinism on (process-wide, as
``klgap.models.device.configure`` does), so that a seed gives the same weights on CPU. The file
is one ``.npz``: the weights as arrays, the architecture and the training record as JSON.
"""

import json
import math
import os
import time
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from klgap import atomic
from klgap.errors import UserError

if TYPE_CHECKING:  # TensorFlow and Keras load only when a network is built
    import keras

CHANNELS = (32, 64)  # of the two convolution blocks
FEATURE_DIM = 128  # width of the penultimate (feature) layer
DROPOUT = 0.3  # before the logits
EPOCHS = 8  # enough for the targets: >= 99% test accuracy on MNIST, >= 90% on Fashion-MNIST
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
PREDICT_BATCH_SIZE = 2000
FEATURE_LAYER = "features"


class FeatureNetwork(NamedTuple):
    """A trained classifier and the model that outputs its penultimate activations."""

    classifier: "keras.Model"  # (N, P) images -> (N, C) logits
    extractor: "keras.Model"  # (N, P) images -> (N, F) features, sharing the classifier's layers
    architecture: dict  # the arguments of ``build_network``


def build_network(image_shape, num_classes: int, channels=CHANNELS,
                  feature_dim: int = FEATURE_DIM, dropout: float = DROPOUT) -> FeatureNetwork:
    """Builds the (untrained) network.

    Args:
      image_shape: (height, width) of the images, height * width = P.
      num_classes: C.
      channels: output channels of the two convolution blocks.
      feature_dim: F, width of the feature layer.
      dropout: dropout rate between the features and the logits (training only).

    Returns:
      The network, with Keras's default (Glorot-uniform) initialisation from the global seed.
    """
    import keras

    height, width = (int(side) for side in image_shape)
    inputs = keras.Input(shape=(height * width,), name="pixels")
    hidden = keras.layers.Reshape((height, width, 1))(inputs)  # (N, H, W, 1)
    for block, width_out in enumerate(channels):
        hidden = keras.layers.Conv2D(int(width_out), 3, padding="same", activation="relu",
                                     name=f"conv{block}")(hidden)
        hidden = keras.layers.MaxPooling2D(2, name=f"pool{block}")(hidden)
    hidden = keras.layers.Flatten()(hidden)
    features = keras.layers.Dense(int(feature_dim), activation="relu",
                                  name=FEATURE_LAYER)(hidden)  # (N, F)
    dropped = keras.layers.Dropout(float(dropout))(features)
    logits = keras.layers.Dense(int(num_classes), name="logits")(dropped)  # (N, C)
    architecture = {"image_shape": [height, width], "num_classes": int(num_classes),
                    "channels": [int(c) for c in channels], "feature_dim": int(feature_dim),
                    "dropout": float(dropout)}
    return FeatureNetwork(keras.Model(inputs, logits, name="feature_network"),
                          keras.Model(inputs, features, name="feature_extractor"), architecture)


def train_feature_network(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                          y_test: np.ndarray, *, image_shape, seed: int = 0,
                          epochs: int = EPOCHS, batch_size: int = BATCH_SIZE,
                          learning_rate: float = LEARNING_RATE,
                          num_classes: int | None = None) -> tuple[FeatureNetwork, dict]:
    """Trains the network with Adam on the cross-entropy, and scores it on both splits.

    Seeds Python's, NumPy's and TensorFlow's global generators (``keras.utils.set_random_seed``)
    and turns TensorFlow's op determinism on, so that a seed gives the same weights on CPU.

    Args:
      x_train: training images, (N, P) in [0, 1].
      y_train: their labels, (N,) integers in [0, C).
      x_test: test images, (M, P).
      y_test: their labels, (M,).
      image_shape: (height, width), height * width = P.
      seed: seed of the initialisation, dropout and batch order.
      epochs: passes over the training data.
      batch_size: examples per Adam step.
      learning_rate: Adam's step size.
      num_classes: C; None: the largest label + 1.

    Returns:
      The network and its record: ``test_accuracy``, ``train_accuracy`` (of the final weights,
      without dropout), ``train_loss`` (the mean cross-entropy of each epoch, with dropout),
      ``train_seconds`` (wall) and ``train_cpu_seconds`` (this process, all threads),
      ``num_parameters``, the settings (``epochs``, ``batch_size``,
      ``learning_rate``, ``seed``) and ``n_train``, ``n_test``.

    Raises:
      UserError: images or labels of the wrong shape or range, or bad settings.
    """
    x_train, y_train = check_images_and_labels(x_train, y_train, image_shape, "train")
    x_test, y_test = check_images_and_labels(x_test, y_test, image_shape, "test")
    if epochs < 1 or batch_size < 1 or not learning_rate > 0:
        raise UserError(f"epochs ({epochs}) and batch_size ({batch_size}) must be >= 1 and "
                        f"learning_rate ({learning_rate}) > 0; fix the arguments.")
    num_classes = int(max(y_train.max(), y_test.max()) + 1) if num_classes is None else num_classes
    if max(y_train.max(), y_test.max()) >= num_classes:
        raise UserError(f"labels reach {max(y_train.max(), y_test.max())} but num_classes is "
                        f"{num_classes}; pass num_classes=None or a larger value.")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    network = build_network(image_shape, num_classes)
    network.classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter(), time.process_time()
    history = network.classifier.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                                      shuffle=True, verbose=0)
    train_seconds = time.perf_counter() - start[0]
    train_cpu_seconds = time.process_time() - start[1]
    record = {"test_accuracy": accuracy(network, x_test, y_test),
              "train_accuracy": accuracy(network, x_train, y_train),
              "train_loss": [float(loss) for loss in history.history["loss"]],
              "train_seconds": train_seconds, "train_cpu_seconds": train_cpu_seconds,
              "num_parameters": int(network.classifier.count_params()),
              "epochs": int(epochs), "batch_size": int(batch_size),
              "learning_rate": float(learning_rate), "seed": int(seed),
              "n_train": len(x_train), "n_test": len(x_test)}
    return network, record


def logits(network: FeatureNetwork, x: np.ndarray) -> np.ndarray:
    """The class logits of images x (N, P) in [0, 1], (N, C) float32 (no dropout).

    Raises:
      UserError: images of the wrong shape.
    """
    x = check_images(x, network.architecture["image_shape"], "x")
    return predict(network.classifier, x)


def features(network: FeatureNetwork, x: np.ndarray) -> np.ndarray:
    """The penultimate-layer activations of images x (N, P) in [0, 1], (N, F) float32.

    Raises:
      UserError: images of the wrong shape.
    """
    x = check_images(x, network.architecture["image_shape"], "x")
    return predict(network.extractor, x)


def accuracy(network: FeatureNetwork, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of images whose largest logit is at their label."""
    return float(np.mean(np.argmax(logits(network, x), axis=1) == np.asarray(y)))


def predict(model, x: np.ndarray) -> np.ndarray:
    """Runs a Keras model over x in batches (inference mode), float32."""
    if len(x) == 0:
        return np.zeros((0, *model.output.shape[1:]), np.float32)
    outputs = model.predict(np.asarray(x, np.float32), batch_size=PREDICT_BATCH_SIZE, verbose=0)
    return np.asarray(outputs, dtype=np.float32)


def save(network: FeatureNetwork, path: str | os.PathLike, record: dict | None = None) -> None:
    """Writes the weights, the architecture and the record to one ``.npz``, atomically.

    Args:
      network: the trained network.
      path: the output file.
      record: the training record (JSON-serialisable), or None.
    """
    weights = network.classifier.get_weights()
    arrays = {f"weight_{index:03d}": weight for index, weight in enumerate(weights)}
    arrays["architecture_json"] = np.array(json.dumps(network.architecture, sort_keys=True))
    arrays["record_json"] = np.array(json.dumps(record or {}, sort_keys=True))
    atomic.savez(path, **arrays)


def load(path: str | os.PathLike) -> tuple[FeatureNetwork, dict]:
    """Reads a network written by ``save``.

    Returns:
      The network and its record.

    Raises:
      UserError: a missing file, or one that is not a feature network's.
    """
    if not os.path.isfile(path):
        raise UserError(f"feature network {path} not found; train and save it first "
                        f"(klgap.evaluation.feature_network.train_feature_network, save).")
    arrays = atomic.load_npz(path)
    if "architecture_json" not in arrays:
        raise UserError(f"{path} is not a feature network file (no architecture_json); train "
                        f"and save the network again.")
    network = build_network(**json.loads(str(arrays["architecture_json"])))
    names = sorted(key for key in arrays if key.startswith("weight_"))
    expected = len(network.classifier.get_weights())
    if len(names) != expected:
        raise UserError(f"{path} holds {len(names)} weight arrays, the architecture needs "
                        f"{expected}; the file is damaged: train and save the network again.")
    network.classifier.set_weights([arrays[name] for name in names])
    return network, json.loads(str(arrays["record_json"]))


def check_images(x, image_shape, name: str) -> np.ndarray:
    """Checks flattened images against ``image_shape``; returns them as float32 (N, P)."""
    x = np.asarray(x, dtype=np.float32)
    num_pixels = math.prod(int(side) for side in image_shape)
    if x.ndim != 2 or x.shape[1] != num_pixels:
        raise UserError(f"{name} has shape {x.shape}; expected flattened images (N, "
                        f"{num_pixels}) for image_shape {tuple(image_shape)}: reshape with "
                        f"x.reshape(len(x), -1) or pass the right image_shape.")
    if not np.all(np.isfinite(x)):
        raise UserError(f"{name} holds NaN or infinite values; check the images.")
    return x


def check_images_and_labels(x, y, image_shape, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Checks one split's images and integer labels; returns float32 images and int64 labels."""
    x = check_images(x, image_shape, f"x_{split}")
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise UserError(f"y_{split} has shape {y.shape}; expected one label per image, "
                        f"({len(x)},).")
    if len(x) == 0:
        raise UserError(f"the {split} split is empty; pass some images.")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise UserError(f"y_{split} must hold non-negative integer labels (0..C-1), got dtype "
                        f"{y.dtype} with minimum {y.min()}; map the classes to 0..C-1.")
    return x, y.astype(np.int64)
