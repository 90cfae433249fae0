"""TensorFlow runtime set-up: thread pools, GPU memory growth, and which device is used."""

import os

import tensorflow as tf


def configure(threads: int | None, deterministic: bool = True) -> str:
    """Configures TensorFlow before any op runs and names the device that will be used.

    Args:
      threads: size of TensorFlow's intra-op thread pool (the Snakemake rule's ``threads``);
        None leaves TensorFlow's default (all cores).
      deterministic: turn on op determinism (bitwise-reproducible results on CPU).

    Returns:
      A description of the device: the GPU's name when TensorFlow sees one, else ``CPU``.
    """
    gpus = tf.config.list_physical_devices("GPU")
    try:
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        for gpu in gpus:  # several runs may share one GPU
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        pass  # the runtime is already initialised (a second run in one process): keep it
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if not gpus:
        return f"CPU ({os.cpu_count()} cores, {threads or 'all'} threads)"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU: {details.get('device_name', gpus[0].name)}"
