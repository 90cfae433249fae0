"""Training throughput of the default model against Keras 3 and JAX VAEs and the matmul rate.

Figures (results/bench/training.csv), at 1 thread (the sweep's setting) and at 2:
  * float32 matrix-product rate of tf.matmul: each layer shape of the model at batch 128, and a
    large square product (2048 x 2048), the machine's practical peak and the denominator below;
  * steady-state examples/s of klgap's training loop (``engine.make_train_step`` and
    ``engine.train_epoch``, exactly as ``klgap train`` runs them, op determinism on) on
    Fashion-MNIST, the first epoch (tracing) excluded;
  * the same for a plain Keras 3 ``model.fit`` VAE of the same architecture (784-256-256-2x10
    encoder, 10-256-256-784 Bernoulli decoder, dynamic binarization, Adam 1e-3, batch 128),
    with Keras's default ``jit_compile="auto"`` (which resolves to no XLA here) and with XLA on;
  * the same for the same model in JAX/Flax/Optax (``jax.jit``), the framework a user would
    pick instead, and the ratio klgap / JAX: see "JAX" below. Skipped, with a printed note, when
    no interpreter with jax, flax and optax is configured;
  * FLOPs per training example counted from the architecture: 2 x (sum of fan_in x fan_out)
    for the forward pass, times 3 for forward + backward (two matrix products per layer in the
    backward pass), and the achieved fraction of the large-square rate at the same threads.

Each measurement runs in its own process (thread pools are fixed at start-up). ``load_1min`` is
the load average before it; the note gives the CPU used by other processes during it and the
rate per CPU-second of the measured process. At 1 thread the latter estimates a quiet machine's
rate when others compete for the cores (``benchlib.Meter``), and the targets are also reported
from it (``*_cpu_time`` rows).

JAX. The JAX worker runs in the interpreter ``--jax-python PATH`` (default: $KLGAP_JAX_PYTHON,
else this Python), one with the ``jax`` extra of pyproject.toml: jax, flax and optax, which are
not in klgap's locks. It needs neither TensorFlow nor klgap, so a separate environment keeps the
locked one as it is (``python3.11 -m venv .venv-jax && .venv-jax/bin/pip install jax==0.10.2
flax==0.12.8 optax==0.2.8``); installed beside TensorFlow 2.21 instead, the extra changes none of
the locked versions (numpy, ml_dtypes: checked with ``pip install --dry-run``) but adds 16
packages. The model is the benchmarked one: flax.linen Dense layers of the same widths, Glorot
uniform kernels and zero biases, sigma = softplus(raw) + 1e-4, one reparameterised sample, the
loss mean_i [sum_p (softplus(l) - x l) + KL(q(z|x_i) || N(0, I))] in closed form, dynamic
binarization and noise from stateless keys (``jax.random.fold_in(key, step)``), the batch
gathered from the training set inside the step (as klgap's step does), Adam with klgap's
hyperparameters (lr 1e-3, betas 0.9, 0.999, epsilon 1e-7; optax adds epsilon to sqrt(v_hat)
after the bias correction, klgap and Keras before it, a difference of numerics, not of cost),
the whole step under ``jax.jit``. ``tests/test_bench_training.py`` checks that its loss equals
klgap's for the same weights, bits and noise.

One thread for XLA: its CPU client sizes its intra-op thread pool (threads "tf_XLAEigen") to the
CPUs the process may use when the client starts, and ``--xla_cpu_multi_thread_eigen=false`` alone
does not stop it from spreading a step over that pool (measured with jaxlib 0.10.2: two pool
threads with half the CPU time each on this 2-core machine; ``intra_op_parallelism_threads=1``
is not an XLA flag: jaxlib aborts on ``--intra_op_parallelism_threads`` and ignores it without
the dashes). Besides, JAX's asynchronous dispatch runs Python (the next step's dispatch)
alongside the step, and a second thread of XLA's runtime also takes part of a step's CPU time.
The worker therefore confines itself, as ``taskset -c`` would, to ``threads`` CPUs (the last of
those it may use) before jax starts and for the whole run, with
``--xla_cpu_multi_thread_eigen=false`` at 1 thread: a pool of one thread, and at most one core
busy at any time, as for klgap's step, whose loop waits for each step. The note of its row gives
the CPU time of each busy thread. On a loaded machine a pinned process cannot move to a less busy
core, so there the per-CPU-second figures are the ones to compare.

Usage: PYTHONPATH=src .venv/bin/python bench/bench_training.py [--epochs 3] [--threads 1 2]
         [--frameworks ours keras keras_xla jax] [--jax-python PATH]
         [--out results/bench/training.csv]
"""

