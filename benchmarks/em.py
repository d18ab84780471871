"""vitools.gaussian_mixture.GaussianMixtureEM against scikit-learn's GaussianMixture, same data, same initialisation.

    python -m benchmarks.em

Two data sets: 2,000 points in 2-D from 4 Gaussians (K = 4), and the 1,437 training digits projected to
10 dimensions by PCA (K = 10). Both fits start from the same K data points as means, the data covariance
for every component and equal weights, and run 50 iterations (tol = 0), torch and numpy limited to one
thread each (like for like, and steady on a shared machine). The two fits alternate in every repeat, and
the time per iteration (whole fit / n_iter_, validation and the final E-step included) is reported as
the ratio vitools / scikit-learn of the same repeat: below 1 means vitools is faster.
"""

import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from benchmarks._report import Section, seconds, show, spread
from vitools.data import load_digits
from vitools.gaussian_mixture import GaussianMixtureEM

MAX_ITER = 50


def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    return np.concatenate([rng.multivariate_normal(c, np.diag(rng.uniform(0.5, 2.0, 2)), 500) for c in centres])


def digits_pca():
    x, _ = load_digits("train", binarize=False)
    return PCA(n_components=10, random_state=0).fit_transform(x.numpy().astype(np.float64))


def initialisation(x, k):
    rows = np.random.default_rng(1).choice(len(x), size=k, replace=False)
    return np.full(k, 1 / k), x[rows], np.stack([np.cov(x.T)] * k)


def compare(x, k, repeats):
    """Milliseconds per iteration of each fit, their ratio per repeat, and the final log-likelihoods."""
    weights, means, covariances = initialisation(x, k)
    ours = GaussianMixtureEM(k)
    theirs = GaussianMixture(k, covariance_type="full", weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covariances), reg_covar=1e-6, tol=0,
                             max_iter=MAX_ITER, init_params="random_from_data", random_state=0)
    fit_ours = lambda: ours.fit(x, weights_init=weights, means_init=means, covariances_init=covariances,  # noqa: E731
                                max_iter=MAX_ITER, tol=0)
    fit_ours()                                   # warm-up: torch's first calls are slow
    ms_ours, ms_theirs = [], []
    for _ in range(repeats):
        ms_ours.append(1e3 * seconds(fit_ours) / ours.n_iter_)
        ms_theirs.append(1e3 * seconds(lambda: theirs.fit(x)) / theirs.n_iter_)
    return {"ms_ours": spread(ms_ours), "ms_sklearn": spread(ms_theirs),
            "ratio": spread([a / b for a, b in zip(ms_ours, ms_theirs)]),
            "loglik_ours": ours.score(x), "loglik_sklearn": theirs.score(x)}


def run(quick: bool = False) -> Section:
    repeats = 2 if quick else 7
    section = Section("EM: vitools against scikit-learn (same data, same initialisation, 50 iterations)",
                      ["data", "N, D, K", "ms/iter vitools", "ms/iter sklearn", "ratio (goal <= 1)",
                       "avg log-lik vitools", "avg log-lik sklearn", "difference"])
    warnings.simplefilter("ignore", ConvergenceWarning)   # tol = 0: scikit-learn never reports convergence
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            for name, x, k in [("2-D blobs", blobs(), 4), ("digits, PCA to 10-D", digits_pca(), 10)]:
                r = section.data[name] = compare(x, k, repeats)
                section.rows.append([name, f"{len(x)}, {x.shape[1]}, {k}", show(r["ms_ours"], "{:.3f}"),
                                     show(r["ms_sklearn"], "{:.3f}"), show(r["ratio"]), f"{r['loglik_ours']:.8f}",
                                     f"{r['loglik_sklearn']:.8f}", f"{abs(r['loglik_ours'] - r['loglik_sklearn']):.1e}"])
    finally:
        torch.set_num_threads(threads)
    section.notes.append(f"one thread each for torch and numpy; median [min, max] of {repeats} repeats; "
                         "the ratio is taken within each repeat")
    return section


if __name__ == "__main__":
    print(run().markdown())
