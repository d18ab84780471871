"""Entropy and the Kullback-Leibler divergence, and fitting a Gaussian by either direction of KL.

All quantities are in nats (natural logarithms).

    H(p) = -sum_x p(x) log p(x)                    KL(p || q) = sum_x p(x) log(p(x) / q(x))

For Gaussians with standard deviations s (diagonal, summed over the last dimension):

    H(N(m, s^2)) = 1/2 log(2 pi e s^2)
    KL(N(m_q, s_q^2) || N(m_p, s_p^2)) = log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal, Normal, kl_divergence

from vitools._validate import as_probability_table, finite_number, float_array, float_tensor, one_of, positive_int

_N_GRID = 2001           # grid points for expectations in kl_gaussian_target
_GRID_HALF_WIDTH = 12.0  # E_p: the grid spans the target's mean +- this many standard deviations
_Q_GRID_HALF_WIDTH = 8.0  # E_q: the grid spans q's mean +- this many of q's standard deviations


def _distributions(p, name: str) -> np.ndarray:
    """Check that every slice along the last axis of ``p`` is a probability distribution."""
    p = float_array(p, name)
    if p.ndim == 0:
        raise ValueError(f"{name} must have at least one axis (the outcomes), got a scalar")
    for index in np.ndindex(p.shape[:-1]):
        as_probability_table(p[index], f"{name}{list(index) if index else ''}")
    return p


def entropy(p) -> np.ndarray:
    """H(p) = -sum_x p(x) log p(x) in nats, along the last axis (0 log 0 = 0).

    Parameters
    ----------
    p : array_like, shape (..., n)
        Probabilities: non-negative, each slice summing to one within 1e-6.

    Returns
    -------
    ndarray, shape (...)
    """
    p = _distributions(p, "p")
    terms = np.where(p > 0, -p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return terms.sum(axis=-1)


def kl_discrete(p, q) -> np.ndarray:
    """KL(p || q) = sum_x p(x) log(p(x) / q(x)) in nats, along the last axis.

    Terms with p(x) = 0 contribute 0; where q(x) = 0 < p(x) the divergence is infinite. When p and
    q (nearly) coincide, rounding in the sum of terms of both signs can land a few ulps below 0;
    KL >= 0 (Gibbs' inequality), so the sum is clamped at 0.

    Parameters
    ----------
    p, q : array_like, same shape (..., n)
        Probabilities: non-negative, each slice summing to one within 1e-6.

    Returns
    -------
    ndarray, shape (...), values in [0, inf]
    """
    p, q = _distributions(p, "p"), _distributions(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    support = p > 0
    with np.errstate(divide="ignore"):
        log_ratio = np.log(np.where(support, p, 1.0)) - np.log(np.where(support, q, 1.0))
    return np.maximum(np.where(support, p * log_ratio, 0.0).sum(axis=-1), 0.0)


def _positive_std(std, name: str) -> torch.Tensor:
    tensor = float_tensor(std, name)
    std = tensor if torch.is_tensor(std) else tensor.to(torch.get_default_dtype())   # lists, arrays: default dtype
    if not torch.all(std > 0):
        raise ValueError(f"{name} holds standard deviations and must be finite and > 0 everywhere")
    return std


def gaussian_entropy(std) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, sum_d 1/2 log(2 pi e s_d^2), over the last dimension.

    ``std`` is the standard deviation s (not the variance); the mean does not matter.
    """
    std = _positive_std(std, "std")
    return (0.5 * math.log(2 * math.pi * math.e) + torch.log(std)).sum(-1)


def kl_gaussian(mu_q, std_q, mu_p, std_p) -> torch.Tensor:
    """KL(q || p) between diagonal Gaussians q = N(mu_q, std_q^2), p = N(mu_p, std_p^2).

        sum_d [ log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2 ]

    The sum runs over the last dimension; all arguments broadcast; differentiable. Each term is
    evaluated as (expm1(2l) - 2l) / 2 + (m_q - m_p)^2 / (2 s_p^2) with l = log(s_q / s_p), the same
    value without the cancellation of O(1) numbers, so nearly equal Gaussians get a small KL >= 0
    (a term that rounding leaves a few ulps below 0 is clamped at 0).
    """
    std_q, std_p = _positive_std(std_q, "std_q"), _positive_std(std_p, "std_p")
    mu_q, mu_p = float_tensor(mu_q, "mu_q").to(std_q.dtype), float_tensor(mu_p, "mu_p").to(std_p.dtype)
    _broadcastable(mu_q=mu_q, std_q=std_q, mu_p=mu_p, std_p=std_p)
    log_ratio = torch.log(std_q / std_p)
    terms = 0.5 * (torch.expm1(2 * log_ratio) - 2 * log_ratio) + (mu_q - mu_p) ** 2 / (2 * std_p**2)
    return terms.clamp_min(0.0).sum(-1)


def two_mode_target(distance: float, weight_left: float = 0.5) -> MixtureSameFamily:
    """The book's two-mode target p(z) = w N(z; -d/2, 1) + (1 - w) N(z; d/2, 1), in float64."""
    distance = finite_number(distance, "distance", 0, role="is the gap between the two modes")
    if not 0 < finite_number(weight_left, "weight_left") < 1:
        raise ValueError(f"weight_left is the left mode's probability and must lie in (0, 1), got {weight_left!r}")
    weights = torch.tensor([weight_left, 1 - weight_left], dtype=torch.float64)
    means = torch.tensor([-distance / 2, distance / 2], dtype=torch.float64)
    return MixtureSameFamily(Categorical(weights), Normal(means, torch.ones(2, dtype=torch.float64)))


def _check_1d_target(target):
    if not isinstance(target, Distribution):
        raise TypeError(f"target must be a torch.distributions.Distribution, got {type(target).__name__}")
    if target.event_shape != torch.Size() or target.batch_shape != torch.Size():
        raise ValueError("target must be a single 1-D distribution (event and batch shape ()); "
                         f"got event shape {tuple(target.event_shape)}, batch shape {tuple(target.batch_shape)}")


def _check_direction(direction):
    one_of(direction, "direction", ("reverse", "forward"), expected="'reverse' (KL(q || p)) or 'forward' (KL(p || q))")


def _broadcastable(**tensors):
    try:
        torch.broadcast_shapes(*(t.shape for t in tensors.values()))
    except RuntimeError as error:
        shapes = ", ".join(f"{name} {tuple(t.shape)}" for name, t in tensors.items())
        raise ValueError(f"{', '.join(tensors)} must broadcast to one shape, got {shapes}") from error


def kl_gaussian_target(target: Distribution, mean, std, direction: str = "reverse") -> torch.Tensor:
    """KL between q = N(mean, std^2) and a 1-D target p, in either direction, by quadrature.

    - ``"reverse"``: KL(q || p) = -H(q) - E_q[log p], with E_q on a fine grid over q's mean
      +- 8 standard deviations (the grid moves with q, so it stays accurate wherever q goes);
    - ``"forward"``: KL(p || q) = E_p[log p] - E_p[log q], with E_p on a fine grid over the
      target's mean +- 12 standard deviations; for a mixture (``MixtureSameFamily``),
      E_p = sum_k pi_k E_{p_k} with a grid over each component's mean +- 12 of its standard
      deviations, so the modes stay resolved however far apart they are.

    Both grids have 2001 points: fine enough to resolve the sharp bend of log p between two
    well-separated modes (Gauss-Hermite rules with few nodes miss it and invent local minima).

    ``mean`` and ``std`` broadcast (e.g. a grid of parameters); the result is differentiable
    with respect to them and deterministic (no sampling).
    """
    _check_1d_target(target)
    _check_direction(direction)
    std = _positive_std(std, "std").double()   # quadrature in float64, whatever the inputs
    mean = float_tensor(mean, "mean").double()
    _broadcastable(mean=mean, std=std)
    if direction == "reverse":
        u = torch.linspace(-_Q_GRID_HALF_WIDTH, _Q_GRID_HALF_WIDTH, _N_GRID, dtype=torch.float64)
        phi_du = torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi) * (u[1] - u[0])    # N(u; 0, 1) du
        z = mean[..., None] + std[..., None] * u                                     # a grid that moves with q
        expected_log_p = (phi_du * target.log_prob(z)).sum(-1)
        return -gaussian_entropy(std[..., None]) - expected_log_p   # 1-D q: no sum over the grid
    if isinstance(target, MixtureSameFamily):   # one grid per component k: E_p = sum_k pi_k E_{p_k}
        parts = target.component_distribution
        weights = target.mixture_distribution.probs.double()
        piece_log_prob = lambda grid: parts.log_prob(grid.mT).mT      # noqa: E731  log p_k on grid k
    else:
        parts, weights, piece_log_prob = target, torch.ones(1, dtype=torch.float64), target.log_prob
    centres = parts.mean.double().reshape(-1, 1)
    spreads = parts.stddev.double().reshape(-1, 1)
    u = torch.linspace(-_GRID_HALF_WIDTH, _GRID_HALF_WIDTH, _N_GRID, dtype=torch.float64)
    grid = centres + spreads * u                                              # (K, n): grid k around p_k
    p_dz = weights[:, None] * torch.exp(piece_log_prob(grid)) * spreads * (u[1] - u[0])   # pi_k p_k(z) dz
    log_q = Normal(mean[..., None, None], std[..., None, None]).log_prob(grid)
    return (p_dz * (target.log_prob(grid) - log_q)).sum((-2, -1))


