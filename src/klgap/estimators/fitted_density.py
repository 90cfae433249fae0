"""A lower bound on KL(q(z) || p) that does not depend on N: densities fitted without eval codes.

For any density r chosen without looking at the eval codes, Gibbs' inequality (cross-entropy >=
entropy) gives

    E_{z ~ q}[log r(z) - log p(z)] <= E_q[log q(z) - log p(z)] = KL(q || p),

and the left side is also the gain in ELBO from replacing the prior p = N(0, I) by r with the
encoder and decoder fixed. ``fitted_density_kl`` estimates it at eval codes z ~ q(z|x^eval) for
densities r fitted to the fit posteriors (e.g. of the training split). The candidate families:

  "mixture": the mixture of the fit posteriors with each component widened,
     sigma' = sqrt(sigma^2 + (h s_d)^2), s_d the standard deviation of the fit-part means in
     dimension d and h the relative bandwidth (h = 0 is ``heldout_kl_decomposition``'s mixture);
  "gmm": a full-covariance Gaussian mixture fitted by EM to codes of the fit posteriors
     (``klgap.estimators.gaussian_mixture``: scikit-learn's algorithm, to rounding);
  "flow": a RealNVP normalizing flow (``klgap.estimators.flow_density``; needs D >= 2);
  "prior": r = p, the bound 0 (KL >= 0 holds anyway); always a candidate.

Rules that keep the returned value a bound. The fit posteriors are split (seeded) into a fit part
and a validation part, and validation codes are drawn from the validation posteriors. Every
hyperparameter (bandwidth, number of components, flow epochs), the control-variate coefficient
below, and the family are chosen by the validation log-likelihood, mean log r(z_val), of r fitted
on the fit part. The chosen mixture is then rebuilt from all fit posteriors (no eval data enters
it); the gmm and the flow keep their fit-part models. Only after all of this are the eval codes
drawn and evaluated.

Estimator. For eval example i with K codes z_ik ~ q(z|x_i^eval) (K = ``num_eval_z``):

    t_i = mean_k [log r(z_ik) - log p(z_ik) + beta c_i(z_ik)],
    c_i(z) = KL(q(z|x_i) || p) - log q(z|x_i) + log p(z),

c_i has mean zero under q(z|x_i) (a control variate), so E t_i is the bound for any beta fixed
without the eval codes. beta = 1 is ``heldout_kl_decomposition``'s form (the rate in closed form;
best for a sharp r such as the unwidened mixture), beta = 0 the direct form (best for an r smooth
on the posteriors' scale, where log q(z|x) - log p(z) only adds noise). beta is the
variance-minimising coefficient -Cov(a, c) / Var(c) on the validation codes, clipped to [0, 1].
``aggregate_kl_lower`` = mean_i t_i; its standard error is std(t_i) / sqrt(N_eval): the eval
examples are independent draws of the population, so it covers the eval set's sampling and the
Monte Carlo draw of z together (given the fit posteriors and the fitted r).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

from klgap.errors import UserError
from klgap.estimators.decomposition import gaussian_kl_to_standard_normal, log_prior_at
from klgap.estimators.gaussian_mixture import fit_gaussian_mixture
from klgap.estimators.mixture_numerics import (
    _EXP_FLOOR_SINGLE,  # the floor of exp's arguments in log_class_sums (single precision)
    LOG_2PI,
    DiagonalGaussianMixture,
    check_int,
    check_posteriors,
    check_threads,
    log_standard_normal,
    sample_posteriors,
    standard_error,
    worker_pool,
)

FAMILIES = ("mixture", "gmm", "flow")
# Share of the fit posteriors held out to choose hyperparameters and the family, and the most
# examples held out (beyond a few thousand codes the choices no longer change, and the mixture's
# validation costs a table of codes x components).
VALIDATION_FRACTION = 0.2
MAX_VALIDATION = 5000
# Relative bandwidths h of the widened mixture (units of each dimension's spread of the fit
# means). The default search tries h = 0, then 1, 1/2, 1/4, ... down to the last of these,
# stopping once two in a row are worse than the best so far, and refines the best nonzero h by
# factors 2^(+-1/2).
MIXTURE_BANDWIDTHS = (0.0,) + tuple(2.0 ** -k for k in range(8))
# Validation codes on which the bandwidths are compared (the chosen one is then scored on all).
MIXTURE_SEARCH_CODES = 1024
# Components tried for the Gaussian mixture, in order; the search stops after GMM_PATIENCE counts
# in a row that do not improve the validation likelihood. Each count's fit is seeded alike, so a
# search that stops sooner chooses the same model whenever the validation likelihood rises to one
# peak and falls after it, but not after a dip, which real per-class codes show (patience 1
# changed bounds of a re-run shard: results/bench/shard_reproduction_mnist_vae_s2.csv).
GMM_COMPONENTS = (1, 2, 4, 8, 16, 32, 64)
GMM_PATIENCE = 2
# Codes (one per fit-part example, a seeded subsample beyond this) that the Gaussian mixture sees.
GMM_MAX_CODES = 20_000
# Added to the covariances' diagonals, in units of the codes' per-dimension variance (the codes
# are standardized before fitting).
GMM_REG_COVAR = 1e-4
GMM_MAX_ITER = 200
# Random streams derived from the user's seed (those of mixture_numerics are 1-4).
SPLIT_STREAM, VALIDATION_STREAM, FIT_CODE_STREAM, EVAL_STREAM, GMM_STREAM, FLOW_STREAM = (
    11, 12, 13, 14, 15, 16)


def fitted_density_kl(mu_fit, sigma_fit, mu_eval, sigma_eval, *, seed: int = 0,
                      families=FAMILIES, num_threads: int | None = None,
                      validation_fraction: float = VALIDATION_FRACTION, num_eval_z: int = 1,
                      bandwidths=None, gmm_components=GMM_COMPONENTS,
                      gmm_max_codes: int = GMM_MAX_CODES, control_variate: float | None = None,
                      flow_max_epochs: int | None = None, return_terms: bool = False,
                      log_prior=None, rate=None, return_density: bool = False) -> dict:
    """Lower-bounds KL(q(z) || p) with densities fitted to the fit posteriors (see module doc).

    Args:
      mu_fit, sigma_fit: the fit posteriors (e.g. of the training split), (N_fit, D), N_fit >= 4.
      mu_eval, sigma_eval: the eval posteriors (e.g. of the test split), (N_eval, D).
      seed: seed of the split, of every code drawn and of the models' random choices.
      families: the families to fit, a subset of ("mixture", "gmm", "flow"); "prior" (the bound
        0) is always a candidate too.
      num_threads: worker threads of the mixture's numerics; None: the CPUs available to this
        process. The Gaussian mixture runs on one thread (OpenMP/BLAS threads on its small
        matrices cost more than they give, many times more on a busy machine); the
        flow uses TensorFlow's thread pools (``klgap.models.device.configure`` sets them).
      validation_fraction: share of the fit posteriors held out for validation (at most
        ``MAX_VALIDATION`` examples).
      num_eval_z: codes K per eval example (the first is the draw of
        ``heldout_kl_decomposition`` with the same seed). One is usually enough: the spread
        between eval examples dominates the error (on bench_fitted_density.py's synthetic
        encoder, 4 codes cut the standard error by 3%).
      bandwidths: relative bandwidths h of the mixture to try, all of them; None: the default
        search over ``MIXTURE_BANDWIDTHS``, refined around its best.
      gmm_components: numbers of Gaussian-mixture components to try, in order.
      gmm_max_codes: at most this many fit-part codes train the Gaussian mixture.
      control_variate: a fixed beta (1.0: ``heldout_kl_decomposition``'s form, 0.0: the direct
        form); None: fitted per family on the validation codes.
      flow_max_epochs: epochs of flow training at most (None: ``flow_density.MAX_EPOCHS``).
      return_terms: also return ``terms``, the chosen family's per-eval-example terms t_i
        (module doc; zeros for "prior"), whose mean is ``aggregate_kl_lower``: averaged over a
        subset of eval examples (e.g. one class) they estimate E[log r(z) - log p(z)] under that
        subset's posteriors (the control variate has mean zero for every example).
      log_prior: log p(z), a callable from codes (M, D) float64 to (M,) (e.g. a learned prior);
        None: N(0, I). The bound E_q[log r(z) - log p(z)] <= KL(q(z) || p) holds for any p. With
        it the control variate (which needs the closed-form KL of the fit posteriors) is off:
        beta = 0, the direct form.
      rate: the eval examples' KL(q(z|x) || p), (N_eval,), for the ``rate`` key only; None:
        the closed form for N(0, I), NaN with a ``log_prior``.
      return_density: also return ``density``, the chosen family's ``FittedDensity`` (its
        log density and a sampler), e.g. to decode samples of r (the learned-prior view).

    Returns:
      A dict: ``aggregate_kl_lower`` and ``aggregate_kl_lower_se`` (nats) of the chosen
      ``family`` (one of ``families`` or "prior"); ``rate`` (of the eval set, closed form),
      ``prior_validation_log_likelihood`` (mean log p(z_val)), ``num_fit``, ``num_validation``
      (the split's sizes), ``num_eval_z``, ``log_n_fit``, ``log_n_eval``; and for each family f
      in ``families``: ``f_aggregate_kl_lower``, ``f_aggregate_kl_lower_se``,
      ``f_validation_log_likelihood``, ``f_control_variate`` (beta), and its hyperparameters:
      ``mixture_bandwidth`` (relative h) with ``mixture_validation_curve`` ({h: validation
      log-likelihood}), ``gmm_components`` with ``gmm_validation_curve`` ({components: ...}),
      ``flow_epochs``, ``flow_couplings`` and ``flow_hidden_units``. Each family's value is a
      bound on its own; the largest of them is not (it would be chosen on the eval codes). For
      D = 1 the flow's values are NaN and ``flow_skipped`` says why. With ``return_terms``,
      also ``terms``, (N_eval,) float64.

    Raises:
      UserError: for non-finite or mis-shaped inputs, sigma <= 0, latent sizes that differ, too
        few fit posteriors, an unknown family, or a bad setting (named in the message).
    """
    mu_fit, sigma_fit = check_posteriors(mu_fit, sigma_fit)
    mu_eval, sigma_eval = check_posteriors(mu_eval, sigma_eval)
    num_dims = mu_fit.shape[1]
    if mu_eval.shape[1] != num_dims:
        raise UserError(f"the fit posteriors have {num_dims} latent dimensions and the eval "
                        f"posteriors {mu_eval.shape[1]}; pass posteriors of one encoder.")
    seed = check_int("seed", seed, 0, 2 ** 63 - 1, "pass a non-negative integer seed")
    families = _check_families(families)
    num_threads = check_threads(num_threads)
    num_eval_z = check_int("num_eval_z", num_eval_z, 1, 10_000, "pass a positive number of codes")
    gmm_max_codes = check_int("gmm_max_codes", gmm_max_codes, 2, 10 ** 9,
                              "pass at least 2 codes")
    if not (isinstance(validation_fraction, (float, int)) and not isinstance(
            validation_fraction, bool) and 0.0 < validation_fraction < 1.0):
        raise UserError(f"validation_fraction must be a number in (0, 1), got "
                        f"{validation_fraction!r}; 0.2 is the default.")
    num_validation = max(2, min(round(validation_fraction * len(mu_fit)), MAX_VALIDATION))
    if len(mu_fit) - num_validation < 2:
        raise UserError(f"{len(mu_fit)} fit posteriors leave fewer than 2 to fit after "
                        f"{num_validation} are held out for validation; pass more fit posteriors "
                        f"or a smaller validation_fraction.")
    if bandwidths is not None:
        bandwidths = _check_numbers("bandwidths", bandwidths, "relative bandwidths >= 0, e.g. "
                                    "(0.0, 0.1)")
    gmm_components = tuple(check_int("gmm_components", k, 1, 10 ** 6,
                                     "pass positive component counts, e.g. (1, 4, 16)")
                           for k in _as_sequence("gmm_components", gmm_components))
    if control_variate is not None:
        control_variate = _check_numbers("control_variate", [control_variate],
                                         "pass a number (1.0, 0.0) or None", minimum=-math.inf)[0]
    if flow_max_epochs is not None:
        flow_max_epochs = check_int("flow_max_epochs", flow_max_epochs, 0, 10 ** 6,
                                    "pass a number of epochs >= 0 or None")

    # ---- Split the fit posteriors; draw the validation codes. -------------------------------
    order = np.random.default_rng([seed, SPLIT_STREAM]).permutation(len(mu_fit))
    validation, fit_part = order[:num_validation], np.sort(order[num_validation:])  # random order
    mu_part, sigma_part = mu_fit[fit_part], sigma_fit[fit_part]  # (N_part, D)
    mu_val, sigma_val = mu_fit[validation], sigma_fit[validation]  # (V, D)
    noise = np.random.default_rng([seed, VALIDATION_STREAM]).standard_normal(mu_val.shape)
    z_val = mu_val + sigma_val * noise  # (V, D)
    log_p_val = (log_standard_normal(z_val).sum(axis=1) if log_prior is None
                 else log_prior_at(log_prior, z_val))  # (V,)
    if log_prior is not None:
        control_variate = 0.0  # c(z) needs KL(q(z|x) || p) of the fit posteriors
    # c(z) = KL(q(z|x)||p) - log q(z|x) + log p(z), the control variate, at the validation codes.
    control_val = (gaussian_kl_to_standard_normal(mu_val, sigma_val).sum(axis=1)
                   + np.sum(0.5 * np.square(noise) + np.log(sigma_val) + 0.5 * LOG_2PI, axis=1)
                   + log_p_val)  # (V,)

    # ---- Fit each family on the fit part and choose by validation likelihood. ---------------
    result: dict = {}
    final_log_density = {}  # family -> z (M, D) -> log r(z) (M,), for the final evaluation
    samplers = {}  # family -> (num_samples, rng) -> z (M, D), draws of the final r
    validation_log_likelihood = {"prior": float(np.mean(log_p_val))}
    beta = {}
    with worker_pool(num_threads) as pool_map:
        for family in families:
            if family == "mixture":
                log_r_val, info, final = _fit_mixture(mu_part, sigma_part, mu_fit, sigma_fit,
                                                      z_val, bandwidths, pool_map)
            elif family == "gmm":
                log_r_val, info, final = _fit_gmm(mu_part, sigma_part, z_val, gmm_components,
                                                  gmm_max_codes, seed)
            else:
                log_r_val, info, final = _fit_flow(mu_part, sigma_part, z_val, seed,
                                                   flow_max_epochs)
            samplers[family] = info.pop("sampler", None)
            result.update(info)
            if final is None:  # skipped
                for key in ("aggregate_kl_lower", "aggregate_kl_lower_se",
                            "validation_log_likelihood", "control_variate"):
                    result[f"{family}_{key}"] = math.nan
                continue
            final_log_density[family] = final
            validation_log_likelihood[family] = _finite_mean(log_r_val)
            beta[family] = (control_variate if control_variate is not None
                            else _fitted_beta(log_r_val - log_p_val, control_val))
            result[f"{family}_validation_log_likelihood"] = validation_log_likelihood[family]
            result[f"{family}_control_variate"] = beta[family]
    chosen = "prior"
    for family, value in validation_log_likelihood.items():  # ties keep the earlier (prior)
        if value > validation_log_likelihood[chosen]:
            chosen = family

    # ---- Only now: the eval codes. ---------------------------------------------------------
    kl_eval = (gaussian_kl_to_standard_normal(mu_eval, sigma_eval).sum(axis=1)
               if log_prior is None else np.zeros(len(mu_eval)))  # (N_eval,); 0: unused
    _, first, log_q_first = sample_posteriors(mu_eval, sigma_eval, None, seed)
    z_eval, log_q_eval = [first], [log_q_first.sum(axis=1)]
    extra = np.random.default_rng([seed, EVAL_STREAM])
    for _ in range(num_eval_z - 1):
        noise = extra.standard_normal(mu_eval.shape)  # (N_eval, D)
        z_eval.append(mu_eval + sigma_eval * noise)
        log_q_eval.append(np.sum(-0.5 * np.square(noise) - np.log(sigma_eval) - 0.5 * LOG_2PI,
                                 axis=1))
    z_eval = np.concatenate(z_eval)  # (K N_eval, D), code k of example i at row k N_eval + i
    log_q_eval = np.concatenate(log_q_eval)  # (K N_eval,)
    log_p_eval = (log_standard_normal(z_eval).sum(axis=1) if log_prior is None
                  else log_prior_at(log_prior, z_eval))  # (K N_eval,)
    control_eval = np.tile(kl_eval, num_eval_z) - log_q_eval + log_p_eval  # (K N_eval,)
    family_terms = {"prior": np.zeros(len(mu_eval))}  # family -> t_i (N_eval,)
    with worker_pool(num_threads) as pool_map:
        for family, log_density in final_log_density.items():
            log_r = log_density(z_eval, pool_map)  # (K N_eval,)
            per_code = log_r - log_p_eval + beta[family] * control_eval
            terms = per_code.reshape(num_eval_z, len(mu_eval)).mean(axis=0)  # (N_eval,)
            family_terms[family] = terms
            result[f"{family}_aggregate_kl_lower"] = float(np.mean(terms))
            result[f"{family}_aggregate_kl_lower_se"] = standard_error(terms)

    result.update({
        "aggregate_kl_lower": 0.0 if chosen == "prior" else result[f"{chosen}_aggregate_kl_lower"],
        "aggregate_kl_lower_se": (0.0 if chosen == "prior"
                                  else result[f"{chosen}_aggregate_kl_lower_se"]),
        "family": chosen,
        "rate": (float(np.mean(kl_eval)) if log_prior is None
                 else math.nan if rate is None else float(np.mean(rate))),
        "prior_validation_log_likelihood": validation_log_likelihood["prior"],
        "num_fit": len(fit_part),
        "num_validation": len(validation),
        "num_eval_z": num_eval_z,
        "log_n_fit": math.log(len(mu_fit)),
        "log_n_eval": math.log(len(mu_eval)),
    })
    if return_terms:
        result["terms"] = family_terms[chosen]
    if return_density:
        result["density"] = _fitted_density(chosen, final_log_density.get(chosen),
                                            samplers.get(chosen), num_dims, num_threads)
    return result


# --------------------------------------------------------------------------------------------
# The families. Each returns (log r at the validation codes (V,), result keys, final log r).
# --------------------------------------------------------------------------------------------


def _fit_mixture(mu_part, sigma_part, mu_fit, sigma_fit, z_val, bandwidths, pool_map):
    """The widened mixture: bandwidth chosen with the fit part, final mixture of all fit posteriors.

    The bandwidths are compared on the first ``MIXTURE_SEARCH_CODES`` validation codes (a random
    subset: the validation codes are in random order); the chosen one's validation likelihood,
    which enters the choice of family, is then taken on all of them.
    """
    spread = mu_part.std(axis=0)  # (D,) h is in these units, per dimension

    def log_mixture(mu, sigma, h, z, pool):
        widened = np.sqrt(np.square(sigma) + np.square(h * spread))  # (N, D)
        return _log_mixture_density(mu, widened, z, pool)

    z_search = z_val[:MIXTURE_SEARCH_CODES]  # (S, D)
    curve = {}

    def try_bandwidth(h: float) -> None:
        if h not in curve:
            curve[h] = _finite_mean(log_mixture(mu_part, sigma_part, h, z_search, pool_map))

    if bandwidths is not None:
        for h in bandwidths:
            try_bandwidth(h)
    else:
        worse_in_a_row = 0
        for h in MIXTURE_BANDWIDTHS:  # 0, then from the widest down
            try_bandwidth(h)
            worse_in_a_row = 0 if _argmax(curve) == h else worse_in_a_row + 1
            if h > 0 and worse_in_a_row >= 2:
                break
    best = _argmax(curve)
    if bandwidths is None and best > 0:
        for factor in (2.0 ** -0.5, 2.0 ** 0.5):
            try_bandwidth(best * factor)
        best = _argmax(curve)
    info = {"mixture_bandwidth": best,
            "mixture_validation_curve": {h: curve[h] for h in sorted(curve)}}
    log_r_val = log_mixture(mu_part, sigma_part, best, z_val, pool_map)  # (V,)
    widened_fit = np.sqrt(np.square(sigma_fit) + np.square(best * spread))  # (N, D)

    def sample(num_samples: int, rng) -> np.ndarray:  # a uniform component, then its Gaussian
        rows = rng.integers(len(mu_fit), size=num_samples)  # (M,)
        noise = rng.standard_normal((num_samples, mu_fit.shape[1]))  # (M, D)
        return mu_fit[rows] + widened_fit[rows] * noise

    info["sampler"] = sample
    return log_r_val, info, lambda z, pool: log_mixture(mu_fit, sigma_fit, best, z, pool)


def _log_mixture_density(mu, sigma, z, pool_map) -> np.ndarray:
    """log (1/N) sum_n N(z_i; mu_n, diag sigma_n^2) at arbitrary codes, (M,).

    One pass of ``DiagonalGaussianMixture.log_class_sums`` relative to the largest peak of any
    component, max_n -sum_d log(sigma_nd) - D log(2 pi) / 2, which no component exceeds (so
    nothing overflows); rows whose sum lies so far below it that the floor of exp could matter
    are redone with the two-pass ``log_class_sums_anywhere``. For components that are not
    extremely sharp this halves the cost of ``log_class_sums_anywhere`` alone.
    """
    mixture = DiagonalGaussianMixture(mu, sigma, np.zeros(len(mu), dtype=np.int64), 1)
    peak = float(np.max(-np.sum(np.log(sigma), axis=1))) - 0.5 * LOG_2PI * mu.shape[1]
    log_sums = mixture.log_class_sums(z, shift=np.full(len(z), peak), pool_map=pool_map)[:, 0]
    # Each of the N terms is at least exp(_EXP_FLOOR_SINGLE) relative to the peak: keep rows whose
    # sum exceeds N of those by 30 nats (a relative error below 1e-13).
    too_low = log_sums < peak + _EXP_FLOOR_SINGLE + math.log(len(mu)) + 30.0  # (M,)
    if too_low.any():
        log_sums[too_low] = mixture.log_class_sums_anywhere(z[too_low], pool_map)[:, 0]
    return log_sums - math.log(len(mu))


def _fit_gmm(mu_part, sigma_part, z_val, components, max_codes, seed):
    """A full-covariance Gaussian mixture on standardized codes of the fit part."""
    rng = np.random.default_rng([seed, FIT_CODE_STREAM])
    rows = np.arange(len(mu_part))
    if len(rows) > max_codes:
        rows = np.sort(rng.choice(len(rows), size=max_codes, replace=False))
    codes = mu_part[rows] + sigma_part[rows] * rng.standard_normal((len(rows), mu_part.shape[1]))
    center, scale = codes.mean(axis=0), codes.std(axis=0)  # (D,) > 0 as sigma > 0
    log_jacobian = -float(np.sum(np.log(scale)))
    random_state = int(np.random.default_rng([seed, GMM_STREAM]).integers(2 ** 31 - 1))
    curve, models, since_best = {}, {}, 0
    with _one_thread():  # an unconverged fit is judged, like any, by its validation likelihood
        for k in components:
            if k > len(codes) // 2 or k in curve:
                continue
            model = fit_gaussian_mixture((codes - center) / scale, k, reg_covar=GMM_REG_COVAR,
                                         max_iter=GMM_MAX_ITER, random_state=random_state)
            models[k] = model
            curve[k] = _finite_mean(model.log_density((z_val - center) / scale) + log_jacobian)
            since_best = 0 if _argmax(curve) == k else since_best + 1
            if since_best >= GMM_PATIENCE:
                break
    if not curve:
        raise UserError(f"no number of Gaussian-mixture components in {components} fits "
                        f"{len(codes)} codes; pass smaller gmm_components.")
    best = _argmax(curve)

    def log_density(z, _pool=None):
        with _one_thread():
            return models[best].log_density((z - center) / scale) + log_jacobian

    def sample(num_samples: int, rng) -> np.ndarray:  # a component by weight, then its Gaussian
        model = models[best]
        rows = rng.choice(len(model.weights), size=num_samples, p=model.weights)  # (M,)
        noise = rng.standard_normal((num_samples, len(center)))  # (M, D)
        factors = np.linalg.cholesky(model.covariances)  # (K, D, D), lower
        standardized = model.means[rows] + np.einsum("mij,mj->mi", factors[rows], noise)
        return center + scale * standardized  # (M, D)

    info = {"gmm_components": int(best), "gmm_validation_curve": curve, "sampler": sample}
    return log_density(z_val), info, log_density


def _fit_flow(mu_part, sigma_part, z_val, seed, max_epochs):
    """A RealNVP flow trained on codes of the fit part, early-stopped on the validation codes."""
    from klgap.estimators import flow_density

    info = {"flow_couplings": flow_density.NUM_COUPLINGS,
            "flow_hidden_units": flow_density.HIDDEN_UNITS}
    if mu_part.shape[1] < 2:
        info.update(flow_epochs=0, flow_skipped="a RealNVP coupling needs D >= 2 latent "
                    "dimensions; with D = 1 the gmm family covers one-dimensional densities")
        return None, info, None
    try:
        import tensorflow_probability  # noqa: F401
    except ImportError as error:
        raise UserError(f"the flow family needs tensorflow and tensorflow-probability ({error}); "
                        f"install them or pass families=('mixture', 'gmm').") from None
    log_density, flow_info = flow_density.fit_flow(
        mu_part, sigma_part, z_val, np.random.SeedSequence([seed, FLOW_STREAM]),
        **({} if max_epochs is None else {"max_epochs": max_epochs}))
    info["flow_epochs"] = flow_info["epochs"]
    info["sampler"] = flow_info["sample"]
    return log_density(z_val), info, lambda z, _pool=None: log_density(z)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class FittedDensity(NamedTuple):
    """The density r a ``fitted_density_kl`` call chose, to evaluate and to sample."""

    family: str  # "mixture", "gmm", "flow" or "prior"
    log_prob: Callable  # z (M, D) float64 -> log r(z) (M,) float64
    sample: Callable  # (num_samples, seed) -> z (M, D) float64, seed an int or ints


def _fitted_density(family: str, log_density, sampler, num_dims: int,
                    num_threads: int) -> FittedDensity:
    """Wraps the chosen family's final log density and sampler (the prior: N(0, I)).

    The sampler draws from ``numpy.random.default_rng(seed)`` (the flow's base noise too), so a
    seed gives the same codes. With a ``log_prior``, the "prior" family's sampler still draws
    from N(0, I): a caller with a learned prior draws from that prior instead.
    """
    if family == "prior":
        return FittedDensity(
            "prior", lambda z: log_standard_normal(np.asarray(z, np.float64)).sum(axis=1),
            lambda num, seed: np.random.default_rng(seed).standard_normal((num, num_dims)))

    def log_prob(z) -> np.ndarray:
        with worker_pool(num_threads) as pool_map:
            return log_density(np.asarray(z, dtype=np.float64), pool_map)

    return FittedDensity(family, log_prob,
                         lambda num, seed: sampler(int(num), np.random.default_rng(seed)))


def _fitted_beta(log_ratio: np.ndarray, control: np.ndarray) -> float:
    """-Cov(a, c) / Var(c) on the validation codes, clipped to [0, 1]; 0 if c does not vary."""
    finite = np.isfinite(log_ratio)
    if finite.sum() < 2:
        return 0.0
    a, c = log_ratio[finite], control[finite]
    variance = float(np.var(c))
    if not variance > 1e-300:
        return 0.0
    covariance = float(np.mean((a - a.mean()) * (c - c.mean())))
    return float(np.clip(-covariance / variance, 0.0, 1.0))


def _finite_mean(values: np.ndarray) -> float:
    value = float(np.mean(values))
    return value if math.isfinite(value) else -math.inf


def _argmax(curve: dict):
    """The key of the largest value; ties go to the first key inserted."""
    best = next(iter(curve))
    for key, value in curve.items():
        if value > curve[best]:
            best = key
    return best


def _as_sequence(name: str, value) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise UserError(f"{name} must be a sequence, got {value!r}; pass e.g. a tuple.")
    value = tuple(value)
    if not value:
        raise UserError(f"{name} is empty; pass at least one value.")
    return value


def _check_numbers(name: str, values, fix: str, minimum: float = 0.0) -> tuple:
    out = []
    for value in _as_sequence(name, values):
        if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
                or not math.isfinite(value) or value < minimum):
            raise UserError(f"{name} has the bad value {value!r}; pass {fix}.")
        out.append(float(value))
    return tuple(out)


def _check_families(families) -> tuple:
    if isinstance(families, str):
        raise UserError(f"families must be a sequence of names, got the string {families!r}; "
                        f"pass e.g. ({families!r},).")
    families = _as_sequence("families", families)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise UserError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; choose "
                        f"from {FAMILIES} (the prior is always a candidate).")
    if len(set(families)) != len(families):
        raise UserError(f"families {families} names a family twice; list each once.")
    return families


class _one_thread:
    """Holds BLAS and OpenMP (scikit-learn's k-means) to one thread, if threadpoolctl is there."""

    def __init__(self):
        self.limits = None

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
            self.limits = threadpool_limits(limits=1)
        except ImportError:
            pass
        return self

    def __exit__(self, *exc):
        if self.limits is not None:
            self.limits.restore_original_limits()
