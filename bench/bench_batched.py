"""K models batched in one process against K separate runs, on this CPU.

Figures (results/bench/batched.csv), for K in {2, 4, 8}, the default model (784-256-256-10,
batch 128) on Fashion-MNIST, one epoch (469 steps) per model, warm-up (tracing) excluded:
  * batched: one process with 2 threads trains the K models as one computation
    (``klgap.training.batched``);
  * separate: two processes in parallel with 1 thread each (the sweep's setting), each training
    K/2 models one after the other with ``klgap.training.train``'s step;
  * training examples/s of each and their ratio. Process start-up (imports, tracing), paid once
    per run by the separate path, is not included; it is measured once and reported beside.

Usage: PYTHONPATH=src .venv/bin/python bench/bench_batched.py [--k 2 4 8]
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402
from bench_training import BATCH_SIZE, DATA, HIDDEN, LATENT_DIM  # noqa: E402


def worker(mode: str, seeds: list[int], threads: int, data_path: Path) -> dict:
    """Trains the models of ``seeds`` for one epoch each; returns the timed steady state."""
    import_start = time.perf_counter()
    from klgap.training import batched
    from klgap.data import datasets as data
    from klgap.models import device
    from klgap.training import engine
    from klgap.models import vae as model
    from klgap.training import objectives
    from klgap.training.adam import Adam
    from klgap.config.runconfig import RunConfig

    device.configure(threads)
    import tensorflow as tf

    arrays = data.load(data_path)
    x_train = tf.constant(arrays["x_train"])  # (N, P)
    num_train, data_dim = arrays["x_train"].shape
    warm_batch = tf.range(BATCH_SIZE, dtype=tf.int64)  # (B,)
    epochs = []  # callables, each running one timed epoch
    if mode == "batched":
        shared = RunConfig(data="", rundir="", latent_dim=LATENT_DIM, seed=0, epochs=1,
                           hidden=HIDDEN)
        vae = batched.stacked_vae(shared, (data_dim,), seeds)
        optimizer = Adam(vae.trainable_variables, 1e-3)
        step = engine.make_train_step(vae, optimizer, objectives.get("vae"),
                                      {"beta": tf.ones([len(seeds), 1])}, x_train,
                                      num_models=len(seeds))
        step(tf.stack([warm_batch] * len(seeds)), tf.constant([[s, 0] for s in seeds], tf.int64))
        epochs.append(lambda: engine.train_epoch(step, num_train, BATCH_SIZE, seeds, 1, 1,
                                                           stacked=True))
    else:
        for seed in seeds:
            vae = model.VAE.build(data_dim, LATENT_DIM, HIDDEN, seed=seed)
            optimizer = Adam(vae.trainable_variables, 1e-3)
            step = engine.make_train_step(vae, optimizer, objectives.get("vae"),
                                          {"beta": tf.constant(1.0)}, x_train)
            step(warm_batch, tf.constant([seed, 0], tf.int64))
            epochs.append(lambda step=step, seed=seed: engine.train_epoch(
                step, num_train, BATCH_SIZE, [seed], 1, 1))
    startup = time.perf_counter() - import_start
    with benchlib.Meter() as meter:
        for epoch in epochs:
            epoch()
    return {"examples": num_train * len(seeds), "seconds": meter.seconds,
            "cpu_seconds": meter.cpu_seconds,
            "startup_seconds": startup, "other_cores": meter.other_cores}


def launch(mode: str, seeds: list[int], threads: int, data_path: Path) -> subprocess.Popen:
    """Starts a worker process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(benchlib.ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, __file__, "--worker", mode, "--threads", str(threads), "--data",
               str(data_path), "--seeds", *map(str, seeds)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def collect(process: subprocess.Popen) -> dict:
    """Waits for a worker and returns its result."""
    output, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"worker failed with status {process.returncode}")
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--data", type=Path, default=DATA, help="prepared Fashion-MNIST .npz")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.seeds, args.threads, args.data)))
        return
    report = benchlib.Report("batched")
    summary = []
    for k in args.k:
        if k % 2:
            sys.exit("K must be even (two separate processes share the K runs)")
        seeds = list(range(k))
        load = benchlib.load_1min()
        if benchlib.others_running():
            print(f"# warning: other work is running: {benchlib.others_running()}", flush=True)
        result = collect(launch("batched", seeds, 2, args.data))
        together = result["examples"] / result["seconds"]
        report.add(f"batched_examples_per_s [K={k}, 1 process x 2 thr]", together, "ex/s",
                   note=f"{result['seconds']:.1f} s for one epoch of each model; "
                        f"{result['examples'] / result['cpu_seconds']:.0f} ex per CPU-second; "
                        f"other processes used {result['other_cores']:.2f} cores", load=load)
        load = benchlib.load_1min()
        halves = [launch("separate", seeds[:k // 2], 1, args.data),
                  launch("separate", seeds[k // 2:], 1, args.data)]
        results = [collect(process) for process in halves]
        separate = sum(r["examples"] for r in results) / max(r["seconds"] for r in results)
        per_cpu_second = (sum(r["examples"] for r in results)
                          / sum(r["cpu_seconds"] for r in results))
        report.add(f"separate_examples_per_s [K={k}, 2 processes x 1 thr]", separate, "ex/s",
                   note=f"{max(r['seconds'] for r in results):.1f} s (slower process); "
                        f"{per_cpu_second:.0f}"
                        f" ex per CPU-second; other "
                        f"processes used {max(r['other_cores'] for r in results):.2f} cores "
                        "(includes the sibling process)", load=load)
        report.add(f"batched_over_separate [K={k}]", together / separate, "x", note=(
            "> 1: batched faster"), load=load)
        summary.append(f"K={k} batched/separate {together / separate:.2f}x")
        if k == args.k[0]:
            report.add("startup_seconds [one separate run: imports, data, tracing]",
                       results[0]["startup_seconds"] / (k // 2), "s",
                       note="paid once per run (process) by the separate path", load=load)
    report.write(", ".join(summary))


if __name__ == "__main__":
    main()
