"""Chapter 5 measured: CAVI against scikit-learn's BayesianGaussianMixture, and stochastic VI against CAVI.

    python -m benchmarks.meanfield

CAVI (vitools.meanfield.BayesianGaussianMixture.fit) against ``sklearn.mixture.BayesianGaussianMixture`` with
``weight_concentration_prior_type="dirichlet_distribution"``, ``covariance_type="full"``, ``reg_covar=0``,
``init_params="random_from_data"``, ``random_state=0`` and ``tol=0``: the same model, the same start (vitools'
``resp_init=random_from_data_resp(N, C, seed=0)`` is scikit-learn's draw) and the same sequence of iterates, with
alpha_0 = 1e-3 and the other priors scikit-learn's defaults. Three data sets, C = 10: the chapter's 200 training
digits projected to 2-D by PCA (fitted on the 1,437 training images; 100 iterations), the 20,000 points the
chapter generates from the BGM fitted to them (:func:`generated`; 20 iterations) and 5,000 points in 10-D from 10
Gaussians (benchmarks._em_data.blobs_10d; 20 iterations). Both run the fixed number of iterations (vitools
``tol=-inf``, scikit-learn ``tol=0``, its ConvergenceWarning silenced), on float64 numpy input, with the reader's
default threads (vitools itself drops to one thread below N C D^2 = 2e6: vitools.device.threads_for). The two
fits alternate in every repeat (who goes first alternates too); the time per iteration is the whole fit over
n_iter_, and the ratio vitools / scikit-learn is taken within each repeat. The fitted parameters (alpha, beta, m,
nu and the covariances) are compared, so that both times are of the same computation.

SVI against CAVI on the 20,000 generated points (C = 10, alpha_0 = 1e-3, both from
``random_from_data_resp(20_000, 10, seed=1)``, as in the chapter): the ELBO per point against the seconds spent
fitting (``elbo_`` and ``seconds_``; SVI's full-data evaluations are not counted) for CAVI and for SVI with
mini-batches of 100 and 1,000 (forgetting rate 0.7, delay 1, SVI's batch order seeded by the repeat). Reported
against the reference, CAVI run to convergence (``tol=1e-9``) from the generating components (one-hot
responsibilities of the components the points were drawn from), the best ELBO known for these data: the fitting
seconds until the ELBO first comes within 0.01 and 0.001 nats per point of it ("not reached" within the run), and
the ELBO reached after 0.1 s and 0.5 s of fitting; medians over repeats. From the random start CAVI itself needs
far more than the run: measured once (2 cores), it keeps five components for about 1,000 iterations before one
empties, and after 1,300 iterations (27 s) it is still 0.0013 below the reference, with tol = 1e-6 it would stop
at iteration 516, 0.0038 below. SVI's runs end with all ten components holding data.
"""

import math
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SklearnBGM

from benchmarks._em_data import blobs_10d
from benchmarks._report import Section, alternating_ms_per_iteration, show, spread
from vitools.data import load_digits
from vitools.meanfield import BayesianGaussianMixture, random_from_data_resp

C = 10
ALPHA0 = 1e-3
PARAMETERS = ["weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_"]
THRESHOLDS = (0.01, 0.001)      # nats per point below the reference ELBO
AT_SECONDS = (0.1, 0.5)


def digits_2d():
    """The chapter's data: the first 200 training digits in the PCA plane of all 1,437, float64 (200, 2)."""
    x, _ = load_digits("train", binarize=False)
    return PCA(2).fit(x.double().numpy()).transform(x[:200].double().numpy())


def generated(digits, n=20_000):
    """The chapter's large data set: n points from the BGM fitted to ``digits`` (its E_q weights, means and
    covariances), with their generating components; float64 numpy (n, 2) and int (n,)."""
    fit = BayesianGaussianMixture(C, weight_concentration_prior=ALPHA0).fit(
        digits, resp_init=random_from_data_resp(len(digits), C, seed=0), max_iter=500, tol=1e-8)
    generator = torch.Generator().manual_seed(0)
    component = torch.multinomial(fit.weights_, n, replacement=True, generator=generator)
    noise = torch.randn(n, 2, 1, generator=generator, dtype=torch.float64)
    x = fit.means_[component] + (torch.linalg.cholesky(fit.covariances_)[component] @ noise)[..., 0]
    return x.numpy(), component.numpy()


