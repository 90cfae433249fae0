"""Training throughput of the default model against a plain Keras 3 VAE and the matmul rate.

Figures (results/bench/training.csv), at 1 thread (the sweep's setting) and at 2:
  * float32 matrix-product rate of tf.matmul: each layer shape of the model at batch 128, and a
    large square product (2048 x 2048), the machine's practical peak and the denominator below;
  * steady-state examples/s of klgap's training loop (``engine.make_train_step`` and
    ``engine.train_epoch``, exactly as ``klgap train`` runs them, op determinism on) on
    Fashion-MNIST, the first epoch (tracing) excluded;
  * the same for a plain Keras 3 ``model.fit`` VAE of the same architecture (784-256-256-2x10
    encoder, 10-256-256-784 Bernoulli decoder, dynamic binarization, Adam 1e-3, batch 128),
    with Keras's default ``jit_compile="auto"`` (which resolves to no XLA here) and with XLA on;
  * FLOPs per training example counted from the architecture: 2 x (sum of fan_in x fan_out)
    for the forward pass, times 3 for forward + backward (two matrix products per layer in the
    backward pass), and the achieved fraction of the large-square rate at the same threads.

Each measurement runs in its own process (thread pools are fixed at start-up). ``load_1min`` is
the load average before it; the note gives the CPU used by other processes during it and the
rate per CPU-second of the measured process. At 1 thread the latter estimates a quiet machine's
rate when others compete for the cores (``benchlib.Meter``), and the targets are also reported
from it (``*_cpu_time`` rows).

Usage: PYTHONPATH=src .venv/bin/python bench/bench_training.py [--epochs 3] [--threads 1 2]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from klgap.sweep import floor as flop_model  # noqa: E402

DATA = benchlib.ROOT / "results" / "data" / "fashion_mnist.npz"
HIDDEN = [256, 256]
LATENT_DIM = 10
BATCH_SIZE = 128
LARGE_SQUARE = flop_model.LARGE_SQUARE


def layer_shapes() -> list[tuple[int, int]]:
    """Returns (fan_in, fan_out) of every weight matrix of the benchmarked model: encoder, decoder."""
    encoder, decoder = flop_model.layer_shapes(784, LATENT_DIM, HIDDEN)
    return [*encoder, *decoder]


def training_flops_per_example() -> float:
    """Matrix-product FLOPs of one training example: 3 x forward (``klgap.sweep.floor``)."""
    return 3 * flop_model.forward_flops(layer_shapes())


def worker_matmul(threads: int) -> list[dict]:
    """Times tf.matmul for the model's layer shapes and a large square, in GFLOP/s."""
    from klgap.models import device

    device.configure(threads)
    import tensorflow as tf

    results = []
    shapes = [(BATCH_SIZE, fan_in, fan_out) for fan_in, fan_out in layer_shapes()]
    shapes.append((LARGE_SQUARE, LARGE_SQUARE, LARGE_SQUARE))
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
                        "other_cores": meter.other_cores, "large": rows == LARGE_SQUARE})
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
    optimizer = Adam(vae.trainable_variables, 1e-3)
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
    vae.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    timer = EpochTimes()
    vae.fit(x_train, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0,
            callbacks=[timer])
    timer.meter.__exit__()
    return [{"examples_per_second": len(x_train) * (epochs - 1) / timer.meter.seconds,
             "examples_per_cpu_second": len(x_train) * (epochs - 1) / timer.meter.cpu_seconds,
             "other_cores": timer.meter.other_cores,
             "note": f"keras {keras.__version__}, jit_compile={jit_compile!r} "
                     f"(resolved: {vae.jit_compile})"}]


def run_worker(kind: str, threads: int, args) -> tuple[list[dict], float]:
    """Runs one measurement in a fresh process; returns its results and the load before it."""
    load = benchlib.load_1min()
    others = benchlib.others_running()
    if others:
        print(f"# warning: other work is running: {others}", flush=True)
    command = [sys.executable, __file__, "--worker", kind, "--threads", str(threads),
               "--epochs", str(args.epochs), "--data", str(args.data)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(benchlib.ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1]), load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=3, help="epochs, the first one warm-up")
    parser.add_argument("--data", type=Path, default=DATA, help="prepared Fashion-MNIST .npz")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        threads = args.threads[0]
        result = {"matmul": lambda: worker_matmul(threads),
                  "ours": lambda: worker_ours(threads, args.epochs, args.data),
                  "keras": lambda: worker_keras(threads, args.epochs, args.data, "auto"),
                  "keras_xla": lambda: worker_keras(threads, args.epochs, args.data, True),
                  }[args.worker]()
        print(json.dumps(result))
        return
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: run `python -m klgap prepare --dataset fashion_mnist "
                 f"--out {args.data}` first.")

    report = benchlib.Report("training")
    flops = training_flops_per_example()
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
        for kind in ("ours", "keras", "keras_xla"):
            (row,), load = run_worker(kind, threads, args)
            rates[kind] = row["examples_per_second"]
            cpu_rates[kind] = row["examples_per_cpu_second"]
            report.add(f"train_examples_per_s [{kind}, batch {BATCH_SIZE}, {threads} thr]",
                       row["examples_per_second"], "ex/s",
                       note=f"{row['note']}; {cpu_rates[kind]:.0f} per CPU-second; other "
                            f"processes used {row['other_cores']:.2f} cores", load=load)
        if threads == 1:  # CPU-time figures: estimates of a quiet machine's (see benchlib.Meter)
            report.add("ours_over_keras_cpu_time [1 thr]", cpu_rates["ours"] / cpu_rates["keras"],
                       "x", ">= 1", cpu_rates["ours"] >= cpu_rates["keras"],
                       "examples per CPU-second, ours / Keras default", load=load)
            report.add("fraction_of_matmul_peak_cpu_time [ours, 1 thr]",
                       cpu_rates["ours"] * flops / (peak_per_cpu * 1e9), "", ">= 0.7",
                       cpu_rates["ours"] * flops >= 0.7 * peak_per_cpu * 1e9,
                       f"per CPU-second, of the {LARGE_SQUARE}^2 square's {peak_per_cpu:.1f}",
                       load=load)
        ratio = rates["ours"] / rates["keras"]
        report.add(f"ours_over_keras [{threads} thr]", ratio, "x", ">= 1", ratio >= 1,
                   "against Keras's default (jit_compile auto)", load=load)
        fraction = rates["ours"] * flops / (peak * 1e9)
        report.add(f"fraction_of_matmul_peak [ours, {threads} thr]", fraction, "", ">= 0.7",
                   fraction >= 0.7, f"of the {LARGE_SQUARE}^2 square rate {peak:.1f} GFLOP/s",
                   load=load)
        summary.append(f"{threads} thr: ours {rates['ours']:.0f} ex/s, Keras "
                       f"{rates['keras']:.0f} ({ratio:.2f}x), {100 * fraction:.0f}% of "
                       f"{peak:.1f} GFLOP/s")
    report.write("; ".join(summary))


if __name__ == "__main__":
    main()