import argparse
import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

DATA = benchlib.ROOT / "results" / "data" / "fashion_mnist.npz"
HIDDEN = [256, 256]
LATENT_DIM = 10
BATCH_SIZE = 128
# klgap's Adam (klgap.training.adam) as ``klgap train`` uses it, and the posterior's scale floor
# (klgap.models.vae.SCALE_FLOOR), repeated for the JAX worker, which cannot import klgap's
# TensorFlow modules; tests/test_bench_training.py checks that they agree.
LEARNING_RATE, BETA1, BETA2, EPSILON = 1e-3, 0.9, 0.999, 1e-7
SCALE_FLOOR = 1e-4
JAX_PYTHON_ENV = "KLGAP_JAX_PYTHON"  # the default interpreter of the JAX worker
JAX_PACKAGES = ("jax", "jaxlib", "flax", "optax")


def flop_model():
    """``klgap.sweep.floor``, imported when needed (it imports TensorFlow's side of klgap)."""
    from klgap.sweep import floor

    return floor


def layer_shapes() -> list[tuple[int, int]]:
    """Returns (fan_in, fan_out) of every weight matrix of the benchmarked model: encoder,
    decoder."""
    encoder, decoder = flop_model().layer_shapes(784, LATENT_DIM, HIDDEN)
    return [*encoder, *decoder]


def training_flops_per_example() -> float:
    """Matrix-product FLOPs of one training example: 3 x forward (``klgap.sweep.floor``)."""
    return 3 * flop_model().forward_flops(layer_shapes())


def worker_matmul(threads: int) -> list[dict]:
    """Times tf.matmul for the model's layer shapes and a large square, in GFLOP/s."""
    from klgap.models import device

    device.configure(threads)
    import tensorflow as tf

    results = []
    shapes = [(BATCH_SIZE, fan_in, fan_out) for fan_in, fan_out in layer_shapes()]
    large = flop_model().LARGE_SQUARE
    shapes.append((large, large, large))
    for rows, inner, cols in shapes:
        a = tf.random.stateless_normal([rows, inner], seed=[1, 2])
        w = tf.random.stateless_normal([inner, cols], seed=[3, 4]) / np.sqrt(inner)
        flops = 2.0 * rows * inner * cols
        repeats = max(5, int(2e10 / flops))  # about a second at 20 GFLOP/s

        @tf.function
        def chain(a, w, repeats=repeats):
            # Each product feeds the next input, so no product can be skipped or hoisted.
            def body(i, x):
                return i + 1, x + 1e-6 * tf.reduce_mean(tf.matmul(x, w))
            return tf.while_loop(lambda i, x: i < repeats, body, [tf.constant(0), a])[1]

        chain(a, w).numpy()  # trace and warm up
        with benchlib.Meter() as meter:
            chain(a, w).numpy()
        results.append({"shape": f"({rows}x{inner}) @ ({inner}x{cols})",
                        "gflops": flops * repeats / meter.seconds / 1e9,
                        "gflops_per_cpu": flops * repeats / meter.cpu_seconds / 1e9,
                        "other_cores": meter.other_cores, "large": rows == large})
    return results


