"""The EM benchmark's data and initialisation, numpy only: imported by benchmarks.em and by its fresh-process
measurement, which must not load torch or scikit-learn before it times their import."""

import numpy as np


def blobs(centres, n_per_centre):
    rng = np.random.default_rng(0)
    centres = np.asarray(centres, dtype=float)
    return np.concatenate([rng.multivariate_normal(c, np.diag(rng.uniform(0.5, 2.0, 2)), n_per_centre) for c in centres])


def blobs_10d():
    """5,000 points in 10-D from 10 Gaussians: N C D^2 = 5e6 and C N D = 5e5, above vitools' one-thread limit
    (vitools.device.threads_for) and its all-components-at-once limit (vitools.gaussian_mixture.BATCHED_ENTRIES)."""
    rng = np.random.default_rng(2)
    centres = 4 * rng.normal(size=(10, 10))
    return centres[np.arange(5000) % 10] + rng.normal(size=(5000, 10))


def initialisation(x, k):
    rows = np.random.default_rng(1).choice(len(x), size=k, replace=False)
    return np.full(k, 1 / k), x[rows], np.stack([np.cov(x.T)] * k)
