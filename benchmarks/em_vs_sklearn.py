"""Time vitools.em.GaussianMixtureEM against scikit-learn's GaussianMixture from the same init.

    python benchmarks/em_vs_sklearn.py

Two data sets: 2,000 points in 2-D from 4 Gaussians (K = 4), and the 1,437 training digits
projected to 10 dimensions by PCA (K = 10). Both fits start from the same K data points as
means, the data covariance for every component and equal weights, and run 50 iterations
(tol = 0), with torch and numpy limited to one thread each (like for like, and steady when the
machine is shared). Prints the best of 5 repeats in milliseconds per iteration (whole fit /
n_iter_, so validation and the final E-step are included) and the final average log-likelihood
of each, which should agree to rounding.
"""

import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from vitools.data import load_digits
from vitools.em import GaussianMixtureEM

MAX_ITER, REPEATS = 50, 5


def blobs():
    rng = np.random.default_rng(0)
    centres = np.array([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0], [0.0, -5.0]])
    return np.concatenate([rng.multivariate_normal(c, np.diag(rng.uniform(0.5, 2.0, 2)), 500) for c in centres])


def digits_pca():
    x, _ = load_digits("train", binarize=False)
    return PCA(n_components=10, random_state=0).fit_transform(x.numpy().astype(np.float64))


def init(x, k):
    rows = np.random.default_rng(1).choice(len(x), size=k, replace=False)
    return np.full(k, 1 / k), x[rows], np.stack([np.cov(x.T)] * k)


def best_time(fit):
    """Best-of-REPEATS milliseconds per iteration of ``fit()``, and the last fitted model."""
    per_iter = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        model = fit()
        per_iter.append(1e3 * (time.perf_counter() - start) / model.n_iter_)
    return min(per_iter), model


def compare(name, x, k):
    weights, means, covariances = init(x, k)
    ours = lambda: GaussianMixtureEM(k).fit(x, weights, means, covariances, max_iter=MAX_ITER, tol=0)
    theirs = GaussianMixture(k, covariance_type="full", weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covariances), reg_covar=1e-6, tol=0,
                             max_iter=MAX_ITER, init_params="random_from_data", random_state=0)
    ours()  # warm-up: torch's first calls are slow
    ms_ours, em = best_time(ours)
    ms_theirs, gm = best_time(lambda: theirs.fit(x))
    print(f"{name}: N = {len(x)}, D = {x.shape[1]}, K = {k}")
    print(f"  vitools.em  {ms_ours:7.3f} ms/iter  ({em.n_iter_} iterations)  log-likelihood {em.score(x):.10f}")
    print(f"  sklearn     {ms_theirs:7.3f} ms/iter  ({gm.n_iter_} iterations)  log-likelihood {gm.score(x):.10f}")
    print(f"  |difference in log-likelihood| = {abs(em.score(x) - gm.score(x)):.2e}")


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)  # tol = 0: sklearn never reports convergence
    torch.set_num_threads(1)  # one thread each: like for like, and steady on a shared machine
    with threadpool_limits(limits=1):
        print(f"torch {torch.__version__}, 1 thread for torch and numpy, best of {REPEATS}, "
              f"{MAX_ITER} iterations, tol = 0")
        compare("2-D blobs", blobs(), 4)
        compare("digits, PCA to 10-D", digits_pca(), 10)


if __name__ == "__main__":
    main()
