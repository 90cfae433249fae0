"""Benchmark of klgap.estimators.fitted_density_kl: wall time per family and the bounds it gives.

Figures (one printed line each, one CSV row each, in results/bench/fitted_density.csv, or
fitted_density_sigma<scale>.csv with --sigma-scale, with the conventions of bench/benchlib.py),
at N_fit = 60,000, N_eval = 10,000, D = 10 by default:
  * wall time of ``fitted_density_kl`` with one family at a time (mixture, gmm, flow) and with
    all three (target: the whole call within 120 s on one thread);
  * each family's bound and standard error, the chosen family's, and for comparison
    ``heldout_kl_decomposition``'s aggregate_kl_lower (the unwidened mixture), the in-sample
    aggregate KL of ``kl_decomposition`` on the eval set (an upper bound in expectation), and the
    population's KL(q(z) || p) itself (Monte Carlo with the exact population density);
  * the standard error with 4 codes per eval example against 1 (what several z buy).

The synthetic encoder is bench_estimators.py's: 10 classes with their own centres, 8 active units
(posterior standard deviations around 0.15) and 2 inactive ones; ``--sigma-scale 0.01`` makes the
active posteriors sharp (sd ~ 0.0015), where the unwidened mixture's bound is vacuous.

Usage: PYTHONPATH=src .venv/bin/python bench/bench_fitted_density.py [--n-fit 60000]
       [--n-eval 10000] [--dims 10] [--sigma-scale 1.0] [--threads 1]
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import special

from klgap.estimators import (
    fitted_density_kl,
    heldout_kl_decomposition,
    kl_decomposition,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib
from bench_estimators import synthetic_encoder

FAMILIES = ("mixture", "gmm", "flow")
TARGET_SECONDS = 120.0


def population_kl(num_examples: int, num_dims: int, sigma_scale: float, num_samples: int = 100_000,
                  num_inactive: int = 2, num_classes: int = 10, seed: int = 0):
    """KL(q(z) || N(0, I)) of the population that ``synthetic_encoder`` samples, and its MC error.

    Given its class k, each code dimension is independent: in an active dimension
    z_d = c_kd + 0.6 e + s e' with log s ~ N(log(0.15 sigma_scale), 0.3^2), a scale mixture of
    normals N(c_kd, 0.36 + s^2) (Gauss-Hermite quadrature over log s); in an inactive one
    z_d = 0.01 e + s e' with s ~ U(0.97, 1) (Gauss-Legendre over s). So
    log q(z) = logsumexp_k sum_d log f_kd(z_d) - log K, averaged over codes drawn from q.
    """
    rng = np.random.default_rng(seed)  # synthetic_encoder's draws, up to its centres
    rng.integers(0, num_classes, num_examples)
    centres = 0.8 * rng.standard_normal((num_classes, num_dims))
    num_active = num_dims - num_inactive
    centres = centres[:, :num_active]
    sample_rng = np.random.default_rng([seed, 1])
    labels = sample_rng.integers(0, num_classes, num_samples)
    s_active = np.exp(math.log(0.15 * sigma_scale)
                      + 0.3 * sample_rng.standard_normal((num_samples, num_active)))
    z_active = (centres[labels] + 0.6 * sample_rng.standard_normal((num_samples, num_active))
                + s_active * sample_rng.standard_normal((num_samples, num_active)))
    s_inactive = sample_rng.uniform(0.97, 1.0, (num_samples, num_inactive))
    z_inactive = (0.01 * sample_rng.standard_normal((num_samples, num_inactive))
                  + s_inactive * sample_rng.standard_normal((num_samples, num_inactive)))
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)  # for E over a standard normal
    log_w = np.log(weights / weights.sum())  # (Q,)
    variances = 0.36 + np.exp(2 * (math.log(0.15 * sigma_scale) + 0.3 * nodes))  # (Q,)
    log_q_given_k = np.zeros((num_samples, num_classes))
    for d in range(num_active):
        diff = z_active[:, d, None] - centres[None, :, d]  # (M, K)
        log_f = special.logsumexp(log_w - 0.5 * np.log(2 * np.pi * variances)
                                  - 0.5 * diff[..., None] ** 2 / variances, axis=-1)  # (M, K)
        log_q_given_k += log_f
    legendre_nodes, legendre_weights = np.polynomial.legendre.leggauss(20)
    s_nodes = 0.985 + 0.015 * legendre_nodes  # U(0.97, 1)
    inactive_variances = 1e-4 + s_nodes ** 2
    log_lw = np.log(legendre_weights / legendre_weights.sum())
    log_inactive = special.logsumexp(log_lw - 0.5 * np.log(2 * np.pi * inactive_variances)
                                     - 0.5 * z_inactive[..., None] ** 2 / inactive_variances,
                                     axis=-1).sum(axis=1)  # (M,)
    log_q = special.logsumexp(log_q_given_k, axis=1) - math.log(num_classes) + log_inactive
    z = np.concatenate([z_active, z_inactive], axis=1)
    log_ratio = log_q + 0.5 * np.sum(z ** 2, axis=1) + 0.5 * num_dims * math.log(2 * math.pi)
    return float(np.mean(log_ratio)), float(np.std(log_ratio) / math.sqrt(num_samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-fit", type=int, default=60_000)
    parser.add_argument("--n-eval", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=10)
    parser.add_argument("--sigma-scale", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    bench = benchlib.Report("fitted_density" if args.sigma_scale == 1.0
                            else f"fitted_density_sigma{args.sigma_scale:g}")
    size = f"N_fit={args.n_fit}, N_eval={args.n_eval}, D={args.dims}, sigma x{args.sigma_scale:g}"

    # One population, split into fit and eval (the classes' centres are shared).
    mu, sigma, _ = synthetic_encoder(args.n_fit + args.n_eval, num_dims=args.dims, seed=0)
    active = sigma < 0.9
    sigma = np.where(active, sigma * args.sigma_scale, sigma)
    mu_fit, sigma_fit = mu[:args.n_fit], sigma[:args.n_fit]
    mu_eval, sigma_eval = mu[args.n_fit:], sigma[args.n_fit:]

    for family in FAMILIES:
        with benchlib.Meter() as meter:
            result = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=0,
                                       families=(family,), num_threads=args.threads)
        bench.add(f"seconds [{family} only; {size}]", meter.seconds, "s",
                  note=f"cpu {meter.cpu_seconds:.1f} s; other cores busy "
                       f"{meter.other_cores:.2f}")
    with benchlib.Meter() as meter:
        result = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=0,
                                   num_threads=args.threads)
    bench.add(f"seconds [all families; {size}]", meter.seconds, "s",
              f"<= {TARGET_SECONDS:g}", meter.seconds <= TARGET_SECONDS,
              note=f"cpu {meter.cpu_seconds:.1f} s; other cores busy {meter.other_cores:.2f}")
    for family in FAMILIES:
        hyper = {"mixture": f"h={result['mixture_bandwidth']:.3g}",
                 "gmm": f"components={result['gmm_components']}",
                 "flow": f"epochs={result['flow_epochs']}"}[family]
        bench.add(f"{family}_aggregate_kl_lower [{size}]",
                  result[f"{family}_aggregate_kl_lower"], "nats",
                  note=f"se {result[f'{family}_aggregate_kl_lower_se']:.3f}; validation "
                       f"log-lik {result[f'{family}_validation_log_likelihood']:.4f}; "
                       f"beta {result[f'{family}_control_variate']:.2f}; {hyper}")
    bench.add(f"aggregate_kl_lower, chosen [{size}]", result["aggregate_kl_lower"], "nats",
              note=f"family {result['family']}; se {result['aggregate_kl_lower_se']:.3f}")

    heldout = heldout_kl_decomposition(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=0,
                                       num_threads=args.threads)
    bench.add(f"heldout aggregate_kl_lower (h = 0) [{size}]", heldout["aggregate_kl_lower"],
              "nats", note=f"se {heldout['aggregate_kl_lower_se']:.3f}")
    in_sample = kl_decomposition(mu_eval, sigma_eval, seed=0, marginals="none",
                                 num_threads=args.threads)
    bench.add(f"in-sample aggregate_kl on the eval set [{size}]", in_sample["aggregate_kl"],
              "nats", note=f"upper bound in expectation; I = {in_sample['mutual_info']:.2f} "
                           f"of log N_eval = {math.log(args.n_eval):.2f}")

    truth, truth_se = population_kl(args.n_fit + args.n_eval, args.dims, args.sigma_scale)
    bench.add(f"population KL(q(z) || p) [{size}]", truth, "nats",
              note=f"Monte Carlo se {truth_se:.3f}; exact population density; chosen bound "
                   f"{result['aggregate_kl_lower'] - truth:+.3f} from it")

    several = fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, seed=0,
                                families=("gmm",), num_eval_z=4, num_threads=args.threads)
    bench.add(f"gmm se with 4 z per eval example / with 1 [{size}]",
              several["gmm_aggregate_kl_lower_se"] / result["gmm_aggregate_kl_lower_se"], "ratio",
              note=f"value {several['gmm_aggregate_kl_lower']:.3f} vs "
                   f"{result['gmm_aggregate_kl_lower']:.3f}")
    bench.write(f"all families {meter.seconds:.1f} s at {size}; bound "
                f"{result['aggregate_kl_lower']:.3f} +- {result['aggregate_kl_lower_se']:.3f} "
                f"({result['family']}) vs unwidened mixture {heldout['aggregate_kl_lower']:.3f}")


if __name__ == "__main__":
    main()
