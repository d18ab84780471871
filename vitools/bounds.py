"""Lower bounds on log p(x) for any latent variable model: the ELBO and the importance-weighted bound L_K.

    ELBO(q) = E_q[log p(x, z) - log q(z)] = log p(x) - KL(q || p(z | x))
            = E_q[log p(x | z)] - KL(q || p(z))
    L_K(q)  = E[log (1/K) sum_k w_k],   w_k = p(x, z_k) / q(z_k),   z_k ~ q,   L_1 = ELBO <= L_K <= log p(x)

One sample of log (1/K) sum_k w_k is the importance-sampling estimate of log p(x) of chapter 1 (with
q = p(z), the naive Monte Carlo estimate); chapter 4 names it L_K, and chapter 6 scores the VAE with it.

The model interface, shared by every model in the book (``LinearGaussianLVM``, the mixtures, the VAEs):
``model.prior``, a ``torch.distributions`` object p(z), and ``model.log_joint(x, z)``, log p(x, z) with
any leading sample dimensions of ``z`` broadcast; :func:`elbo_closed_form_kl` also uses
``model.decoder(z)``, the distribution p(x | z). A conditional model takes its labels as ``y=``.
Samples are drawn with ``rsample`` where q has it, so every estimate is differentiable with respect to
q's parameters (the reparameterisation trick of chapter 4); evaluate under ``torch.no_grad()`` when no
gradient is wanted.
"""

import math

import torch
from torch.distributions import Distribution, kl_divergence

from vitools._validate import axis_index, float_tensor, positive_int

_ROWS_PER_PASS = 2**16   # iwae_bound: samples x data points evaluated in one call of log_joint, by default


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log((1/K) sum_k exp(log_w_k)) along ``dim``, computed stably as logsumexp - log K.

    ``log_w`` must be a floating-point tensor with K >= 1 entries along ``dim``, free of NaN and +inf
    (-inf, an impossible sample, is allowed). Applied to log-weights it gives one sample of L_K.
    """
    if not torch.is_tensor(log_w) or not torch.is_floating_point(log_w):
        raise TypeError(f"log_w must be a floating-point torch.Tensor, got "
                        f"{log_w.dtype if torch.is_tensor(log_w) else type(log_w).__name__}")
    if log_w.dim() == 0:
        raise ValueError("log_w must have at least one dimension, holding the K samples along dim")
    dim = axis_index(dim, "dim", log_w.dim())
    if log_w.shape[dim] < 1:
        raise ValueError("log_w must be a floating-point tensor with at least one sample along dim")
    if torch.isnan(log_w).any() or torch.isposinf(log_w).any():
        raise ValueError("log_w contains NaN or +inf; log-weights must be finite (or -inf for impossible samples)")
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def _check_model(model):
    if not hasattr(model, "prior") or not callable(getattr(model, "log_joint", None)):
        raise TypeError("model must have a `prior` distribution and a `log_joint(x, z)` method "
                        "(for example vitools.lvm.LinearGaussianLVM)")


def _as_x(model, x) -> torch.Tensor:
    """``x`` as an (N, D) tensor on the dtype and device of the model's log-densities."""
    _check_model(model)
    x = float_tensor(x, "x", ndim=2)
    prior = model.prior
    try:
        reference = prior.mean                      # a float tensor on the model's device; draws nothing
    except NotImplementedError:                     # a prior without a closed-form mean: one draw tells
        reference = prior.log_prob(prior.sample())
    return x.to(dtype=reference.dtype, device=reference.device)


def _check_q(model, x, q, name: str = "q"):
    if not isinstance(q, Distribution):
        raise TypeError(f"{name} must be a torch.distributions.Distribution over z, got {type(q).__name__}")
    if q.event_shape != model.prior.event_shape:
        raise ValueError(f"{name} has event shape {tuple(q.event_shape)}, but the model's latent z "
                         f"has event shape {tuple(model.prior.event_shape)}")
    if q.batch_shape not in (torch.Size(), torch.Size([x.shape[0]])):
        raise ValueError(f"{name} must have batch shape () or ({x.shape[0]},), one q per row of x; "
                         f"got {tuple(q.batch_shape)}")


def _draw(q: Distribution, n_samples: int, n_rows: int) -> torch.Tensor:
    """n_samples draws per row of x, shape (S, N, *event): reparameterised where q allows it."""
    shape = (n_samples,) if q.batch_shape else (n_samples, n_rows)
    return q.rsample(shape) if q.has_rsample else q.sample(shape)


def _log_joint(model, x, z, y):
    return model.log_joint(x, z) if y is None else model.log_joint(x, z, y=y)


def _log_weights(model, x, q, n_samples, y):
    """log p(x, z_k) - log q(z_k) for n_samples draws z_k ~ q per row of ``x`` (checked already), shape (K, N)."""
    z = _draw(q, n_samples, x.shape[0])
    return _log_joint(model, x, z, y) - q.log_prob(z)


