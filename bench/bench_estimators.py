"""Benchmark of klgap.estimators' decompositions (in-sample, minibatch): speed, memory and
agreement, printed and saved as CSV.

Figures (one printed line each, one CSV row each, in results/bench/estimators.csv, with the
conventions of bench/benchlib.py):
  * the whole ``kl_decomposition`` with labels at N=60,000, D=10 (one z per example): wall time
    (target < 30 s) and peak memory (process peak RSS and tracemalloc peak; target < 2 GB);
  * at N=10,000: the same call against a straightforward broadcasting implementation (an
    N x M x D tensor, chunked only as a memory budget forces) on the same samples: both times,
    the speed-up (target >= 10x) and the largest difference of any estimate;
  * at N=60,000: mutual information by the exact estimator, MSS and MWS (batch 128), and a
    minibatch estimate with the weights put down columns instead of on the diagonal (the known
    bug of the reference implementation), for comparison with the figures in ANCHORS.md.

The synthetic encoder resembles a trained one: 10 classes with their own centres, 8 active units
(posterior standard deviations around 0.15) and 2 inactive ones (mean ~0, sd ~1).

Usage: PYTHONPATH=src .venv/bin/python bench/bench_estimators.py [--n 60000] [--naive-n 10000]
"""

import argparse
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import special

from klgap import estimators
from klgap.estimators import mixture_numerics

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib  # noqa: E402

KEYS = ("rate", "mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl", "label_info")


