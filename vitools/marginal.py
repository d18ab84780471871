"""Marginals and conditionals of probability tables, and estimators of log p(x).

Tables are numpy arrays (discrete, exact). The estimators work on any latent variable
model that offers

- ``model.prior``: a ``torch.distributions`` object p(z) with event shape ``(L,)``, and
- ``model.log_joint(x, z)``: log p(x, z), broadcasting a leading sample dimension of ``z``,

such as :class:`vitools.lvm.LinearGaussianLVM`.
"""

import math

import numpy as np
import torch
from torch.distributions import Distribution

from vitools._validate import as_probability_table, axis_index, float_array, float_tensor, positive_int


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


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log((1/K) sum_k exp(log_w_k)) along ``dim``, computed stably as logsumexp - log K.

    ``log_w`` must be a floating-point tensor with K >= 1 entries along ``dim``, free of NaN and +inf
    (-inf, an impossible sample, is allowed).
    """
    if not torch.is_tensor(log_w) or not torch.is_floating_point(log_w):
        raise TypeError(f"log_w must be a floating-point torch.Tensor, got "
                        f"{log_w.dtype if torch.is_tensor(log_w) else type(log_w).__name__}")
    dim = axis_index(dim, "dim", log_w.dim()) if log_w.dim() else dim
    if log_w.dim() == 0 or log_w.shape[dim] < 1:
        raise ValueError("log_w must be a floating-point tensor with at least one sample along dim")
    if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
        raise ValueError("log_w contains NaN or +inf; log-weights must be finite (or -inf for impossible samples)")
    k = log_w.shape[dim]
    return torch.logsumexp(log_w, dim=dim) - math.log(k)


def _check_model(model):
    if not hasattr(model, "prior") or not callable(getattr(model, "log_joint", None)):
        raise TypeError("model must have a `prior` distribution and a `log_joint(x, z)` method "
                        "(for example vitools.lvm.LinearGaussianLVM)")


def _check_model_and_x(model, x):
    _check_model(model)
    x = float_tensor(x, "x", ndim=2)
    return x.to(dtype=model.prior.mean.dtype, device=model.prior.mean.device)


def log_importance_weights(model, x, proposal: Distribution, k: int) -> torch.Tensor:
    """Draw z_k ~ q and return the log-weights log w_k = log p(x, z_k) - log q(z_k).

    Parameters
    ----------
    model : latent variable model
        See the module docstring.
    x : tensor, shape (N, D)
        Observations.
    proposal : torch.distributions.Distribution
        q(z), with event shape ``(L,)`` and batch shape ``()`` or ``(N,)``.
    k : int
        Number of samples per observation, K >= 1.

    Returns
    -------
    tensor, shape (K, N)
        E_q[w_k] = p(x), so ``exp`` of these averages to an unbiased estimate of p(x).
    """
    x = _check_model_and_x(model, x)
    k = positive_int(k, "k")
    if not isinstance(proposal, Distribution):
        raise TypeError(f"proposal must be a torch.distributions.Distribution, got {type(proposal).__name__}")
    if proposal.event_shape != model.prior.event_shape:
        raise ValueError(f"proposal has event shape {tuple(proposal.event_shape)}, but the model's latent z "
                         f"has event shape {tuple(model.prior.event_shape)}")
    if proposal.batch_shape not in (torch.Size(), torch.Size([x.shape[0]])):
        raise ValueError(f"proposal must have batch shape () or ({x.shape[0]},), one q per row of x; "
                         f"got {tuple(proposal.batch_shape)}")
    z = proposal.sample((k,) if proposal.batch_shape else (k, x.shape[0]))
    return model.log_joint(x, z) - proposal.log_prob(z)


def log_marginal_is(model, x, proposal: Distribution, k: int) -> torch.Tensor:
    """Importance-sampling estimate of log p(x) with proposal q.

    log p(x) = log E_q[p(x, z) / q(z)] ~ log (1/K) sum_k p(x, z_k) / q(z_k),  z_k ~ q,

    evaluated as logsumexp(log w) - log K. The estimate of p(x) inside the log is unbiased;
    its log is biased low (Jensen), by less as K grows.

    Returns
    -------
    tensor, shape (N,)
    """
    return log_mean_exp(log_importance_weights(model, x, proposal, k), dim=0)


def log_marginal_mc(model, x, k: int) -> torch.Tensor:
    """Naive Monte Carlo estimate of log p(x) = log E_{p(z)}[p(x | z)], sampling z from the prior.

    The special case q = p(z) of :func:`log_marginal_is`, where each weight is p(x | z_k).

    Returns
    -------
    tensor, shape (N,)
    """
    _check_model(model)
    return log_marginal_is(model, x, model.prior, k)