def log_importance_weights(model, x, q: Distribution, *, n_samples: int, y=None) -> torch.Tensor:
    """Draw z_k ~ q, k = 1..K, and return the log-weights log w_k = log p(x, z_k) - log q(z_k).

    Parameters
    ----------
    model : latent variable model
        See the module docstring.
    x : tensor, shape (N, D)
    q : torch.distributions.Distribution
        The proposal over z: event shape that of ``model.prior``, batch shape () or (N,).
    n_samples : int
        K >= 1.
    y : LongTensor, shape (N,), optional
        Labels, for a conditional model only.

    Returns
    -------
    tensor, shape (K, N)
        E_q[w_k] = p(x), so ``exp`` of these averages to an unbiased estimate of p(x).
    """
    x = _as_x(model, x)
    _check_q(model, x, q)
    return _log_weights(model, x, q, positive_int(n_samples, "n_samples"), y)


def iwae_bound(model, x, q: Distribution, *, n_samples: int, y=None, chunk: int | None = None) -> torch.Tensor:
    """One sample of L_K = log (1/K) sum_k p(x, z_k) / q(z_k), z_k ~ q, per row of ``x``.

    The importance-sampling estimate of log p(x): unbiased for p(x) inside the log, biased low for
    log p(x) (Jensen), by less as K grows. K = 1 is a one-sample ELBO estimate; q = ``model.prior`` is
    the naive Monte Carlo estimate. The K samples are drawn ``chunk`` at a time and combined by a
    running logsumexp, so K = 5000 fits in modest memory (under ``torch.no_grad()``: with gradients on,
    every chunk's graph is kept); ``chunk`` changes memory and speed, not the
    estimate's distribution (default: about 65,536 samples x rows per pass); under a fixed seed it does change
    which random numbers each sample gets, so a seeded result depends on it.

    Parameters
    ----------
    model, x, q, y :
        As in :func:`log_importance_weights`.
    n_samples : int
        K >= 1.
    chunk : int, optional
        Samples drawn per pass, >= 1.

    Returns
    -------
    tensor, shape (N,)
        In nats.
    """
    x = _as_x(model, x)
    _check_q(model, x, q)
    n_samples = positive_int(n_samples, "n_samples")
    chunk = max(1, _ROWS_PER_PASS // x.shape[0]) if chunk is None else positive_int(chunk, "chunk")
    sizes = [chunk] * (n_samples // chunk) + ([n_samples % chunk] if n_samples % chunk else [])
    partial = [torch.logsumexp(_log_weights(model, x, q, size, y), dim=0) for size in sizes]
    return torch.logsumexp(torch.stack(partial), dim=0) - math.log(n_samples)


def elbo_monte_carlo(model, x, q: Distribution, *, n_samples: int = 1, y=None) -> torch.Tensor:
    """(1/S) sum_s [log p(x, z_s) - log q(z_s)], z_s ~ q: the fully sampled ELBO estimate, shape (N,).

    ``q`` has batch shape () (one q shared by every row) or (N,); ``y``: labels, for a conditional model only.
    """
    x = _as_x(model, x)
    _check_q(model, x, q)
    if not q.has_rsample:
        raise TypeError("q must have rsample (e.g. Normal, MultivariateNormal) so that the estimate is "
                        "differentiable in q's parameters")
    return _log_weights(model, x, q, positive_int(n_samples, "n_samples"), y).mean(0)


def elbo_closed_form_kl(model, x, q: Distribution, *, n_samples: int = 1, y=None) -> torch.Tensor:
    """(1/S) sum_s log p(x | z_s) - KL(q || p(z)), z_s ~ q: only the likelihood term sampled, shape (N,).

    Needs ``torch.distributions.kl_divergence(q, model.prior)`` to have a closed form (e.g. both
    ``Independent(Normal)``). ``q`` and ``y`` as in :func:`elbo_monte_carlo`.
    """
    x = _as_x(model, x)
    _check_q(model, x, q)
    if not callable(getattr(model, "decoder", None)):
        raise TypeError("model must have a `decoder(z)` method returning p(x | z); use elbo_monte_carlo otherwise")
    if not q.has_rsample:
        raise TypeError("q must have rsample (e.g. Normal, MultivariateNormal) so that the estimate is "
                        "differentiable in q's parameters")
    kl = kl_to_prior(q, model.prior)
    z = _draw(q, positive_int(n_samples, "n_samples"), x.shape[0])
    decoder = model.decoder(z) if y is None else model.decoder(z, y=y)
    return decoder.log_prob(x).mean(0) - kl


def kl_to_prior(q: Distribution, prior: Distribution) -> torch.Tensor:
    """KL(q || p(z)) in closed form, from ``torch.distributions.kl_divergence``; a clear TypeError if torch has none."""
    try:
        return kl_divergence(q, prior)
    except NotImplementedError as error:
        raise TypeError(f"q is a {type(q).__name__} and the prior a {type(prior).__name__}: torch has no "
                        f"closed-form KL between them; use elbo_monte_carlo, or a q of the prior's type") from error
