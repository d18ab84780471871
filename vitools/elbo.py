"""Monte Carlo estimators of the evidence lower bound, for any model with a prior and log_joint.

    ELBO(q) = E_q[log p(x, z) - log q(z)] = log p(x) - KL(q || p(z | x))
            = E_q[log p(x | z)] - KL(q || p(z))          (when KL to the prior has a closed form)

The model interface is the one of :mod:`vitools.marginal`: ``model.prior`` and
``model.log_joint(x, z)``; for :func:`elbo_closed_form_kl` also ``model.decoder(z)``, the
distribution p(x | z). Samples are drawn with ``rsample``, so the estimates are differentiable
with respect to q's parameters (the reparameterisation trick of chapter 4).
"""

import torch
from torch.distributions import Distribution, kl_divergence

from vitools._validate import positive_int
from vitools.marginal import _check_model_and_x


def _check_q(model, q, x):
    if not isinstance(q, Distribution) or not q.has_rsample:
        raise TypeError("q must be a torch.distributions.Distribution with rsample (e.g. Normal, MultivariateNormal)")
    if q.event_shape != model.prior.event_shape:
        raise ValueError(f"q has event shape {tuple(q.event_shape)} but z has {tuple(model.prior.event_shape)}")
    if q.batch_shape not in (torch.Size(), torch.Size([x.shape[0]])):
        raise ValueError(f"q must have batch shape () or ({x.shape[0]},), one q per row of x; got {tuple(q.batch_shape)}")


def elbo_monte_carlo(model, x, q: Distribution, n_samples: int) -> torch.Tensor:
    """(1/S) sum_s [log p(x, z_s) - log q(z_s)], z_s ~ q: the fully sampled ELBO estimate, shape (N,)."""
    x = _check_model_and_x(model, x)
    _check_q(model, q, x)
    z = q.rsample((positive_int(n_samples, "n_samples"),))
    return (model.log_joint(x, z) - q.log_prob(z)).mean(0)


def elbo_closed_form_kl(model, x, q: Distribution, n_samples: int) -> torch.Tensor:
    """(1/S) sum_s log p(x | z_s) - KL(q || p(z)), z_s ~ q: only the likelihood term sampled, shape (N,).

    Needs ``torch.distributions.kl_divergence(q, model.prior)`` to have a closed form (e.g. both
    ``Independent(Normal)``).
    """
    x = _check_model_and_x(model, x)
    _check_q(model, q, x)
    if not callable(getattr(model, "decoder", None)):
        raise TypeError("model must have a `decoder(z)` method returning p(x | z); use elbo_monte_carlo otherwise")
    try:
        kl = kl_divergence(q, model.prior)
    except NotImplementedError as error:
        raise TypeError(f"q is a {type(q).__name__} and model.prior a {type(model.prior).__name__}: torch has no "
                        f"closed-form KL between them; use elbo_monte_carlo, or a q of the prior's type") from error
    z = q.rsample((positive_int(n_samples, "n_samples"),))
    return model.decoder(z).log_prob(x).mean(0) - kl
