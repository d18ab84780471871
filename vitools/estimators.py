"""Monte Carlo gradient estimators for grad_phi E_{q_phi(z)}[f(z)], of the ELBO and of the importance-weighted bound.

- Score function (log-derivative, REINFORCE):
      grad E_q[f] = E_q[(f(z) - a) grad log q(z)]      for any constant baseline a,
  because E_q[grad log q] = 0. Needs only samples and log q; works for discrete z.
- Reparameterisation (pathwise): if z = g_phi(xi) with noise xi ~ r(xi) free of phi,
      grad E_q[f] = E_xi[grad f(g_phi(xi))]   (xi = eps, standard normal, for a Gaussian q).
  Needs ``rsample`` and a differentiable f.

Both functions return **per-sample** estimates, one row per sample, so a caller can take their
mean (the estimate) and their variance. Gradients are with respect to the distribution's own
parameter tensors that require grad and that the computation uses (``loc`` and ``scale`` of a
Normal, ``probs`` of a Bernoulli or RelaxedBernoulli built from probs), found after
``dist.expand``: each expanded parameter has one row per sample, and the gradient with respect
to that row is that sample's term.

For the ELBO of a latent variable model, ``elbo_gradients`` gives three per-sample estimators of
grad_phi ELBO(q_phi), q_phi = N(m, diag(s^2)), phi = (m, log s) (fully sampled, closed-form KL,
path derivative), and ``iwae_gradients`` the reparameterised gradients of the importance-weighted
bound L_K with respect to q's mean and the model's offset b. Both take q, like every function of the
book, as a distribution: ``Independent(Normal(m, s), 1)``, batch shape (), event shape (L,). The exact variances that chapter 4 compares
these with (its test functions, baselines, and the three ELBO estimators for a scalar latent) are in
:mod:`vitools.examples`.
"""

import math

import torch
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vitools._validate import float_tensor, function, positive_int
from vitools.bounds import _check_model, log_mean_exp


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


def values_and_scores(f, dist: Distribution, *, n_samples: int):
    """Draw z_j ~ q and return (f(z_j), {name: grad log q(z_j)}), one row per sample."""
    function(f, "f")
    expanded, parameters = _expanded(dist, n_samples)
    z = expanded.sample()
    log_q = _per_sample(expanded.log_prob(z), n_samples)
    return _f_values(f, z, n_samples).detach(), _gradients(log_q.sum(), parameters)


def score_function_grad(f, dist: Distribution, *, n_samples: int, baseline=None) -> dict:
    """Per-sample score-function estimates (f(z_j) - a_j) grad log q(z_j), z_j ~ q.

    Parameters
    ----------
    f : callable
        Maps samples (leading dimension n_samples) to one value per sample; need not be differentiable.
    dist : torch.distributions.Distribution
        q_phi, with parameters that require grad.
    n_samples : int
        S, the number of samples.
    baseline : None, float, tensor, or "leave-one-out"
        A constant a (None means 0), or, with "leave-one-out", a_j = the mean of f over the other
        samples, which keeps the estimate unbiased because a_j does not depend on z_j.

    Returns
    -------
    dict of name -> tensor of shape (n_samples, *parameter shape)
    """
    values, scores = values_and_scores(f, dist, n_samples=n_samples)
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


def optimal_baseline(f, dist: Distribution, *, n_samples: int) -> dict:
    """The variance-minimising constant baseline for each parameter coordinate, estimated from samples.

    Var[(f - a) h] = E[f^2 h^2] - 2a E[f h^2] + a^2 E[h^2] - (E[f h])^2 is smallest at
    a* = E[f h^2] / E[h^2] (not E[f]), with h = d/d phi log q_phi(z) the score of one coordinate phi of the parameters.
    """
    values, scores = values_and_scores(f, dist, n_samples=n_samples)
    return {name: (_rows(values, s) * s**2).mean(0) / (s**2).mean(0) for name, s in scores.items()}


def reparam_grad(f, dist: Distribution, *, n_samples: int) -> dict:
    """Per-sample pathwise estimates grad_phi f(z_j), z_j = dist.rsample() (reparameterised).

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


ELBO_GRADIENT_ESTIMATORS = ("full", "closed_form_kl", "path_derivative")


def _one_observation(x, model) -> torch.Tensor:
    """``x`` as a (1, D) tensor on the model's dtype and device: one observation, shape (D,) or (1, D)."""
    x = float_tensor(x, "x")
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2 or x.shape[0] != 1:
        raise ValueError(f"x must be one observation, a tensor of shape (D,) or (1, D); got shape {tuple(x.shape)}")
    return x.to(dtype=model.prior.mean.dtype, device=model.prior.mean.device)


