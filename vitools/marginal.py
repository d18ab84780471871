"""Marginals and conditionals of discrete probability tables: normalise, sum out, condition.

Tables are numpy arrays (discrete, exact): the functions take array-likes and return ``ndarray``. The
estimators of log p(x) for latent variable models live in :mod:`vitools.bounds`.
"""

import numpy as np

from vitools._validate import as_probability_table, axis_index, float_array


def normalise(table):
    """Divide a non-negative table by its total: p = t / sum(t).

    Raises ``ValueError`` for negative, non-finite or all-zero entries.
    """
    t = float_array(table, "table")
    if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError("table must be non-empty with finite, non-negative entries")
    total = t.sum()
    if total <= 0:
        raise ValueError("table sums to 0; there is nothing to normalise")
    return t / total


def _axis(joint: np.ndarray, axis) -> int:
    return axis_index(axis, "axis", joint.ndim)


def sum_out(joint, axis):
    """Marginalise a variable out of a joint table: p(x) = sum_z p(x, z).

    Parameters
    ----------
    joint : array_like
        A normalised joint table (non-negative, entries sum to 1 within 1e-6).
    axis : int
        The axis of the variable to sum out.

    Returns
    -------
    ndarray
        The marginal of the remaining variables (the table with ``axis`` removed).
    """
    p = as_probability_table(joint, "joint")
    return p.sum(axis=_axis(p, axis))


def condition_on(joint, axis):
    """Condition a 2-D joint table on the variable along ``axis``: p(a | b) = p(a, b) / p(b).

    Parameters
    ----------
    joint : array_like, shape (A, B)
        A normalised joint table.
    axis : {0, 1}
        The axis of the variable conditioned on. ``condition_on(p_xz, 0)`` gives the
        posterior p(z | x) with one row per value of x; ``condition_on(p_xz, 1)`` gives
        p(x | z) with one column per value of z.

    Returns
    -------
    ndarray, shape (A, B)
        Each slice along ``axis`` sums to one over the other variable.
    """
    p = as_probability_table(joint, "joint")
    if p.ndim != 2:
        raise ValueError(f"joint must be a 2-D table, got shape {p.shape}")
    axis = _axis(p, axis)
    evidence = p.sum(axis=1 - axis, keepdims=True)
    if np.any(evidence == 0):
        empty = np.flatnonzero(evidence == 0).tolist()
        raise ValueError(f"cannot condition on values {empty} along axis {axis}: they have probability 0")
    return p / evidence