def worker_ours(threads: int, epochs: int, data_path: Path) -> list[dict]:
    """Times klgap's training loop (the code ``klgap train`` runs) on the prepared data."""
    from klgap.data import datasets as data
    from klgap.models import device
    from klgap.training import engine
    from klgap.models import vae as model
    from klgap.training import objectives
    from klgap.training.adam import Adam

    device.configure(threads)
    import tensorflow as tf

    arrays = data.load(data_path)
    x_train = tf.constant(arrays["x_train"])  # (N, P)
    num_train, data_dim = arrays["x_train"].shape
    vae = model.VAE.build(data_dim, LATENT_DIM, HIDDEN, seed=0)
    optimizer = Adam(vae.trainable_variables, LEARNING_RATE, BETA1, BETA2, EPSILON)
    train_step = engine.make_train_step(vae, optimizer, objectives.get("vae"),
                                         {"beta": tf.constant(1.0)}, x_train)
    engine.train_epoch(train_step, num_train, BATCH_SIZE, [0], 1, 0)  # warm-up: tracing
    with benchlib.Meter() as meter:
        for epoch in range(2, epochs + 1):
            engine.train_epoch(train_step, num_train, BATCH_SIZE, [0], epoch,
                               int(optimizer.step.numpy()))
    return [{"examples_per_second": num_train * (epochs - 1) / meter.seconds,
             "examples_per_cpu_second": num_train * (epochs - 1) / meter.cpu_seconds,
             "other_cores": meter.other_cores, "note": "op determinism on"}]


def worker_keras(threads: int, epochs: int, data_path: Path, jit_compile) -> list[dict]:
    """Times a plain Keras 3 ``model.fit`` VAE of the same architecture."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    import keras
    from keras import layers, ops

    class KerasVAE(keras.Model):
        """The Keras documentation's VAE pattern: two Sequential MLPs and a custom train_step."""

        def __init__(self):
            super().__init__()
            self.encoder = keras.Sequential([
                keras.Input((784,)), layers.Dense(HIDDEN[0], "relu"),
                layers.Dense(HIDDEN[1], "relu"), layers.Dense(2 * LATENT_DIM)])
            self.decoder = keras.Sequential([
                keras.Input((LATENT_DIM,)), layers.Dense(HIDDEN[1], "relu"),
                layers.Dense(HIDDEN[0], "relu"), layers.Dense(784)])
            self.seeds = keras.random.SeedGenerator(0)

        def train_step(self, x_grey):
            x = ops.cast(keras.random.uniform(ops.shape(x_grey), seed=self.seeds) < x_grey,
                         "float32")  # dynamic binarization, (B, P)
            with tf.GradientTape() as tape:
                loc, raw_scale = ops.split(self.encoder(x), 2, axis=-1)  # (B, D) each
                scale = ops.softplus(raw_scale) + 1e-4
                z = loc + scale * keras.random.normal(ops.shape(loc), seed=self.seeds)
                logits = self.decoder(z)  # (B, P)
                distortion = ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), -1)
                rate = ops.sum(0.5 * (ops.square(loc) + ops.square(scale) - 1.0)
                               - ops.log(scale), -1)
                loss = ops.mean(distortion + rate)
            gradients = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply(gradients, self.trainable_weights)
            return {"loss": loss}

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # the first epoch (tracing, compiling) is warm-up
                self.meter = benchlib.Meter().__enter__()

    from klgap.data import datasets as data

    x_train = data.load(data_path)["x_train"]  # (N, P)
    vae = KerasVAE()
    vae.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), jit_compile=jit_compile)
    timer = EpochTimes()
    vae.fit(x_train, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0,
            callbacks=[timer])
    timer.meter.__exit__()
    return [{"examples_per_second": len(x_train) * (epochs - 1) / timer.meter.seconds,
             "examples_per_cpu_second": len(x_train) * (epochs - 1) / timer.meter.cpu_seconds,
             "other_cores": timer.meter.other_cores,
             "note": f"keras {keras.__version__}, jit_compile={jit_compile!r} "
                     f"(resolved: {vae.jit_compile})"}]


# JAX/Flax/Optax: the same model in the framework a user would pick instead. These functions run
# in the JAX worker's interpreter, which has numpy, jax, flax and optax, but not TensorFlow.


def jax_start(threads: int) -> list[int]:
    """Confines this process to ``threads`` CPUs and starts XLA's CPU client there (see the
    module's docstring, "One thread for XLA").

    Call before anything else imports jax. Returns the CPUs.
    """
    cpus = sorted(os.sched_getaffinity(0))[-threads:]
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    os.sched_setaffinity(0, cpus)  # threads started from now on inherit it
    import jax

    jax.devices()  # starts the client: its pool has one thread per CPU allowed
    return cpus