def _diagonal_gaussian_q(q, model, name: str = "q"):
    """m and s of ``q`` = Independent(Normal(m, s), 1) over z, as (L,) tensors on the model's dtype and device (detached)."""
    shape = tuple(model.prior.event_shape)
    build = f"build it as Independent(Normal(m, s), 1) with m and s tensors of shape {shape}"
    if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal) and q.reinterpreted_batch_ndims == 1):
        if isinstance(q, Normal):
            got = f"a Normal with batch shape {tuple(q.batch_shape)}" + (" (wrap it: Independent(q, 1))" if
                                                                       len(q.batch_shape) == 1 else "")
        elif isinstance(q, Distribution):
            got = f"a {type(q).__name__}"
        else:
            got = f"{type(q).__name__}"
        raise TypeError(f"{name} must be a diagonal Gaussian over z, a torch.distributions.Independent(Normal(m, s), 1); "
                        f"{build}. Got {got}")
    if q.batch_shape != torch.Size() or tuple(q.event_shape) != shape:
        raise ValueError(f"{name} must be a diagonal Gaussian over z for one observation: batch shape () and event "
                         f"shape {shape}, one entry per latent coordinate; got batch shape {tuple(q.batch_shape)} and "
                         f"event shape {tuple(q.event_shape)}: {build}")
    like = model.prior.mean
    loc = q.base_dist.loc.detach().to(dtype=like.dtype, device=like.device)
    scale = q.base_dist.scale.detach().to(dtype=like.dtype, device=like.device)
    if not (torch.all(torch.isfinite(loc)) and torch.all(torch.isfinite(scale))):
        raise ValueError(f"{name}'s mean and standard deviation must be finite; got m = {loc.tolist()}, s = {scale.tolist()}")
    if not torch.all(scale > 0):
        raise ValueError(f"{name}'s standard deviation s must be positive; got s = {scale.tolist()}")
    return loc, scale


def _log_normal(z, m, log_s):
    """log N(z; m, diag(exp(log_s)^2)), summed over the last dimension (written out: no argument checks)."""
    return (-0.5 * ((z - m) / log_s.exp()) ** 2 - log_s - 0.5 * math.log(2 * math.pi)).sum(-1)


def elbo_gradients(model, x, q, *, n_samples: int) -> dict:
    """Per-sample estimates of grad_phi ELBO(q_phi), three ways on the same noise.

    q_phi = N(m, diag(s^2)) with phi = (m, log s), reparameterised as z_j = m + s * eps_j,
    eps_j ~ N(0, I), j = 1..S. Per sample, with every derivative a total derivative with respect to phi:

    - ``"full"``: grad_phi [log p(x, z_j) - log q_phi(z_j)], the fully sampled integrand;
    - ``"closed_form_kl"``: grad_phi [log p(x | z_j) - KL(q_phi || p(z))], the KL divergence of q from
      the prior computed exactly (``torch.distributions.kl_divergence``);
    - ``"path_derivative"``: grad_phi [log p(x, z_j) - log q_{phi'}(z_j)] at phi' = phi held fixed
      (detached), which drops the score term -grad_phi log q_phi(z) |_{z = z_j}, whose expectation is
      zero: the "sticking the landing" estimator (Roeder et al. 2017).

    All three are unbiased for grad_phi ELBO(q_phi).

    Parameters
    ----------
    model : latent variable model
        With ``prior`` (``Independent(Normal)``), ``decoder(z)`` and ``log_joint(x, z)``, e.g.
        :class:`vitools.lvm.LinearGaussianLVM`.
    x : tensor, shape (D,) or (1, D)
        One observation.
    q : torch.distributions.Independent(Normal(m, s), 1)
        q_phi = N(m, diag(s^2)) over z for this one observation: batch shape (), event shape (L,). Its
        parameters need not require grad: the gradients are taken at its m and s, with respect to
        phi = (m, log s).
    n_samples : int
        S.

    Returns
    -------
    dict estimator name -> {"loc": tensor (S, L), "log_scale": tensor (S, L)}
        The gradients with respect to m (``"loc"``) and log s (``"log_scale"``). Row j is the estimate from
        sample j; the mean over rows is the S-sample estimate.
    """
    _check_model(model)
    if not callable(getattr(model, "decoder", None)):
        raise TypeError("model must have a `decoder(z)` method returning p(x | z), for the closed-form-KL estimator")
    x = _one_observation(x, model)
    loc, scale = _diagonal_gaussian_q(q, model)
    log_scale = scale.log()
    n = positive_int(n_samples, "n_samples")
    eps = torch.randn((n,) + tuple(loc.shape), dtype=loc.dtype, device=loc.device)
    out = {}
    for name in ELBO_GRADIENT_ESTIMATORS:
        m = loc.expand(n, -1).clone().requires_grad_()          # one row per sample: per-sample gradients
        log_s = log_scale.expand(n, -1).clone().requires_grad_()
        s = log_s.exp()
        z = m + s * eps
        if name == "full":
            value = model.log_joint(x, z) - _log_normal(z, m, log_s)
        elif name == "path_derivative":
            value = model.log_joint(x, z) - _log_normal(z, m.detach(), log_s.detach())
        else:
            try:
                kl = kl_divergence(Independent(Normal(m, s), 1), model.prior)
            except NotImplementedError as error:
                raise TypeError(f"model.prior is a {type(model.prior).__name__}: torch has no closed-form KL "
                                f"divergence of a diagonal Gaussian q from it; use a prior such as "
                                f"Independent(Normal)") from error
            value = model.decoder(z).log_prob(x) - kl
        g_m, g_log_s = torch.autograd.grad(value.sum(), [m, log_s])
        out[name] = {"loc": g_m, "log_scale": g_log_s}
    return out