def fits(x, max_iter):
    """The two CAVI fits as functions of no arguments, each returning its fitted estimator."""
    ours = BayesianGaussianMixture(C, weight_concentration_prior=ALPHA0)
    theirs = SklearnBGM(n_components=C, weight_concentration_prior_type="dirichlet_distribution",
                        weight_concentration_prior=ALPHA0, covariance_type="full", reg_covar=0.0,
                        init_params="random_from_data", random_state=0, tol=0.0, max_iter=max_iter)
    return (lambda: ours.fit(x, resp_init=random_from_data_resp(len(x), C, seed=0), max_iter=max_iter,
                             tol=-math.inf),
            lambda: theirs.fit(x))


def compare(x, max_iter, repeats):
    """Milliseconds per iteration of each fit, their ratio per repeat, and the largest parameter difference."""
    fit_ours, fit_theirs = fits(x, max_iter)
    ours, theirs, ms_ours, ms_theirs = alternating_ms_per_iteration(fit_ours, fit_theirs, repeats)
    differences = {name: float(np.abs(getattr(ours, name).numpy() - getattr(theirs, name)).max())
                   for name in PARAMETERS}
    return {"ms_ours": spread(ms_ours), "ms_sklearn": spread(ms_theirs),
            "ratio": spread([a / b for a, b in zip(ms_ours, ms_theirs)]),
            "n_iter_ours": ours.n_iter_, "n_iter_sklearn": theirs.n_iter_,
            "differences": differences, "max_abs_difference": max(differences.values())}


def run(quick: bool = False) -> Section:
    repeats, iterations = (2, (20, 5, 5)) if quick else (9, (100, 20, 20))
    digits = digits_2d()
    data_sets = [("digits, PCA to 2-D", digits), ("generated from the digits' BGM", generated(digits)[0]),
                 ("10-D blobs", blobs_10d())]
    section = Section(f"CAVI: vitools against scikit-learn's BayesianGaussianMixture (same start, C = {C}, "
                      f"alpha_0 = {ALPHA0:g})",
                      ["data", "N, D, C", "iterations", "ms/iter vitools", "ms/iter sklearn", "ratio vitools / sklearn",
                       "largest parameter difference"])
    warnings.simplefilter("ignore", ConvergenceWarning)   # tol = 0: scikit-learn never reports convergence
    for (name, x), max_iter in zip(data_sets, iterations):
        r = section.data.setdefault("fits", {})[f"{name}, C = {C}"] = compare(x, max_iter, repeats)
        section.rows.append([name, f"{len(x)}, {x.shape[1]}, {C}", str(r["n_iter_ours"]),
                             show(r["ms_ours"], "{:.3f}"), show(r["ms_sklearn"], "{:.3f}"), show(r["ratio"]),
                             f"{r['max_abs_difference']:.1e}"])
    section.notes += [f"median [min, max] of {repeats} repeats, default threads ({torch.get_num_threads()}); the ratio "
                      "is taken within each repeat: below 1 means vitools is faster",
                      "largest parameter difference: max |vitools - sklearn| over weight_concentration_, "
                      "mean_precision_, means_, degrees_of_freedom_ and covariances_ after the last fit"]
    return section


# ---------------------------------------------------------------------------------------------- SVI against CAVI

def _trace(fit):
    return list(zip(fit.seconds_, fit.elbo_))


def first_within(trace, target):
    """Fitting seconds of the first record with ELBO >= target, or None."""
    return next((s for s, elbo in trace if elbo >= target), None)


def elbo_after(trace, t):
    """The ELBO of the last record made within ``t`` seconds of fitting, or None when there is none or the run
    ended before ``t`` (then it is not known what the ELBO would be at ``t``)."""
    if not trace or trace[-1][0] < t:
        return None
    earlier = [elbo for s, elbo in trace if s <= t]
    return earlier[-1] if earlier else None


def _summary(values):
    """spread() of values that may be None (not reached: counted as infinite), JSON-safe."""
    finite = [v for v in values if v is not None]
    stats = spread([math.inf if v is None else v for v in values])
    return {key: (None if isinstance(v, float) and math.isinf(v) else v) for key, v in stats.items()} | {
        "reached": len(finite), "values": list(values)}