def synthetic_encoder(num_examples: int, num_dims: int = 10, num_inactive: int = 2,
                      num_classes: int = 10, seed: int = 0):
    """Posterior parameters of a VAE-like encoder.

    Returns:
      mu (N, D), sigma (N, D) and labels (N,).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_examples)
    centres = 0.8 * rng.standard_normal((num_classes, num_dims))
    mu = centres[labels] + 0.6 * rng.standard_normal((num_examples, num_dims))
    sigma = np.exp(math.log(0.15) + 0.3 * rng.standard_normal((num_examples, num_dims)))
    inactive = slice(num_dims - num_inactive, num_dims)
    mu[:, inactive] = 0.01 * rng.standard_normal((num_examples, num_inactive))
    sigma[:, inactive] = rng.uniform(0.97, 1.0, (num_examples, num_inactive))
    return mu, sigma, labels


def naive_decomposition(mu, sigma, labels, sample_index, z, memory_budget=512 * 2 ** 20):
    """The same estimators by straightforward broadcasting over an (M, N, D) tensor.

    Chunks of samples are as large as the memory budget for one (chunk, N, D) tensor allows.
    """
    num_examples, num_dims = mu.shape
    chunk = max(1, memory_budget // (8 * num_examples * num_dims))
    log_q_z = np.empty(len(z))
    log_q_given_y = np.empty(len(z))
    log_q_marginals = np.empty(z.shape)
    classes = np.unique(labels)
    members = [labels == y for y in classes]
    sample_labels = labels[sample_index]
    for start in range(0, len(z), chunk):
        rows = slice(start, start + chunk)
        per_dim = (-0.5 * ((z[rows, None, :] - mu[None]) / sigma[None]) ** 2
                   - np.log(sigma)[None] - 0.5 * math.log(2 * math.pi))  # (c, N, D)
        joint = per_dim.sum(axis=2)  # (c, N)
        log_q_z[rows] = special.logsumexp(joint, axis=1) - math.log(num_examples)
        log_q_marginals[rows] = special.logsumexp(per_dim, axis=1) - math.log(num_examples)
        for y, member in zip(classes, members):
            in_class = np.flatnonzero(sample_labels[rows] == y)
            log_q_given_y[start + in_class] = (special.logsumexp(joint[in_class][:, member], axis=1)
                                               - math.log(member.sum()))
    log_q_own = (-0.5 * ((z - mu[sample_index]) / sigma[sample_index]) ** 2
                 - np.log(sigma[sample_index]) - 0.5 * math.log(2 * math.pi)).sum(axis=1)
    rate = np.mean(0.5 * np.sum(sigma ** 2 + mu ** 2 - 1, axis=1) - np.sum(np.log(sigma), axis=1))
    mutual_info = np.mean(log_q_own - log_q_z)
    dimwise = np.mean(np.sum(log_q_marginals + 0.5 * z ** 2 + 0.5 * math.log(2 * math.pi), axis=1))
    return {"rate": rate, "mutual_info": mutual_info, "aggregate_kl": rate - mutual_info,
            "dimwise_kl": dimwise, "total_correlation": rate - mutual_info - dimwise,
            "label_info": np.mean(log_q_given_y - log_q_z)}


def column_bug_mutual_info(mu, sigma, batch_size, seed):
    """MSS mutual information with the reference implementation's weight pattern (ANCHORS.md):
    1/N and the stratum weight set down the first columns instead of along the diagonal."""
    num_examples = len(mu)
    _, z, own = mixture_numerics.sample_posteriors(mu, sigma, None, seed)
    order = np.random.default_rng(seed).permutation(num_examples)
    info = []
    for batch in mixture_numerics.batches(order, batch_size):
        size = len(batch)
        weights = np.full((size, size), 1.0 / (size - 1))
        weights[:, 0] = 1.0 / num_examples
        weights[:, 1] = (num_examples - size + 1) / (num_examples * (size - 1))
        table = np.zeros((size, size))
        for d in range(mu.shape[1]):
            table += (-0.5 * ((z[batch, d][:, None] - mu[batch, d]) / sigma[batch, d]) ** 2
                      - np.log(sigma[batch, d]) - 0.5 * math.log(2 * math.pi))
        info.append(own[batch].sum(axis=1) - special.logsumexp(table + np.log(weights), axis=1))
    return float(np.mean(np.concatenate(info)))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main() -> None:
    # The description is the docstring's first paragraph, its lines joined.
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--n", type=int, default=60000, help="examples of the large run")
    parser.add_argument("--naive-n", type=int, default=10000, help="examples of the comparison")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bench = benchlib.Report("estimators")
    report = bench.add

    # 1. The large run: time, then peak memory.
    mu, sigma, labels = synthetic_encoder(args.n, seed=args.seed)
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    result = estimators.kl_decomposition(mu, sigma, labels, seed=args.seed)
    elapsed = time.perf_counter() - start
    rss_peak = peak_rss_mb()
    tag = f"N={args.n} D={mu.shape[1]} C=10"
    report(f"decomposition_time [{tag}]", elapsed, "s", "< 30", elapsed < 30)
    report(f"peak_rss [{tag}]", rss_peak, "MB", "< 2048", rss_peak < 2048,
           f"process peak; {rss_before:.0f} MB before the call")
    tracemalloc.start()
    estimators.kl_decomposition(mu, sigma, labels, seed=args.seed)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    report(f"tracemalloc_peak [{tag}]", traced_peak, "MB", "< 2048", traced_peak < 2048,
           "allocations during the call")
    for key in ("rate", "mutual_info", "aggregate_kl", "total_correlation", "dimwise_kl",
                "label_info", "moment_matched_kl"):
        se = result.get(f"{key}_se")
        report(f"{key} [{tag}]", result[key], "nats", "", None,
               f"se {se:.2g}" if se is not None else "closed form")

    # 2. Speed-up over a straightforward broadcasting implementation, same samples.
    mu_s, sigma_s, labels_s = synthetic_encoder(args.naive_n, seed=args.seed + 1)
    start = time.perf_counter()
    fast = estimators.kl_decomposition(mu_s, sigma_s, labels_s, seed=args.seed)
    fast_time = time.perf_counter() - start
    sample_index, z, _ = mixture_numerics.sample_posteriors(mu_s, sigma_s, None, args.seed)
    start = time.perf_counter()
    naive = naive_decomposition(mu_s, sigma_s, labels_s, sample_index, z)
    naive_time = time.perf_counter() - start
    difference = max(abs(fast[key] - naive[key]) for key in KEYS)
    tag = f"N={args.naive_n} D={mu_s.shape[1]} C=10"
    report(f"fast_time [{tag}]", fast_time, "s")
    report(f"naive_time [{tag}]", naive_time, "s", "", None, "(M, N, D) broadcasting")
    report(f"speedup [{tag}]", naive_time / fast_time, "x", ">= 10", naive_time / fast_time >= 10)
    report(f"max_abs_difference [{tag}]", difference, "nats", "< 1e-6", difference < 1e-6,
           "fast vs naive, over " + ", ".join(KEYS))

    # 3. Minibatch estimators against the exact one (cf. ANCHORS.md: MWS 15.85, bug 4.89, 11.00).
    batch_size = 128
    tag = f"N={args.n} M={batch_size}"
    report(f"mutual_info_exact [{tag}]", result["mutual_info"], "nats", "", None,
           f"log N = {math.log(args.n):.4f}")
    for method in ("mss", "mws"):
        estimate = estimators.minibatch_kl_decomposition(mu, sigma, batch_size=batch_size,
                                                         method=method, seed=args.seed)
        report(f"mutual_info_{method} [{tag}]", estimate["mutual_info"], "nats", "", None,
               f"aggregate_kl {estimate['aggregate_kl']:.4f} (exact {result['aggregate_kl']:.4f})")
    report(f"mutual_info_column_bug [{tag}]",
           column_bug_mutual_info(mu, sigma, batch_size, args.seed), "nats", "", None,
           "MSS weights down columns, not the diagonal")

    bench.write(f"decomposition at N={args.n} in {elapsed:.1f} s (peak RSS {rss_peak:.0f} MB); "
                f"{naive_time / fast_time:.0f}x faster than broadcasting at N={args.naive_n} "
                f"(largest difference {difference:.1g} nats)")


if __name__ == "__main__":
    main()