def jax_versions() -> dict:
    """The installed versions of jax, jaxlib, flax and optax."""
    from importlib import metadata

    return {name: metadata.version(name) for name in JAX_PACKAGES}


def thread_cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of each thread of this process, keyed by ``<tid>:<name>``."""
    seconds = {}
    for task in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
            name = Path(f"/proc/self/task/{task}/comm").read_text().strip()
        except OSError:
            continue  # a thread that has ended
        seconds[f"{task}:{name}"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def thread_shares(before: dict[str, float], after: dict[str, float]) -> str:
    """The threads that used CPU time between two ``thread_cpu_seconds``, with their shares."""
    used = {key: after[key] - before.get(key, 0.0) for key in after}
    total = sum(used.values()) or 1.0
    busy = sorted(((seconds / total, key.split(":", 1)[1]) for key, seconds in used.items()
                   if seconds >= 0.02 * total), reverse=True)
    return ", ".join(f"{name} {100 * share:.0f}%" for share, name in busy)


def jax_model(data_dim: int):
    """The benchmarked VAE in flax.linen, and its per-example terms.

    Returns:
      ``(model, terms)``: a flax module whose ``init(key, x, noise)`` makes Glorot-uniform
      kernels and zero biases, and ``terms(params, x, noise)``: distortion -log p(x|z) and rate
      KL(q(z|x) || N(0, I)), (B,) each, for binary x (B, P) and noise (B, D).
    """
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    class MLP(nn.Module):
        """ReLU hidden layers and a linear output layer (klgap.models.vae.MLP)."""

        sizes: tuple[int, ...]  # output widths

        @nn.compact
        def __call__(self, x):
            for i, width in enumerate(self.sizes):
                x = nn.Dense(width, kernel_init=nn.initializers.glorot_uniform(),
                             bias_init=nn.initializers.zeros, name=f"layer{i}")(x)
                if i < len(self.sizes) - 1:
                    x = nn.relu(x)
            return x

    class VAE(nn.Module):
        def setup(self):
            self.encoder = MLP((*HIDDEN, 2 * LATENT_DIM))
            self.decoder = MLP((*HIDDEN[::-1], data_dim))

        def __call__(self, x, noise):
            loc, raw_scale = jnp.split(self.encoder(x), 2, axis=-1)  # (B, D) each
            scale = jax.nn.softplus(raw_scale) + SCALE_FLOOR
            logits = self.decoder(loc + scale * noise)  # (B, P)
            distortion = -jnp.sum(x * logits - jax.nn.softplus(logits), axis=-1)  # (B,)
            rate = jnp.sum(0.5 * (jnp.square(loc) + jnp.square(scale) - 1.0) - jnp.log(scale),
                           axis=-1)  # (B,): KL(N(loc, scale^2) || N(0, 1)) over dimensions
            return distortion, rate

    model = VAE()
    return model, model.apply


def jax_params_from_klgap(weights: dict) -> dict:
    """Flax parameters from klgap's weights (``klgap.models.vae.get_weights``: encoder/w0, ...)."""
    params = {}
    for key, value in weights.items():
        net, name = key.split("/")
        layer = params.setdefault(net, {}).setdefault(f"layer{name[1:]}", {})
        layer["kernel" if name[0] == "w" else "bias"] = value
    return {"params": params}


def jax_optimizer():
    """optax's Adam with klgap's hyperparameters."""
    import optax

    return optax.adam(LEARNING_RATE, b1=BETA1, b2=BETA2, eps=EPSILON)


