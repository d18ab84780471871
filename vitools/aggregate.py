"""The aggregate posterior of a VAE and what the KL term pays for (chapter on tighter bounds and richer posteriors).

For data x_1..x_N and an encoder q(z | x), the aggregate posterior is the mixture q̄(z) = (1/N) sum_n q(z | x_n). With
x uniform on the data set, q(x, z) = q(z | x) / N, and

    (1/N) sum_n KL(q(z | x_n) || p(z)) = I_q(x; z) + KL(q̄(z) || p(z)),
    I_q(x; z) = (1/N) sum_n E_{q(z | x_n)}[log q(z | x_n) - log q̄(z)] <= log N.

- :func:`kl_per_dimension`: KL(q(z_i | x) || N(0, 1)) per image and latent dimension (diagonal Gaussian encoders);
  :func:`active_units`: the dimensions whose average KL exceeds a threshold (chapter 6's 0.05 nats).
- :func:`log_aggregate_density`: log q̄(z) at any z, the log-mean-exp over the N mixture components.
- :func:`decomposition`: the three terms, each estimated by its own route (the average KL in closed form where q is
  Gaussian, I_q and KL(q̄(z) || p(z)) by Monte Carlo over z ~ q(z | x_n) with the exact mixture density), with
  standard errors.
"""

import math

import torch
from torch.distributions import Independent, Normal, kl_divergence

from vitools import bounds
from vitools.vae import _check_model
from vitools._validate import finite_number, integer, positive_int


def kl_per_dimension(model, x, *, y=None) -> torch.Tensor:
    """KL(q(z_i | x_n) || N(0, 1)) = 1/2 (m_i^2 + s_i^2 - 1 - log s_i^2): shape (N, L), for a diagonal Gaussian encoder."""
    _check_model(model)
    with torch.no_grad():
        return kl_divergence(_diagonal_encoder(model, x, y, "kl_per_dimension").base_dist, model.prior.base_dist)


def active_units(model, x, *, threshold: float = 0.05, y=None) -> int:
    """The number of latent dimensions whose KL(q(z_i | x) || N(0, 1)), averaged over the rows of x, exceeds ``threshold``."""
    threshold = finite_number(threshold, "threshold", 0, role="is the average KL (nats) above which a dimension is active")
    return int((kl_per_dimension(model, x, y=y).mean(0) > threshold).sum())


def _component_log_density(q, z: torch.Tensor) -> torch.Tensor:
    """log q(z_j | x_n) for every draw z_j (shape (M, L)) and component n of a diagonal Gaussian q (batch (N,)): (M, N).

    -1/2 sum_i (z_ji - m_ni)^2 / s_ni^2 - sum_i log s_ni - L/2 log(2 pi), the square expanded into three matrix
    products, in float64: the expansion cancels terms of size z^2 / s^2 (up to 1e9 for |z|, |m| of a few units and
    s >= 1e-4, leaving errors near 1e-7 nats; they grow with z^2, so means of order 100 would cost 1e-4).
    """
    m, s = q.base_dist.loc.double(), q.base_dist.scale.double()
    z, precision = z.double(), s.pow(-2)
    square = z.square() @ precision.T - 2 * z @ (m * precision).T + (m.square() * precision).sum(-1)
    return -0.5 * square - s.log().sum(-1) - 0.5 * m.shape[-1] * math.log(2 * math.pi)


def log_aggregate_density(model, x_data, z, *, y=None) -> torch.Tensor:
    """log q̄(z) = log (1/N) sum_n q(z | x_n) for z of shape (M, L): shape (M,), float64. Diagonal Gaussian encoders."""
    _check_model(model)
    x_data = model._as_x(x_data, "x_data")
    z = model._as_z(z)
    if z.dim() != 2:
        raise ValueError(f"z must have shape (M, {model.z_dim}), one point per row, got {tuple(z.shape)}")
    with torch.no_grad():
        q = _diagonal_encoder(model, x_data, y, "log_aggregate_density")
        return bounds.log_mean_exp(_component_log_density(q, z), dim=1)


def _diagonal_encoder(model, x, y, caller: str):
    q = model.encoder(x, y=y)
    if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
        raise TypeError(f"{caller} needs a diagonal Gaussian encoder (Independent(Normal)); {type(model).__name__}'s "
                        f"q is a {type(q).__name__}")
    return q


def decomposition(model, x_data, *, n_samples: int = 4, seed: int = 0, y=None) -> dict:
    """The three terms of (1/N) sum_n KL(q(z | x_n) || p(z)) = I_q(x; z) + KL(q̄(z) || p(z)), each estimated.

    ``average_kl`` is the closed form, (1/N) sum_n KL(q(z | x_n) || p(z)); ``mutual_information`` and
    ``marginal_kl`` average log q(z | x_n) - log q̄(z) and log q̄(z) - log p(z) over ``n_samples`` draws
    z ~ q(z | x_n) per data point, with log q̄(z) the exact log-density of the N-component mixture. Their sum is a
    Monte Carlo estimate of the average KL; ``*_se`` are their Monte Carlo standard errors (NaN when n_samples = 1).
    Also ``log_n`` = log N, the largest I_q can be.

    Returns
    -------
    dict of float
    """
    _check_model(model)
    x_data = model._as_x(x_data, "x_data")
    n_samples, seed = positive_int(n_samples, "n_samples"), integer(seed, "seed")
    device = model._reference.device
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]), torch.no_grad():
        torch.manual_seed(seed)                          # the caller's random state is restored on leaving
        q = _diagonal_encoder(model, x_data, y, "decomposition")
        n = x_data.shape[0]
        z = q.sample((n_samples,))                                              # (S, N, L)
        own = Independent(Normal(q.base_dist.loc.double(), q.base_dist.scale.double()), 1)
        log_q_own = own.log_prob(z.double())    # log q(z | x_n) at its own draws, in float64 like log q̄(z)
        log_mix = bounds.log_mean_exp(_component_log_density(q, z.reshape(-1, model.z_dim)), dim=1)
        log_mix = log_mix.reshape(n_samples, n)                                 # log q̄(z)
        information = log_q_own - log_mix                                       # (S, N), one term per draw
        marginal = log_mix - model.prior.log_prob(z).double()
        average_kl = kl_divergence(q, model.prior).double().mean()

    def se(values):   # Monte Carlo only (the data set is fixed): sqrt(sum_n var_s / S) / N; needs S >= 2
        return (values.var(0).sum() / n_samples).sqrt().item() / n if n_samples > 1 else float("nan")

    return {"average_kl": average_kl.item(), "mutual_information": information.mean().item(),
            "mutual_information_se": se(information), "marginal_kl": marginal.mean().item(),
            "marginal_kl_se": se(marginal), "sum_se": se(information + marginal), "log_n": math.log(n)}
