"""Monte Carlo gradient estimators for grad_theta E_{q_theta(z)}[f(z)], and the importance-weighted bound.

- Score function (log-derivative, REINFORCE):
      grad E_q[f] = E_q[(f(z) - b) grad log q(z)]      for any constant baseline b,
  because E_q[grad log q] = 0. Needs only samples and log q; works for discrete z.
- Reparameterisation (pathwise): if z = g_theta(eps) with eps ~ p(eps) free of theta,
      grad E_q[f] = E_eps[grad f(g_theta(eps))].
  Needs ``rsample`` and a differentiable f.

Both functions return **per-sample** estimates, one row per sample, so a caller can take their
mean (the estimate) and their variance. Gradients are with respect to the distribution's own
parameter tensors that require grad and that the computation uses (``loc`` and ``scale`` of a
Normal, ``probs`` of a Bernoulli or RelaxedBernoulli built from probs), found after
``dist.expand``: each expanded parameter has one row per sample, and the gradient with respect
to that row is that sample's term.

``score_variance_quadratic`` and ``score_variance_linear`` give the exact per-sample variances for
chapter 4's running example (z ~ N(mu, I_D)), the reference the measured variances are compared with.
"""


import torch
from torch.distributions import Distribution

from vitools._validate import finite_number, float_array, float_tensor, function, positive_int
from vitools.marginal import log_mean_exp


def _expanded(dist: Distribution, n_samples: int):
    """``dist`` expanded to batch (n, *batch_shape), and its parameters that require grad, by name."""
    if not isinstance(dist, Distribution):
        raise TypeError(f"dist must be a torch.distributions.Distribution, got {type(dist).__name__}")
    expanded = dist.expand(torch.Size([positive_int(n_samples, "n_samples")]) + dist.batch_shape)
    parameters, stack = {}, [expanded]
    while stack:                                   # parameters may sit in a base distribution
        for name, value in vars(stack.pop()).items():
            if isinstance(value, Distribution):
                stack.append(value)
            elif torch.is_tensor(value) and value.requires_grad and not name.startswith("_"):
                parameters[name] = value
    if not parameters:
        raise ValueError("dist has no parameter tensor with requires_grad=True: create its parameters with "
                         "requires_grad=True (e.g. Normal(loc.requires_grad_(), scale)) to get gradients")
    return expanded, parameters


def _gradients(output: torch.Tensor, parameters: dict) -> dict:
    """Gradients of ``output`` with respect to each named parameter that it actually uses.

    A distribution may cache a derived tensor (e.g. ``probs`` computed from ``logits``); it
    requires grad but plays no part in the computation, so it is left out.
    """
    grads = torch.autograd.grad(output, list(parameters.values()), allow_unused=True)
    return {name: g for name, g in zip(parameters, grads) if g is not None}


def _per_sample(values: torch.Tensor, n: int) -> torch.Tensor:
    """Sum everything but the leading sample dimension: one number per sample."""
    return values.reshape(n, -1).sum(1)


def _rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """One number per sample, shaped to multiply a per-sample tensor ``like`` (n, *shape) row by row."""
    return values.reshape((-1,) + (1,) * (like.dim() - 1))


def _f_values(f, z, n):
    values = f(z)
    if not torch.is_tensor(values) or values.shape[:1] != (n,) or values.numel() != n:
        raise ValueError(f"f must map samples with a leading sample dimension of size {n} to one value per "
                         f"sample (shape ({n},)); got {tuple(values.shape) if torch.is_tensor(values) else type(values)}")
    if not torch.all(torch.isfinite(values)):
        raise ValueError("f returned NaN or infinite values for some samples; the gradient estimates would be "
                         "NaN. Make f finite wherever q puts mass (e.g. compute it in log space)")
    return values.reshape(n)


def scores_and_values(f, dist: Distribution, n_samples: int):
    """Draw z_s ~ q and return (f(z_s), {name: grad log q(z_s)}), one row per sample."""
    function(f, "f")
    expanded, parameters = _expanded(dist, n_samples)
    z = expanded.sample()
    log_q = _per_sample(expanded.log_prob(z), n_samples)
    return _f_values(f, z, n_samples).detach(), _gradients(log_q.sum(), parameters)


