"""Entropy and the Kullback-Leibler divergence, and fitting a Gaussian by either direction of KL.

All quantities are in nats (natural logarithms). KL(p || q) is "the KL divergence of p from q".

    H(p) = -sum_x p(x) log p(x)                    KL(p || q) = sum_x p(x) log(p(x) / q(x))

For q = N(m, s^2) and a Gaussian p = N(mu, Sigma) with variance Sigma (diagonal: summed over the last
dimension; the functions take standard deviations s and sqrt(Sigma)):

    H(N(m, s^2)) = 1/2 log(2 pi e s^2)
    KL(q || p) = log(sqrt(Sigma) / s) + (s^2 + (m - mu)^2) / (2 Sigma) - 1/2

A fit (``fit_gaussian``, ``fit_factorised_gaussian``) is checked at its end, in the unit-free coordinates
(m / s, log s): the Newton decrement g^T H^-1 g must vanish and the Hessian must be positive definite,
otherwise it is not reported as a minimum. It returns a ``GaussianFit``, a ``vitools.results.Fit`` whose ``q``
is the fitted Gaussian.

The discrete functions (``entropy``, ``kl_discrete``) work on probability tables in numpy: array-likes in,
``ndarray`` out. Everything Gaussian is torch: array-likes in, tensors or ``torch.distributions`` out.
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.distributions import Distribution, Independent, MixtureSameFamily, MultivariateNormal, Normal, kl_divergence

from vitools._validate import as_probability_table, finite_number, float_array, float_tensor, one_of, positive_int
from vitools.results import Fit

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
    p : array_like, shape (..., n_outcomes)
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
    p, q : array_like, same shape (..., n_outcomes)
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
    """Differential entropy H of a diagonal Gaussian, sum_i 1/2 log(2 pi e s_i^2), over the last dimension.

    ``std`` is the standard deviation s (not the variance); the mean does not matter.
    """
    std = _positive_std(std, "std")
    return (0.5 * math.log(2 * math.pi * math.e) + torch.log(std)).sum(-1)


def kl_gaussian(mu_q, std_q, mu_p, std_p) -> torch.Tensor:
    """KL(q || p), the KL divergence of q from p, for diagonal Gaussians q = N(m, diag(s^2)), p = N(mu, diag(Sigma)).

    The arguments are the standard deviations: ``std_q`` = s and ``std_p`` = sqrt(Sigma_ii).

        sum_i [ log(sqrt(Sigma_ii) / s_i) + (s_i^2 + (m_i - mu_i)^2) / (2 Sigma_ii) - 1/2 ]

    The sum runs over the last dimension; all arguments broadcast; differentiable. Each term is
    evaluated as (expm1(2l) - 2l) / 2 + (m_i - mu_i)^2 / (2 Sigma_ii) with l = log(s_i / sqrt(Sigma_ii)), the same
    value without the cancellation of O(1) numbers, so nearly equal Gaussians get a small KL >= 0
    (a term that rounding leaves a few ulps below 0 is clamped at 0).
    """
    std_q, std_p = _positive_std(std_q, "std_q"), _positive_std(std_p, "std_p")
    mu_q, mu_p = float_tensor(mu_q, "mu_q").to(std_q.dtype), float_tensor(mu_p, "mu_p").to(std_p.dtype)
    _broadcastable(mu_q=mu_q, std_q=std_q, mu_p=mu_p, std_p=std_p)
    log_ratio = torch.log(std_q / std_p)
    terms = 0.5 * (torch.expm1(2 * log_ratio) - 2 * log_ratio) + (mu_q - mu_p) ** 2 / (2 * std_p**2)
    return terms.clamp_min(0.0).sum(-1)


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


def kl_gaussian_target(target: Distribution, mean, std, *, direction: str = "reverse") -> torch.Tensor:
    """KL between q = N(mean, std^2) and a 1-D target p, in either direction, by quadrature.

    - ``"reverse"``: KL(q || p), the KL divergence of q from p, = -H(q) - E_q[log p], with E_q on a
      fine grid over q's mean +- 8 standard deviations (the grid moves with q, so it stays accurate
      wherever q goes);
    - ``"forward"``: KL(p || q), the KL divergence of p from q, = E_p[log p] - E_p[log q], with E_p on
      a fine grid over the target's mean +- 12 standard deviations; for a mixture
      (``MixtureSameFamily``), E_p = sum_c pi_c E_{p_c} with a grid over each component's mean +- 12
      of its standard deviations, so the modes stay resolved however far apart they are.

    Both grids have 2001 points: fine enough to resolve the sharp bend of log p between two
    well-separated unit-scale modes (Gauss-Hermite rules with few nodes miss it and invent local
    minima). The reverse grid's spacing is 0.008 of q's standard deviation: a bend of log p much
    narrower than that (modes far narrower than q) is not resolved, and the second derivatives
    there are unreliable.

    ``mean`` and ``std`` broadcast (e.g. a grid of parameters); the result is differentiable
    with respect to them and deterministic (no sampling).
    """
    _check_1d_target(target)
    _check_direction(direction)
    std = _positive_std(std, "std").double()   # quadrature in float64, whatever the inputs
    mean = float_tensor(mean, "mean").double()
    _broadcastable(mean=mean, std=std)
    return _kl_objective(target, direction)(mean, std)


def _kl_objective(target: Distribution, direction: str):
    """``(mean, std) -> KL`` for a checked 1-D target, with everything that does not depend on q computed once."""
    if direction == "reverse":
        u = torch.linspace(-_Q_GRID_HALF_WIDTH, _Q_GRID_HALF_WIDTH, _N_GRID, dtype=torch.float64)
        phi_du = torch.exp(-0.5 * u**2) / math.sqrt(2 * math.pi) * (u[1] - u[0])    # N(u; 0, 1) du

        def reverse(mean, std):
            z = mean[..., None] + std[..., None] * u                                 # a grid that moves with q
            expected_log_p = (phi_du * target.log_prob(z)).sum(-1)
            return -gaussian_entropy(std[..., None]) - expected_log_p   # 1-D q: no sum over the grid
        return reverse
    if isinstance(target, MixtureSameFamily):   # one grid per component c: E_p = sum_c pi_c E_{p_c}
        parts = target.component_distribution
        weights = target.mixture_distribution.probs.double()
        piece_log_prob = lambda grid: parts.log_prob(grid.mT).mT      # noqa: E731  log p_c on grid c
    else:
        parts, weights, piece_log_prob = target, torch.ones(1, dtype=torch.float64), target.log_prob
    centres = parts.mean.double().reshape(-1, 1)
    spreads = parts.stddev.double().reshape(-1, 1)
    u = torch.linspace(-_GRID_HALF_WIDTH, _GRID_HALF_WIDTH, _N_GRID, dtype=torch.float64)
    grid = centres + spreads * u                                              # (C, n): grid c around p_c
    p_dz = weights[:, None] * torch.exp(piece_log_prob(grid)) * spreads * (u[1] - u[0])   # pi_c p_c(z) dz
    expected_log_p = (p_dz * target.log_prob(grid)).sum()                    # E_p[log p] = -H(p)

    def forward(mean, std):
        log_q = Normal(mean[..., None, None], std[..., None, None]).log_prob(grid)
        return expected_log_p - (p_dz * log_q).sum((-2, -1))
    return forward


_DECREMENT_TOL = 1e-10   # a fit is stationary when the Newton decrement g^T H^-1 g (in nats) is below this
_CURVATURE_TOL = 1e-6    # ... and a minimum when the standardised Hessian's smallest eigenvalue exceeds this
_NEWTON_POLISH = 3       # at most this many Newton steps after L-BFGS, taken only where the Hessian is positive definite
_POLISH_FROM = 1e-4      # ... and the Newton decrement is already below this (the run has nearly converged)


@dataclass
class GaussianFit(Fit):
    """A fitted Gaussian q, with what the fit did and whether it verifiably ended at a minimum.

    A ``vitools.results.Fit`` (``q``, ``history``, ``converged``; ``model`` stays None) with the checks of the
    end point as further fields.

    Attributes
    ----------
    q : torch.distributions.Normal or torch.distributions.Independent
        The fitted q = N(m, s^2): a ``Normal`` with 0-d ``mean`` and ``stddev`` for ``fit_gaussian``; for
        ``fit_factorised_gaussian`` q = N(m, diag(s^2)) as ``Independent(Normal(m, s), 1)``, event shape (L,)
        with L the dimension of z.
    history : dict
        ``{"kl": [...]}``: the KL at each objective evaluation of the run that was kept (the line searches
        evaluate it more than once per L-BFGS iteration), then after each Newton step.
    converged : bool
        The same as ``is_minimum``.
    kl : float
        The KL at the fit.
    gradient : torch.Tensor
        The gradient of the KL with respect to (m, log s) at the fit.
    hessian_eigenvalues : torch.Tensor
        The eigenvalues of the Hessian H of the KL with respect to (m, log s) at the fit, ascending.
    scaled_hessian_eigenvalues : torch.Tensor
        The eigenvalues of the standardised Hessian D H D, D = diag(s, 1), i.e. the Hessian in the unit-free
        coordinates (m / s, log s), ascending. Same signs as ``hessian_eigenvalues`` (Sylvester's law of
        inertia), but comparable with each other whatever the scale of the target.
    newton_decrement : float
        g^T H^-1 g with g the gradient in (m, log s) (the same in any linear rescaling of the coordinates); about
        twice the KL a Newton step from the fit would still gain.
    is_minimum : bool
        True when the standardised Hessian is positive definite (smallest eigenvalue above 1e-6) and the
        Newton decrement is below 1e-10 nats: the second-order sufficient condition of a strict local minimum
        holds, up to the tolerances.
    start : tuple of float
        The (m, s) the kept run started from.
    n_starts : int
        How many runs were made, one from each start.
    runs : list of dict
        One entry per run: ``start``, ``q`` (the run's fitted distribution), ``kl``, ``max_abs_gradient``,
        ``hessian_eigenvalues``, ``scaled_hessian_eigenvalues``, ``newton_decrement``, ``is_minimum``.
    """

    kl: float = math.nan
    gradient: torch.Tensor = None
    hessian_eigenvalues: torch.Tensor = None
    scaled_hessian_eigenvalues: torch.Tensor = None
    newton_decrement: float = math.nan
    is_minimum: bool = False
    start: tuple = ()
    n_starts: int = 1
    runs: list = field(default_factory=list)


def _gradient_and_hessian(objective, mean, log_std):
    """Gradient and Hessian of ``objective(m, exp(log s))`` with respect to (m, log s), flattened."""
    dim = mean.numel()
    theta = torch.cat([mean.reshape(-1), log_std.reshape(-1)]).detach().requires_grad_(True)
    value = objective(theta[:dim].reshape(mean.shape), torch.exp(theta[dim:]).reshape(mean.shape))
    gradient, = torch.autograd.grad(value, theta, create_graph=True)
    hessian = torch.stack([torch.autograd.grad(gradient[i], theta, retain_graph=True)[0] for i in range(2 * dim)])
    return gradient.detach(), hessian.detach()


def _hessian(objective, mean, log_std):
    return _gradient_and_hessian(objective, mean, log_std)[1]


def _second_order(objective, mean, log_std):
    """Gradient and Hessian of ``objective(m, exp(log s))`` at (m, log s), and whether it is a strict local minimum.

    The test is made in the unit-free coordinates (m / s, log s): with D = diag(s, 1), the standardised
    Hessian D H D must be positive definite, and the Newton decrement g^T H^-1 g (invariant under the
    rescaling) must be tiny. Raw eigenvalues of H mix units (1 / s^2 along m, none along log s), so a
    threshold on them rejects true minima of wide targets and accepts gentle slopes of narrow ones.
    """
    dim = mean.numel()
    gradient, hessian = _gradient_and_hessian(objective, mean, log_std)
    scale = torch.cat([torch.exp(log_std.reshape(-1)), torch.ones(dim, dtype=hessian.dtype)])      # D = diag(s, 1)
    scaled_hessian, scaled_gradient = scale[:, None] * hessian * scale[None, :], scale * gradient
    eigenvalues, scaled_eigenvalues = torch.linalg.eigvalsh(hessian), torch.linalg.eigvalsh(scaled_hessian)
    positive_definite = bool(scaled_eigenvalues[0] > _CURVATURE_TOL)
    decrement = (scaled_gradient @ torch.linalg.solve(scaled_hessian, scaled_gradient)).item() if positive_definite \
        else math.inf
    is_minimum = positive_definite and decrement < _DECREMENT_TOL
    return gradient, eigenvalues, scaled_eigenvalues, decrement, is_minimum


def _gaussian(mean: torch.Tensor, std: torch.Tensor) -> Distribution:
    """q = N(m, s^2): a ``Normal`` for 0-d parameters, N(m, diag(s^2)) as ``Independent(Normal, 1)`` for vectors."""
    q = Normal(mean, std)
    return Independent(q, 1) if mean.dim() else q


def _fit(objective, mean, std, n_steps: int) -> GaussianFit:
    """Minimise ``objective(mean, std)`` over (mean, log std) with L-BFGS from one start, then check the end.

    The objectives here are deterministic (quadrature or closed form), which suits a
    quasi-Newton method; optimising log std keeps std positive without constraints.
    """
    start = (mean, std)
    mean = torch.tensor(mean, dtype=torch.float64).requires_grad_(True)
    log_std = torch.log(_positive_std(torch.tensor(std, dtype=torch.float64), "init std")).requires_grad_(True)
    optimiser = torch.optim.LBFGS([mean, log_std], lr=1.0, max_iter=n_steps, tolerance_grad=1e-9,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")
    history = []

    def closure():
        optimiser.zero_grad()
        loss = objective(mean, torch.exp(log_std))
        loss.backward()
        history.append(loss.item())
        return loss

    optimiser.step(closure)
    mean, log_std = mean.detach(), log_std.detach()
    gradient, eigenvalues, scaled_eigenvalues, decrement, is_minimum = _second_order(objective, mean, log_std)
    for _ in range(_NEWTON_POLISH):   # L-BFGS can stop a hair short on very wide or narrow targets: finish with Newton
        if is_minimum or not decrement < _POLISH_FROM:   # only close to a minimum, in Newton's quadratic region
            break
        step = torch.linalg.solve(_hessian(objective, mean, log_std), gradient)
        new_mean, new_log_std = mean - step[:mean.numel()].reshape(mean.shape), log_std - step[mean.numel():].reshape(mean.shape)
        if not objective(new_mean, torch.exp(new_log_std)).item() <= objective(mean, torch.exp(log_std)).item():
            break
        mean, log_std = new_mean, new_log_std
        history.append(objective(mean, torch.exp(log_std)).item())
        gradient, eigenvalues, scaled_eigenvalues, decrement, is_minimum = _second_order(objective, mean, log_std)
    std = torch.exp(log_std)
    return GaussianFit(q=_gaussian(mean, std), history={"kl": history}, converged=is_minimum,
                       kl=objective(mean, std).item(), gradient=gradient, hessian_eigenvalues=eigenvalues,
                       scaled_hessian_eigenvalues=scaled_eigenvalues, newton_decrement=decrement,
                       is_minimum=is_minimum, start=start)


def _best_of(runs, what: str) -> GaussianFit:
    """The lowest-KL run among those that end at a verified minimum (a warning if none does, or if an unverified run is lower)."""
    minima = [run for run in runs if run.is_minimum]
    best = min(minima or runs, key=lambda run: run.kl)
    best.n_starts = len(runs)
    best.runs = [{"start": run.start, "q": run.q, "kl": run.kl,
                  "max_abs_gradient": run.gradient.abs().max().item(), "hessian_eigenvalues": run.hessian_eigenvalues,
                  "scaled_hessian_eigenvalues": run.scaled_hessian_eigenvalues,
                  "newton_decrement": run.newton_decrement, "is_minimum": run.is_minimum} for run in runs]
    if not minima:
        warnings.warn(
            f"{what}: none of the {len(runs)} run(s) ended at a verified minimum (the best has Newton decrement "
            f"{best.newton_decrement:.3g} and standardised Hessian eigenvalues "
            f"{best.scaled_hessian_eigenvalues.tolist()}); the result is not a minimum. Raise n_steps, or pass other "
            f"starts with init.", RuntimeWarning, stacklevel=3)
    lower = [run for run in runs if not run.is_minimum and run.kl < best.kl]
    if minima and lower:
        warnings.warn(
            f"{what}: {len(lower)} run(s) that did not end at a verified minimum reached a lower KL "
            f"({min(run.kl for run in lower):.6g}) than the kept minimum ({best.kl:.6g}); they were dropped. "
            f"Raise n_steps so they converge, and compare.", RuntimeWarning, stacklevel=3)
    return best


def _default_starts(target: Distribution) -> list:
    """Starts spread over the target: its moments, a row across mean +- 2 standard deviations, and its components."""
    centre, spread = target.mean.double().item(), target.stddev.double().item()
    if not (math.isfinite(centre) and math.isfinite(spread) and spread > 0):
        raise ValueError("target must have a finite mean and a positive, finite stddev to place the default starts; "
                         "pass init=(mean, std) (or a list of such pairs) instead")
    starts = [(centre, spread)] + [(centre + u * spread, spread / 4) for u in (-2.0, -1.0, 0.0, 1.0, 2.0)]
    if isinstance(target, MixtureSameFamily):
        parts = target.component_distribution
        starts += list(zip(parts.mean.double().tolist(), parts.stddev.double().tolist()))
    return starts


def _starts(init) -> list:
    """``init`` as a list of (mean, std) pairs: one pair, or a sequence of pairs."""
    message = f"init must be a pair (mean, std) of numbers, a list of such pairs, or None, got {init!r}"
    try:
        pairs = [init] if np.ndim(init) == 1 else list(init) if np.ndim(init) == 2 else None
    except (TypeError, ValueError) as error:
        raise TypeError(message) from error
    if pairs is None or not pairs or any(len(pair) != 2 for pair in pairs):
        raise TypeError(message)
    return [(finite_number(m0, "init mean"), finite_number(s0, "init std", 0, strict=True)) for m0, s0 in pairs]


def fit_gaussian(target: Distribution, direction: str = "reverse", *, init=None, n_steps: int = 200) -> GaussianFit:
    """Fit q = N(m, s^2) to a 1-D target by minimising KL(q || p) (reverse) or KL(p || q) (forward).

    Each run minimises the KL over (m, log s) with L-BFGS and is then checked: it counts as a
    minimum only if the Hessian, in the unit-free coordinates (m / s, log s), is positive definite and the
    Newton decrement g^T H^-1 g is below 1e-10 nats (the second-order sufficient condition).
    Of all runs, the one with the lowest KL among the verified minima is returned.

    Parameters
    ----------
    target : torch.distributions.Distribution
        A 1-D distribution with ``log_prob``, ``mean`` and ``stddev`` (e.g. a Gaussian mixture).
    direction : {"reverse", "forward"}
    init : None, (float, float) or list of (float, float)
        Where the runs start, as (mean, standard deviation) of q. ``None`` (default): several starts
        spread over the target (its mean and standard deviation; five narrow starts across its mean
        +- 2 standard deviations; and, for a mixture, each component), so the result is the best of
        several local minima. One pair: a single run from there, a *local* fit (the reverse KL has
        several local minima; where the run ends depends on where it starts).
    n_steps : int
        The most L-BFGS iterations per run (``max_iter``); the line searches may evaluate the objective
        up to 1.25 times as often.

    Returns
    -------
    GaussianFit
        ``q``, the fitted ``Normal`` (``fit.q.mean`` = m and ``fit.q.stddev`` = s, 0-d tensors), ``history``
        (``{"kl": [...]}``, the KL at each evaluation of the kept run), ``converged`` (= ``is_minimum``),
        ``kl``, ``gradient``, ``hessian_eigenvalues``, ``scaled_hessian_eigenvalues``, ``newton_decrement``,
        ``is_minimum``, ``start``, ``n_starts`` and ``runs`` (the end of every run).

    Warns
    -----
    RuntimeWarning
        When no run ends at a verified minimum (the returned fit then has ``is_minimum=False``), or when a
        run that did not reach a verified minimum has a lower KL than the one returned.
    """
    _check_1d_target(target)
    _check_direction(direction)
    n_steps = positive_int(n_steps, "n_steps")
    starts = _default_starts(target) if init is None else _starts(init)
    objective = _kl_objective(target, direction)
    return _best_of([_fit(objective, m0, s0, n_steps) for m0, s0 in starts], "fit_gaussian")


def fit_factorised_gaussian(target: MultivariateNormal, direction: str = "reverse", *,
                            n_steps: int = 200) -> GaussianFit:
    """Fit a factorised q = N(m, diag(s^2)) to a correlated Gaussian target by either KL.

    The KL between two Gaussians is exact (``torch.distributions.kl_divergence``), so the
    optimum is known: the reverse fit has s_i^2 = 1 / Lambda_ii (the target's precision
    diagonal, too small), the forward fit s_i^2 = Sigma_ii (its marginal variances).
    q starts at mean 0 and standard deviation 1; both objectives have a single stationary point,
    and the fit checks that it ended there (zero gradient, positive definite Hessian).

    Parameters
    ----------
    target : torch.distributions.MultivariateNormal
        p = N(mu, Sigma) over z in R^L (computed in float64).
    direction : {"reverse", "forward"}
    n_steps : int
        The most L-BFGS iterations (``max_iter``).

    Returns
    -------
    GaussianFit
        ``q`` = N(m, diag(s^2)) as ``Independent(Normal(m, s), 1)`` (``fit.q.mean`` = m and ``fit.q.stddev`` = s,
        shape (L,)), the KL history and the checks of ``fit_gaussian``.

    Warns
    -----
    RuntimeWarning
        When the run does not end at a verified minimum (e.g. too few ``n_steps``).
    """
    if not isinstance(target, MultivariateNormal) or target.batch_shape != torch.Size():
        raise TypeError("target must be a single torch.distributions.MultivariateNormal")
    _check_direction(direction)
    n_steps = positive_int(n_steps, "n_steps")
    target = MultivariateNormal(target.mean.double(), covariance_matrix=target.covariance_matrix.double())
    dim = target.event_shape[0]

    def objective(m, s):
        q = MultivariateNormal(m, scale_tril=torch.diag_embed(s))
        return kl_divergence(q, target) if direction == "reverse" else kl_divergence(target, q)

    return _best_of([_fit(objective, [0.0] * dim, [1.0] * dim, n_steps)], "fit_factorised_gaussian")
