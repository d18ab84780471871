"""vitools.gaussian_mixture.GaussianMixtureEM against scikit-learn's GaussianMixture, same data, same initialisation.

    python -m benchmarks.em

Four data sets: 600 points in 2-D from 3 Gaussians (K = 3, chapter 3's size), 2,000 points in 2-D from 4
Gaussians (K = 4), 5,000 points in 10-D from 10 Gaussians (K = 10: large enough that vitools keeps torch's
threads, see vitools.device.threads_for; the smaller ones run on one thread) and the 1,437 training digits
projected to 10 dimensions by PCA (K = 10). Both fits start
from the same K data points as means, the data covariance for every component and equal weights, and run 50
iterations (tol = 0). Two thread configurations: the reader's (torch's and numpy's default threads) and one
thread each (like for like, and steadier on a shared machine). The two fits alternate in every repeat, and the
time per iteration (whole fit / n_iter_, validation and the final E-step included) is reported as the ratio
vitools / scikit-learn of the same repeat: below 1 means vitools is faster.

The first fit in a fresh process is measured apart, in a new Python process per library that imports only that
library (and numpy): the import, the first fit and a second fit, so that one-time costs (loading the library,
first calls into it) show.
"""

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from benchmarks._em_data import blobs, blobs_10d, initialisation
from benchmarks._report import Section, alternating_ms_per_iteration, show, spread
from vitools.data import load_digits
from vitools.gaussian_mixture import GaussianMixtureEM

MAX_ITER = 50
ROOT = Path(__file__).resolve().parents[1]


def data_sets():
    x, _ = load_digits("train", binarize=False)
    digits = PCA(n_components=10, random_state=0).fit_transform(x.numpy().astype(np.float64))
    return [("2-D blobs", blobs([[-4, 0], [4, 0], [0, 4]], 200), 3),
            ("2-D blobs", blobs([[-5, 0], [5, 0], [0, 5], [0, -5]], 500), 4),
            ("10-D blobs", blobs_10d(), 10),
            ("digits, PCA to 10-D", digits, 10)]


def fits(x, k):
    """The two fits as functions of no arguments, each returning its fitted estimator."""
    weights, means, covariances = initialisation(x, k)
    ours = GaussianMixtureEM(k)
    theirs = GaussianMixture(k, covariance_type="full", weights_init=weights, means_init=means,
                             precisions_init=np.linalg.inv(covariances), reg_covar=1e-6, tol=0,
                             max_iter=MAX_ITER, init_params="random_from_data", random_state=0)
    return (lambda: ours.fit(x, weights_init=weights, means_init=means, covariances_init=covariances,
                             max_iter=MAX_ITER, tol=0),
            lambda: theirs.fit(x))


def compare(x, k, repeats):
    """Milliseconds per iteration of each fit, their ratio per repeat, and the final log-likelihoods."""
    fit_ours, fit_theirs = fits(x, k)
    ours, theirs, ms_ours, ms_theirs = alternating_ms_per_iteration(fit_ours, fit_theirs, repeats)
    return {"ms_ours": spread(ms_ours), "ms_sklearn": spread(ms_theirs),
            "ratio": spread([a / b for a, b in zip(ms_ours, ms_theirs)]),
            "loglik_ours": ours.score(x), "loglik_sklearn": theirs.score(x)}


FRESH_PROCESS = """
import json, time, warnings
import numpy as np
start = time.perf_counter()
{imports}
import_s = time.perf_counter() - start
from benchmarks._em_data import blobs, initialisation
x = blobs([[-4, 0], [4, 0], [0, 4]], 200)
weights, means, covariances = initialisation(x, 3)
fit = {fit}
times = []
for _ in range(2):
    start = time.perf_counter()
    fit()
    times.append(time.perf_counter() - start)
print(json.dumps({{"import": import_s, "first": times[0], "second": times[1]}}))
"""
LIBRARIES = {   # what each fresh process imports (its library only) and its fit, on blobs() of 600 points, K = 3
    "vitools": ("from vitools.gaussian_mixture import GaussianMixtureEM",
                "lambda: GaussianMixtureEM(3).fit(x, weights_init=weights, means_init=means, "
                "covariances_init=covariances, max_iter=50, tol=0)"),
    "sklearn": ("from sklearn.mixture import GaussianMixture\n"
                "from sklearn.exceptions import ConvergenceWarning\n"
                "warnings.simplefilter('ignore', ConvergenceWarning)",
                "lambda: GaussianMixture(3, weights_init=weights, means_init=means, "
                "precisions_init=np.linalg.inv(covariances), tol=0, max_iter=50).fit(x)"),
}


def fresh_process(library: str) -> dict:
    """Seconds to import the library (and numpy), fit once and fit again in a new Python process."""
    imports, fit = LIBRARIES[library]
    code = FRESH_PROCESS.format(imports=imports, fit=fit)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _rows(section, config, repeats):
    for name, x, k in data_sets():
        r = section.data.setdefault("fits", {})[f"{config}: {name}, K = {k}"] = compare(x, k, repeats)
        section.rows.append([config, name, f"{len(x)}, {x.shape[1]}, {k}", show(r["ms_ours"], "{:.3f}"),
                             show(r["ms_sklearn"], "{:.3f}"), show(r["ratio"]), f"{r['loglik_ours']:.8f}",
                             f"{r['loglik_sklearn']:.8f}", f"{abs(r['loglik_ours'] - r['loglik_sklearn']):.1e}"])


def run(quick: bool = False) -> Section:
    repeats = 2 if quick else 15
    section = Section("EM: vitools against scikit-learn (same data, same initialisation, 50 iterations)",
                      ["threads", "data", "N, D, K", "ms/iter vitools", "ms/iter sklearn", "ratio (goal <= 1)",
                       "avg log-lik vitools", "avg log-lik sklearn", "difference"])
    warnings.simplefilter("ignore", ConvergenceWarning)   # tol = 0: scikit-learn never reports convergence
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            _rows(section, "1", repeats)
    finally:
        torch.set_num_threads(threads)
    _rows(section, f"default ({threads})", repeats)
    fresh = section.data["fresh_process"] = {name: fresh_process(name) for name in LIBRARIES}
    section.notes += [f"median [min, max] of {repeats} repeats; the ratio is taken within each repeat",
                      "a fresh process, 600 points in 2-D, K = 3, default threads: "
                      + "; ".join(f"{name} import {r['import']:.2f} s, first fit {1e3 * r['first']:.0f} ms, "
                                  f"second fit {1e3 * r['second']:.0f} ms" for name, r in fresh.items())]
    return section


if __name__ == "__main__":
    print(run().markdown())