def _show_seconds(stats):
    if stats["median"] is None:
        return "not reached" if stats["reached"] == 0 else f"not reached ({stats['reached']} of {stats['n']} did)"
    if stats["n"] == 1:
        return f"{stats['median']:.3f}"
    high = "not reached" if stats["max"] is None else f"{stats['max']:.3f}"
    return f"{stats['median']:.3f} [{stats['min']:.3f}, {high}]"


def _show_elbo(stats):
    if stats["reached"] < stats["n"]:
        return "run too short" if stats["reached"] == 0 else f"{stats['reached']} of {stats['n']} runs long enough"
    return show(stats, "{:.4f}")


def run_svi(quick: bool = False) -> Section:
    repeats = 1 if quick else 3
    x, component = generated(digits_2d())
    resp_init = random_from_data_resp(len(x), C, seed=1)
    model = lambda: BayesianGaussianMixture(C, weight_concentration_prior=ALPHA0)   # noqa: E731
    best = model().fit(x, resp_init=np.eye(C)[component], max_iter=50 if quick else 2000, tol=1e-9)
    reference = best.elbo_[-1]
    methods = {   # name: (what one run is, the run from seed)
        "CAVI": ("{} iterations", 20 if quick else 80,
                 lambda n, seed: model().fit(x, resp_init=resp_init, max_iter=n, tol=-math.inf)),
        "SVI, batch 100": ("{} steps, ELBO every 40", 400 if quick else 4000,
                           lambda n, seed: model().fit_stochastic(x, resp_init=resp_init, batch_size=100, n_steps=n,
                                                                  eval_every=40, seed=seed)),
        "SVI, batch 1000": ("{} steps, ELBO every 12", 120 if quick else 1200,
                            lambda n, seed: model().fit_stochastic(x, resp_init=resp_init, batch_size=1000, n_steps=n,
                                                                   eval_every=12, seed=seed)),
    }
    for _, n, fit in methods.values():           # warm-up
        fit(max(n // 10, 1), 0)
    traces = {name: [] for name in methods}
    for repeat in range(repeats):                # the order of the methods rotates with the repeat
        names = list(methods)[repeat % len(methods):] + list(methods)[:repeat % len(methods)]
        for name in names:
            _, n, fit = methods[name]
            traces[name].append(_trace(fit(n, repeat)))
    section = Section(f"SVI against CAVI: ELBO per point against seconds of fitting ({len(x):,} points generated "
                      f"from the digits' BGM, C = {C}, alpha_0 = {ALPHA0:g}; reference ELBO {reference:.5f})",
                      ["method", "run", *(f"s to within {eps:g} of the reference" for eps in THRESHOLDS),
                       *(f"ELBO after {t:g} s" for t in AT_SECONDS), "ELBO at the end (s)"])
    section.data = {"n": len(x), "reference": {"elbo": reference, "n_iter": best.n_iter_, "converged": best.converged_,
                                               "seconds": best.seconds_[-1]}, "methods": {}}
    for name, (what, n, _) in methods.items():
        runs = traces[name]
        r = section.data["methods"][name] = {
            "run": what.format(n),
            **{f"seconds_within_{eps:g}": _summary([first_within(t, reference - eps) for t in runs])
               for eps in THRESHOLDS},
            **{f"elbo_after_{t:g}s": _summary([elbo_after(trace, t) for trace in runs]) for t in AT_SECONDS},
            "final_elbo": spread(trace[-1][1] for trace in runs),
            "final_seconds": spread(trace[-1][0] for trace in runs), "trace": runs[0]}
        section.rows.append([name, r["run"], *(_show_seconds(r[f"seconds_within_{eps:g}"]) for eps in THRESHOLDS),
                             *(_show_elbo(r[f"elbo_after_{t:g}s"]) for t in AT_SECONDS),
                             f"{show(r['final_elbo'], '{:.4f}')} ({show(r['final_seconds'])} s)"])
    section.notes += [f"median [min, max] of {repeats} repeat{'s' * (repeats > 1)} (SVI's mini-batch order seeded "
                      "by the repeat); seconds of fitting as recorded in seconds_ (SVI's full-data ELBO evaluations "
                      "not counted), default "
                      f"threads ({torch.get_num_threads()})",
                      f"reference: CAVI from the generating components, {best.n_iter_} iterations "
                      f"({'converged' if best.converged_ else 'not converged'} at tol 1e-9); all runs start from "
                      "random_from_data_resp(N, C, seed=1); 'not reached': not within the run"]
    return section


if __name__ == "__main__":
    print(run().markdown())
    print(run_svi().markdown())