def score_function_grad(f, dist: Distribution, n_samples: int, baseline=None) -> dict:
    """Per-sample score-function estimates (f(z_s) - b_s) grad log q(z_s), z_s ~ q.

    Parameters
    ----------
    f : callable
        Maps samples (leading dimension n_samples) to one value per sample; need not be differentiable.
    dist : torch.distributions.Distribution
        q_theta, with parameters that require grad.
    n_samples : int
    baseline : None, float, tensor, or "leave-one-out"
        A constant b (None means 0), or, with "leave-one-out", b_s = the mean of f over the other
        samples, which keeps the estimate unbiased because b_s does not depend on z_s.

    Returns
    -------
    dict of name -> tensor of shape (n_samples, *parameter shape)
    """
    values, scores = scores_and_values(f, dist, n_samples)
    if isinstance(baseline, str):
        if baseline != "leave-one-out":
            raise ValueError(f"baseline must be None, a number, a tensor or 'leave-one-out', got {baseline!r}")
        if n_samples < 2:
            raise ValueError("a leave-one-out baseline needs n_samples >= 2")
        baseline = (values.sum() - values) / (n_samples - 1)
    elif baseline is not None:
        baseline = float_tensor(baseline, "baseline").to(values)
        if baseline.shape not in (torch.Size(), torch.Size([n_samples])):
            raise ValueError(f"baseline must be a number or a tensor of shape (n_samples,) = ({n_samples},), "
                             f"got shape {tuple(baseline.shape)}")
    weight = values - (0.0 if baseline is None else baseline)
    return {name: _rows(weight, s) * s for name, s in scores.items()}


def optimal_baseline(f, dist: Distribution, n_samples: int) -> dict:
    """The variance-minimising constant baseline for each parameter coordinate, estimated from samples.

    Var[(f - c) s] = E[f^2 s^2] - 2c E[f s^2] + c^2 E[s^2] - (E[f s])^2 is smallest at
    c* = E[f s^2] / E[s^2] (not E[f]), with s = d/d theta_j log q(z).
    """
    values, scores = scores_and_values(f, dist, n_samples)
    return {name: (_rows(values, s) * s**2).mean(0) / (s**2).mean(0) for name, s in scores.items()}


def score_variance_quadratic(mu: float, k: float, dim: int = 1, baseline: float = 0.0) -> float:
    """Exact per-sample variance of the score-function estimate of d/d mu_1 E[f], f(z) = sum_d (z_d - k)^2.

    For z ~ N(mu, I_D) the estimate is (f(z) - c) eps_1 with eps_1 = z_1 - mu. Write a = mu - k and
    f = (eps_1 + a)^2 + G, where G = sum_{d > 1} (z_d - k)^2 is independent of eps_1 with
    E[G] = (D - 1)(1 + a^2) and Var[G] = (D - 1)(2 + 4a^2). With m = E[G] - c,

        Var = a^4 + 14 a^2 + 15 + 2 (3 + a^2) m + Var[G] + m^2

    (chapter 4; for D = 1 this is (a^4 + 18a^2 + 15) - 2c(3 + a^2) + c^2 - 4a^2).
    """
    a = finite_number(mu, "mu") - finite_number(k, "k")
    dim, baseline = positive_int(dim, "dim"), finite_number(baseline, "baseline")
    m = (dim - 1) * (1 + a**2) - baseline
    return a**4 + 14 * a**2 + 15 + 2 * (3 + a**2) * m + (dim - 1) * (2 + 4 * a**2) + m**2


def score_variance_linear(mu: float, dim: int = 1) -> float:
    """Exact per-sample variance of the score-function estimate of d/d mu_1 E[f], f(z) = sum_d z_d, z ~ N(mu, I_D).

    f eps_1 = (mu + eps_1) eps_1 + H eps_1 with H = sum_{d > 1} z_d, so
    Var = mu^2 + 2 + (D - 1)(1 + (D - 1) mu^2) + 2 (D - 1) mu^2 (chapter 4).
    """
    mu, dim = finite_number(mu, "mu"), positive_int(dim, "dim")
    return mu**2 + 2 + (dim - 1) * (1 + (dim - 1) * mu**2) + 2 * (dim - 1) * mu**2


def reparam_grad(f, dist: Distribution, n_samples: int) -> dict:
    """Per-sample pathwise estimates grad_theta f(z_s), z_s = dist.rsample() (reparameterised).

    Returns
    -------
    dict of name -> tensor of shape (n_samples, *parameter shape)
    """
    function(f, "f")
    expanded, parameters = _expanded(dist, n_samples)
    if not expanded.has_rsample:
        raise ValueError(f"dist is a {type(dist).__name__}, which has no reparameterised sampler (rsample): its "
                         f"samples are not a differentiable function of its parameters. Use score_function_grad, "
                         f"or a continuous relaxation such as RelaxedBernoulli")
    z = expanded.rsample()
    values = _f_values(f, z, n_samples)
    if not values.requires_grad:
        raise ValueError("f(z) does not depend differentiably on z; the pathwise estimator needs a differentiable f")
    return _gradients(values.sum(), parameters)


def iwae_bound(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """L_K = log (1/K) sum_k w_k along ``dim``, as logsumexp(log w) - log K (never exp of log w).

    With w_k = p(x, z_k) / q(z_k), z_k ~ q: E[L_1] is the ELBO, E[L_K] rises with K and tends to log p(x).
    """
    if not torch.is_tensor(log_w):
        log_w = torch.from_numpy(float_array(log_w, "log_w"))
    return log_mean_exp(log_w, dim=dim)   # checks log_w (floating, no NaN or +inf) and dim