def iwae_gradients(model, x, q, *, n_samples: int, n_repeats: int) -> dict:
    """Reparameterised gradients of one K-sample estimate of L_K, with respect to q's mean m and the offset b.

    For the linear-Gaussian model p(z) = N(0, I), p_theta(x | z) = N(W z + b, sigma^2 I) and
    q = N(m, diag(s^2)): draw z_k = m + s * eps_k, k = 1..K, and form
    log (1/K) sum_k w_k with log w_k = log p_theta(x, z_k) - log q(z_k). Its gradients are

        d/db = sum_k w~_k (x - W z_k - b) / sigma^2,    d/dm = sum_k w~_k d/dm log w_k(m + s eps_k),

    with normalised weights w~_k = w_k / sum_k' w_k' (the m-gradient is the total derivative: path
    and score term). Repeated ``n_repeats`` (R) times with fresh noise, so the caller can compare
    the mean of the gradient with its standard deviation.

    Parameters
    ----------
    model : vitools.lvm.LinearGaussianLVM
    x : tensor, shape (D,) or (1, D)
    q : torch.distributions.Independent(Normal(m, s), 1)
        q = N(m, diag(s^2)) over z for this one observation: batch shape (), event shape (L,). Its
        parameters need not require grad: the gradient is taken at its m, with s held fixed.
    n_samples : int
        K.
    n_repeats : int
        R.

    Returns
    -------
    dict: {"loc": tensor (R, L), "b": tensor (R, D)}, the gradients with respect to q's mean m and the
    model's offset b, one row per repeat.
    """
    from vitools.lvm import LinearGaussianLVM
    if not isinstance(model, LinearGaussianLVM):
        raise TypeError(f"model must be a vitools.lvm.LinearGaussianLVM (the gradient is taken with respect to its "
                        f"offset b), got {type(model).__name__}")
    x = _one_observation(x, model)
    if x.shape[1] != model.x_dim:
        raise ValueError(f"x must have last dimension D = {model.x_dim}, got shape {tuple(x.shape)}")
    loc, scale = _diagonal_gaussian_q(q, model)
    k, r = positive_int(n_samples, "n_samples"), positive_int(n_repeats, "n_repeats")
    m = loc.expand(r, -1).clone().requires_grad_()
    b = model.b.detach().expand(r, -1).clone().requires_grad_()
    z = m + scale * torch.randn((k, r) + tuple(loc.shape), dtype=loc.dtype, device=loc.device)   # (K, R, L)
    # log w = log p(z) + log p(x | z) - log q(z), Gaussian log densities written out (the 2 pi terms cancel up to
    # -D/2 log(2 pi sigma^2) + sum log s): |x - W z - b|^2 = |x - b|^2 - 2 z . W^T (x - b) + z^T W^T W z
    resid = x - b                                                                        # (R, D)
    sq = (resid**2).sum(-1) - 2 * (z * (resid @ model.W)).sum(-1) + ((z @ (model.W.T @ model.W)) * z).sum(-1)
    log_w = (-0.5 * (z**2).sum(-1) - sq / (2 * model.sigma**2) + 0.5 * (((z - m) / scale) ** 2).sum(-1)
             + torch.log(scale).sum() - 0.5 * model.x_dim * math.log(2 * math.pi * model.sigma**2))  # (K, R)
    g_m, g_b = torch.autograd.grad(log_mean_exp(log_w, dim=0).sum(), [m, b])
    return {"loc": g_m, "b": g_b}