@dataclass
class GaussianFit:
    """A fitted Gaussian q = N(mean, std^2) and the objective at each optimiser evaluation."""

    mean: torch.Tensor
    std: torch.Tensor
    history: list


def _fit(objective, mean, std, steps: int) -> GaussianFit:
    """Minimise ``objective(mean, std)`` over (mean, log std) with L-BFGS.

    The objectives here are deterministic (quadrature or closed form), which suits a
    quasi-Newton method; optimising log std keeps std positive without constraints.
    """
    steps = positive_int(steps, "steps")
    mean = torch.tensor(mean, dtype=torch.float64).requires_grad_(True)
    log_std = torch.log(_positive_std(torch.tensor(std, dtype=torch.float64), "init std")).requires_grad_(True)
    optimiser = torch.optim.LBFGS([mean, log_std], lr=1.0, max_iter=steps, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")
    history = []

    def closure():
        optimiser.zero_grad()
        loss = objective(mean, torch.exp(log_std))
        loss.backward()
        history.append(loss.item())
        return loss

    optimiser.step(closure)
    return GaussianFit(mean.detach(), torch.exp(log_std).detach(), history)


def fit_gaussian(target: Distribution, direction: str = "reverse", init=(0.0, 1.0), steps: int = 200) -> GaussianFit:
    """Fit q = N(m, s^2) to a 1-D target by minimising KL(q || p) (reverse) or KL(p || q) (forward).

    Parameters
    ----------
    target : torch.distributions.Distribution
        A 1-D distribution with ``log_prob``, ``mean`` and ``stddev`` (e.g. a Gaussian mixture).
    direction : {"reverse", "forward"}
    init : (float, float)
        The starting mean and standard deviation of q.
    steps : int
        The most objective evaluations L-BFGS may spend, on (m, log s).

    Returns
    -------
    GaussianFit
        ``mean`` and ``std`` (0-d tensors) and ``history``, the KL at each evaluation.
    """
    _check_1d_target(target)
    _check_direction(direction)
    try:
        m0, s0 = init
    except (TypeError, ValueError) as error:
        raise TypeError(f"init must be a pair (mean, std) of numbers, got {init!r}") from error
    m0, s0 = finite_number(m0, "init mean"), finite_number(s0, "init std", 0, strict=True)
    return _fit(lambda m, s: kl_gaussian_target(target, m, s, direction), m0, s0, steps)


def fit_factorised_gaussian(target: MultivariateNormal, direction: str = "reverse", steps: int = 200) -> GaussianFit:
    """Fit a factorised q = N(m, diag(s^2)) to a correlated Gaussian target by either KL.

    The KL between two Gaussians is exact (``torch.distributions.kl_divergence``), so the
    optimum is known: the reverse fit has s_d^2 = 1 / Lambda_dd (the target's precision
    diagonal, too small), the forward fit s_d^2 = Sigma_dd (its marginal variances).
    q starts at mean 0 and standard deviation 1.

    Returns
    -------
    GaussianFit
        ``mean`` and ``std`` of shape (D,) and the KL history.
    """
    if not isinstance(target, MultivariateNormal) or target.batch_shape != torch.Size():
        raise TypeError("target must be a single torch.distributions.MultivariateNormal")
    _check_direction(direction)
    target = MultivariateNormal(target.mean.double(), covariance_matrix=target.covariance_matrix.double())
    dim = target.event_shape[0]

    def objective(m, s):
        q = MultivariateNormal(m, scale_tril=torch.diag_embed(s))
        return kl_divergence(q, target) if direction == "reverse" else kl_divergence(target, q)

    return _fit(objective, [0.0] * dim, [1.0] * dim, steps)