def worker_jax(threads: int, epochs: int, data_path: Path, seed: int = 0) -> list[dict]:
    """Times the JAX/Flax/Optax training loop on the prepared data, like ``worker_ours``."""
    cpus = jax_start(threads)
    import jax
    import jax.numpy as jnp
    import optax

    with np.load(data_path) as arrays:
        x_train_host = arrays["x_train"]  # (N, P) grey levels in [0, 1]
    num_train, data_dim = x_train_host.shape
    x_train = jnp.asarray(x_train_host)
    model, terms = jax_model(data_dim)
    init_key, base_key = jax.random.split(jax.random.key(seed))
    params = model.init(init_key, jnp.zeros((1, data_dim)), jnp.zeros((1, LATENT_DIM)))
    optimizer = jax_optimizer()
    opt_state = optimizer.init(params)

    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def train_step(params, opt_state, sums, x_train, batch_index, step):
        binarize_key, noise_key = jax.random.split(jax.random.fold_in(base_key, step))
        x_grey = x_train[batch_index]  # (B, P)
        x = (jax.random.uniform(binarize_key, x_grey.shape) < x_grey).astype(jnp.float32)
        noise = jax.random.normal(noise_key, (x.shape[0], LATENT_DIM))  # (B, D)

        def loss(params):
            distortion, rate = terms(params, x, noise)
            return jnp.mean(distortion + rate), jnp.stack([distortion.sum(), rate.sum()])

        gradients, batch_sums = jax.grad(loss, has_aux=True)(params)
        updates, opt_state = optimizer.update(gradients, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, sums + batch_sums

    step = 0

    def epoch(number: int):
        nonlocal params, opt_state, step
        order = np.random.default_rng([seed, number]).permutation(num_train).astype(np.int32)
        sums = jnp.zeros(2)  # the epoch's sums of distortion and rate, as klgap's epoch keeps
        for first in range(0, num_train, BATCH_SIZE):
            step += 1
            params, opt_state, sums = train_step(params, opt_state, sums, x_train,
                                                 order[first:first + BATCH_SIZE], step)
        return np.asarray(sums)  # waits for the epoch's last step

    epoch(1)  # warm-up: tracing and compiling (the full batches' shape and the last one's)
    threads_before = thread_cpu_seconds()
    with benchlib.Meter() as meter:
        for number in range(2, epochs + 1):
            sums = epoch(number)
    shares = thread_shares(threads_before, thread_cpu_seconds())
    if not np.all(np.isfinite(sums)):
        raise RuntimeError(f"non-finite JAX training loss: {sums}")
    packages = ", ".join(f"{name} {version}" for name, version in jax_versions().items()
                         if name != "jaxlib")
    flags = os.environ.get("XLA_FLAGS", "")
    return [{"examples_per_second": num_train * (epochs - 1) / meter.seconds,
             "examples_per_cpu_second": num_train * (epochs - 1) / meter.cpu_seconds,
             "other_cores": meter.other_cores,
             "note": f"{packages}, jax.jit; process pinned to CPU {','.join(map(str, cpus))}"
                     f"{', XLA_FLAGS=' + flags if flags else ''}; CPU time by thread: {shares}; "
                     f"last epoch's loss {sums.sum() / num_train:.2f}"}]


def worker_jax_loss(inputs: Path) -> dict:
    """The JAX model's terms for given klgap weights, bits and noise, and its own initialisation.

    Args:
      inputs: an .npz of klgap's weights (keys ``encoder/w0``, ...), ``x`` (B, P) and ``noise``
        (B, D); tests/test_bench_training.py writes it.

    Returns:
      ``distortion`` and ``rate`` (B,) and ``loss`` (their mean sum) at those weights, and for
      each layer of a fresh ``init``: the largest |kernel| and the kernel's standard deviation,
      each over the Glorot-uniform value (limit sqrt(6 / (fan_in + fan_out)) and limit / sqrt 3),
      and the largest |bias|.
    """
    jax_start(1)
    import jax
    import jax.numpy as jnp

    with np.load(inputs) as arrays:
        arrays = dict(arrays)
    x, noise = arrays.pop("x"), arrays.pop("noise")
    model, terms = jax_model(x.shape[1])
    distortion, rate = terms(jax_params_from_klgap(arrays), jnp.asarray(x), jnp.asarray(noise))
    fresh = model.init(jax.random.key(0), jnp.zeros((1, x.shape[1])), jnp.zeros((1, LATENT_DIM)))
    init = {}
    for net, layers in fresh["params"].items():
        for name, layer in layers.items():
            kernel = np.asarray(layer["kernel"])
            limit = np.sqrt(6.0 / sum(kernel.shape))
            init[f"{net}/{name}"] = [float(np.abs(kernel).max() / limit),
                                     float(kernel.std() / (limit / np.sqrt(3.0))),
                                     float(np.abs(np.asarray(layer["bias"])).max())]
    return {"distortion": np.asarray(distortion).tolist(), "rate": np.asarray(rate).tolist(),
            "loss": float(jnp.mean(distortion + rate)), "init": init,
            "adam": {"learning_rate": LEARNING_RATE, "b1": BETA1, "b2": BETA2, "eps": EPSILON},
            "versions": jax_versions()}


def jax_interpreter(python: str | None) -> tuple[str | None, str]:
    """The interpreter that runs the JAX worker, if it has jax, flax and optax.

    Args:
      python: ``--jax-python``; None: $KLGAP_JAX_PYTHON, else this interpreter.

    Returns:
      ``(path, versions)`` where it can run the worker, else ``(None, why not)``.
    """
    python = python or os.environ.get(JAX_PYTHON_ENV) or sys.executable
    probe = ("import importlib.metadata as m, jax, flax, optax; "
             f"print(', '.join(n + ' ' + m.version(n) for n in {JAX_PACKAGES!r}))")
    try:
        found = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300,
                               check=False, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"{python} cannot run ({error})"
    if found.returncode != 0:
        lines = found.stderr.strip().splitlines() or ["no output"]
        return None, f"{python} cannot import jax, flax and optax ({lines[-1]})"
    return python, found.stdout.strip()


FRAMEWORKS = ("ours", "keras", "keras_xla", "jax")


def run_worker(kind: str, threads: int, args, python: str = sys.executable
               ) -> tuple[list[dict], float]:
    """Runs one measurement in a fresh process of ``python``; returns its results and the load
    before it."""
    load = benchlib.load_1min()
    others = benchlib.others_running()
    if others:
        print(f"# warning: other work is running: {others}", flush=True)
    command = [python, __file__, "--worker", kind, "--threads", str(threads),
               "--epochs", str(args.epochs), "--data", str(args.data)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(benchlib.ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1]), load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs (>= 2), the first one warm-up")
    parser.add_argument("--data", type=Path, default=DATA, help="prepared Fashion-MNIST .npz")
    parser.add_argument("--frameworks", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS),
                        help="training loops to time (the ratios need ours and the other)")
    parser.add_argument("--jax-python", default=None,
                        help=f"interpreter with jax, flax and optax for the JAX worker (default: "
                             f"${JAX_PYTHON_ENV}, else this one); without them JAX is skipped")
    parser.add_argument("--out", type=Path, default=None,
                        help="the CSV (default results/bench/training.csv)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)  # of the jax_loss worker
    args = parser.parse_args()
    if args.worker:
        threads = args.threads[0]
        result = {"matmul": lambda: worker_matmul(threads),
                  "ours": lambda: worker_ours(threads, args.epochs, args.data),
                  "keras": lambda: worker_keras(threads, args.epochs, args.data, "auto"),
                  "keras_xla": lambda: worker_keras(threads, args.epochs, args.data, True),
                  "jax": lambda: worker_jax(threads, args.epochs, args.data),
                  "jax_loss": lambda: worker_jax_loss(args.inputs),
                  }[args.worker]()
        print(json.dumps(result))
        return
    if args.epochs < 2:
        sys.exit("--epochs must be at least 2: the first epoch is warm-up and not timed.")
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: run `python -m klgap prepare --dataset fashion_mnist "
                 f"--out {args.data}` first.")
    frameworks = [kind for kind in FRAMEWORKS if kind in args.frameworks]
    if "jax" in frameworks:
        jax_python, found = jax_interpreter(args.jax_python)
        if jax_python is None:
            print(f"# note: the JAX/Flax/Optax timing is skipped: {found}. Give an interpreter "
                  f"with them as --jax-python or ${JAX_PYTHON_ENV} (pyproject.toml's extra "
                  "`jax`).", flush=True)
            frameworks.remove("jax")
        else:
            print(f"# JAX worker: {jax_python} ({found})", flush=True)

    report = benchlib.Report("training", args.out)
    flops = training_flops_per_example()
    large = flop_model().LARGE_SQUARE
    report.add("training_flops_per_example [784-256-256-2x10, 10-256-256-784]", flops, "FLOP",
               note="3 x forward matmul FLOPs; elementwise ops not counted", load=0.0)
    summary = []
    for threads in args.threads:
        matmuls, load = run_worker("matmul", threads, args)
        peak = peak_per_cpu = 0.0
        for row in matmuls:
            report.add(f"matmul_rate [{row['shape']}, {threads} thr]", row["gflops"], "GFLOP/s",
                       note=f"{row['gflops_per_cpu']:.1f} per CPU-second; other processes used "
                            f"{row['other_cores']:.2f} cores", load=load)
            if row["large"]:
                peak, peak_per_cpu = row["gflops"], row["gflops_per_cpu"]
        rates, cpu_rates = {}, {}
        for kind in frameworks:
            python = jax_python if kind == "jax" else sys.executable
            (row,), load = run_worker(kind, threads, args, python)
            rates[kind] = row["examples_per_second"]
            cpu_rates[kind] = row["examples_per_cpu_second"]
            report.add(f"train_examples_per_s [{kind}, batch {BATCH_SIZE}, {threads} thr]",
                       row["examples_per_second"], "ex/s",
                       note=f"{row['note']}; {cpu_rates[kind]:.0f} per CPU-second; other "
                            f"processes used {row['other_cores']:.2f} cores", load=load)
        parts = [f"{threads} thr:"] + [f"{kind} {rates[kind]:.0f} ex/s" for kind in frameworks]
        if "ours" not in rates:
            summary.append(" ".join(parts))
            continue
        if threads == 1:  # CPU-time figures: estimates of a quiet machine's (see benchlib.Meter)
            if "keras" in rates:
                report.add("ours_over_keras_cpu_time [1 thr]",
                           cpu_rates["ours"] / cpu_rates["keras"], "x", ">= 1",
                           cpu_rates["ours"] >= cpu_rates["keras"],
                           "examples per CPU-second, ours / Keras default", load=load)
            if "jax" in rates:
                report.add("ours_over_jax_cpu_time [1 thr]", cpu_rates["ours"] / cpu_rates["jax"],
                           "x", note="examples per CPU-second, ours / JAX-Flax-Optax (jit)",
                           load=load)
            report.add("fraction_of_matmul_peak_cpu_time [ours, 1 thr]",
                       cpu_rates["ours"] * flops / (peak_per_cpu * 1e9), "", ">= 0.7",
                       cpu_rates["ours"] * flops >= 0.7 * peak_per_cpu * 1e9,
                       f"per CPU-second, of the {large}^2 square's {peak_per_cpu:.1f}",
                       load=load)
        if "keras" in rates:
            ratio = rates["ours"] / rates["keras"]
            report.add(f"ours_over_keras [{threads} thr]", ratio, "x", ">= 1", ratio >= 1,
                       "against Keras's default (jit_compile auto)", load=load)
            parts.append(f"ours/Keras {ratio:.2f}x")
        if "jax" in rates:
            ratio = rates["ours"] / rates["jax"]
            report.add(f"ours_over_jax [{threads} thr]", ratio, "x",
                       note="against the same model in JAX/Flax/Optax under jax.jit", load=load)
            parts.append(f"ours/JAX {ratio:.2f}x")
        fraction = rates["ours"] * flops / (peak * 1e9)
        report.add(f"fraction_of_matmul_peak [ours, {threads} thr]", fraction, "", ">= 0.7",
                   fraction >= 0.7, f"of the {large}^2 square rate {peak:.1f} GFLOP/s",
                   load=load)
        parts.append(f"ours {100 * fraction:.0f}% of {peak:.1f} GFLOP/s")
        summary.append(" ".join(parts[:1]) + " " + ", ".join(parts[1:]))
    report.write("; ".join(summary))


if __name__ == "__main__":
    main()
