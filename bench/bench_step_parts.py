"""Where a training step's time goes: the default model's step with parts taken away.

Figures (results/bench/step_parts.csv), at 1 and 2 threads, examples/s over one epoch of
Fashion-MNIST (469 steps of 128, the same Python loop as ``klgap train``), tracing excluded:
  * ``full``: ``engine.make_train_step`` as the sweep runs it;
  * ``sgd``: the same with a plain gradient step instead of Adam (Adam's element-wise cost);
  * ``fused_adam``: the same with TensorFlow's one-kernel Adam (``ResourceApplyAdam``; the same
    update in a different order of float operations, so not bitwise the sweep's);
  * ``gradient_fixed_input``: no binarization, no sampling (x fixed, noise 0), plain gradient
    step (the cost of the random numbers and the gather);
  * ``forward``: the loss only, with binarization and sampling (no backward pass);
  * ``xla``: ``full`` compiled with XLA (``jit_compile=True``; different float rounding).

Usage: PYTHONPATH=src .venv/bin/python bench/bench_step_parts.py [--threads 1 2]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from bench_training import (BATCH_SIZE, DATA, HIDDEN, LATENT_DIM,  # noqa: E402
                            training_flops_per_example)

VARIANTS = ("full", "fused_adam", "sgd", "gradient_fixed_input", "forward", "xla")


def worker(threads: int, data_path: Path) -> dict:
    """Times each variant's step over one epoch; returns examples/s by variant."""
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
    variables = vae.trainable_variables
    beta = tf.constant(1.0)
    signature = [tf.TensorSpec([None], tf.int64), tf.TensorSpec([2], tf.int64)]

    def inputs(batch_index, step_seed, random: bool):
        x_grey = tf.gather(x_train, batch_index)  # (B, P)
        if not random:
            return tf.cast(x_grey > 0.5, tf.float32), tf.zeros([tf.shape(x_grey)[0], LATENT_DIM])
        uniform = tf.random.stateless_uniform(tf.shape(x_grey), seed=step_seed)
        noise = tf.random.stateless_normal([tf.shape(x_grey)[0], LATENT_DIM],
                                           seed=step_seed + [0, 1])
        return tf.cast(uniform < x_grey, tf.float32), noise

    vae_objective = objectives.get("vae")

    def plain_step(random: bool, update: str):
        moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
                   for v in variables]
        step_count = tf.Variable(0.0)

        @tf.function(input_signature=signature)
        def step(batch_index, step_seed):
            x, noise = inputs(batch_index, step_seed, random)
            with tf.GradientTape() as tape:
                terms = vae.terms(x, noise)
                objective = vae_objective.loss(terms, {"beta": beta})
            gradients = tape.gradient(objective, variables)
            step_count.assign_add(1.0)
            for variable, gradient, (m, v) in zip(variables, gradients, moments):
                if update == "sgd":
                    variable.assign_sub(1e-4 * gradient)
                else:
                    tf.raw_ops.ResourceApplyAdam(
                        var=variable.handle, m=m.handle, v=v.handle,
                        beta1_power=0.9 ** step_count, beta2_power=0.999 ** step_count,
                        lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, grad=gradient)
            return tf.reduce_sum(terms.distortion), tf.reduce_sum(terms.rate)
        return step

    @tf.function(input_signature=signature)
    def forward(batch_index, step_seed):
        terms = vae.terms(*inputs(batch_index, step_seed, True))
        return tf.reduce_sum(terms.distortion), tf.reduce_sum(terms.rate)

    steps = {
        "full": engine.make_train_step(vae, Adam(variables, 1e-3), vae_objective,
                                       {"beta": beta}, x_train),
        "fused_adam": plain_step(True, "adam"),
        "sgd": plain_step(True, "sgd"),
        "gradient_fixed_input": plain_step(False, "sgd"),
        "forward": forward,
        "xla": engine.make_train_step(vae, Adam(variables, 1e-3), vae_objective,
                                      {"beta": beta}, x_train, jit_compile=True),
    }
    results = {}
    for name, step in steps.items():
        step(tf.range(BATCH_SIZE, dtype=tf.int64), tf.constant([0, 0], tf.int64))  # tracing
        with benchlib.Meter() as meter:
            engine.train_epoch(step, num_train, BATCH_SIZE, [0], 1, 0)
        results[name] = {"examples_per_second": num_train / meter.seconds,
                         "examples_per_cpu_second": num_train / meter.cpu_seconds,
                         "other_cores": meter.other_cores}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data", type=Path, default=DATA, help="prepared Fashion-MNIST .npz")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.threads[0], args.data)))
        return
    report = benchlib.Report("step_parts")
    flops = training_flops_per_example()
    summary = []
    for threads in args.threads:
        load = benchlib.load_1min()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(benchlib.ROOT / "src")}
        output = subprocess.run([sys.executable, __file__, "--worker", "--threads", str(threads),
                                 "--data", str(args.data)], check=True, capture_output=True,
                                text=True, env=env).stdout
        results = json.loads(output.strip().splitlines()[-1])
        full = results["full"]
        for name in VARIANTS:
            rate, cpu_rate = (results[name][key] for key in ("examples_per_second",
                                                             "examples_per_cpu_second"))
            report.add(f"step_examples_per_s [{name}, {threads} thr]", rate, "ex/s",
                       note=f"{100 * full['examples_per_second'] / rate:.0f}% of the full "
                            f"step's time ({100 * full['examples_per_cpu_second'] / cpu_rate:.0f}%"
                            f" of its CPU time; {cpu_rate:.0f} ex per CPU-second); "
                            f"{rate * flops / 1e9:.1f} GFLOP/s at 3x forward FLOPs; other "
                            f"processes used {results[name]['other_cores']:.2f} cores",
                       load=load)
        summary.append(f"{threads} thr: full {results['full']['examples_per_second']:.0f}, "
                       f"fused Adam {results['fused_adam']['examples_per_second']:.0f}, "
                       f"sgd {results['sgd']['examples_per_second']:.0f}, xla "
                       f"{results['xla']['examples_per_second']:.0f} ex/s")
    report.write("; ".join(summary))


if __name__ == "__main__":
    main()
