"""Richer posteriors: a VAE whose q(z | x) is a normalising flow on a diagonal Gaussian (chapter on tighter bounds).

    z^(0) ~ N(m(x), diag(s(x)^2)),   z^(l) = g_l(z^(l-1)) = z^(l-1) + u_l tanh(v_l . z^(l-1) + v0_l),   z = z^(F)

    log q(z | x) = log N(z^(0); m, diag(s^2)) - sum_l log |det dg_l / dz^(l-1)|
                 = log N(z^(0); m, diag(s^2)) - sum_l log (1 + tanh'(v_l . z^(l-1) + v0_l) v_l . u_l)

Planar flows (Rezende and Mohamed 2015; their w, b are v, v0 here: w and b name the importance weights and the
linear-Gaussian offset in this book) with every parameter (m, s, u_l, v_l, v0_l) an output of the encoder, so
that one q per data point is a point of a fixed family and chapter 6's gap decomposition applies unchanged. u_l is
replaced by u_l + (softplus(v_l . u_l) - 1 - v_l . u_l) v_l / |v_l|^2, which makes v_l . u_l > -1 and g_l invertible.
q is a ``torch.distributions.TransformedDistribution`` of :class:`PlanarTransform`\\ s: ``rsample`` then ``log_prob``
of the same sample uses the transforms' cache (a planar map has no closed-form inverse).
"""

import torch
from torch.distributions import Distribution, Independent, Normal, Transform, TransformedDistribution, constraints
from torch.nn import functional as F

from vitools.vae import MIN_STD, VAE
from vitools._validate import integer, positive_int


class PlanarTransform(Transform):
    """g(z) = z + u tanh(v . z + v0), batched over the leading dimensions of u (..., L), v (..., L), v0 (...).

    ``u`` is replaced on construction so that v . u > -1 and g is invertible (see the module docstring);
    ``log_abs_det_jacobian`` is log(1 + tanh'(v . z + v0) v . u), tanh' = 1 - tanh^2. The inverse has no closed form: only the cached inverse of the last output
    is available, which is what ``TransformedDistribution.log_prob`` of an ``rsample`` needs.
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, u: torch.Tensor, v: torch.Tensor, v0: torch.Tensor):
        super().__init__(cache_size=1)
        vu = (v * u).sum(-1, keepdim=True)
        self.u = u + (F.softplus(vu) - 1 - vu) * v / (v * v).sum(-1, keepdim=True).clamp_min(1e-12)
        self.v, self.v0 = v, v0

    def __eq__(self, other):
        return self is other

    def _call(self, z):
        return z + self.u * torch.tanh((z * self.v).sum(-1, keepdim=True) + self.v0.unsqueeze(-1))

    def _inverse(self, y):
        raise NotImplementedError("a planar flow has no closed-form inverse: evaluate log_prob on samples drawn "
                                  "from this q (rsample or sample), whose inverse the transform has cached")

    def log_abs_det_jacobian(self, z, y):
        slope = 1 - torch.tanh((z * self.v).sum(-1) + self.v0).square()
        return torch.log1p(slope * (self.v * self.u).sum(-1))


class FlowVAE(VAE):
    """The Bernoulli :class:`~vitools.vae.VAE` with q(z | x) a planar flow of ``n_flows`` layers on N(m, diag(s^2)).

    The encoder MLP outputs m, a raw scale (s = softplus(raw) + 1e-4) and, for each layer l, u_l, v_l (L each) and v0_l:
    2L + n_flows (2L + 1) numbers. ``n_flows = 0`` is the diagonal Gaussian VAE. The ELBO's KL has no closed
    form: ``elbo``, ``elbo_terms`` and the training loss estimate it by log q(z | x) - log p(z) at the samples.

    Parameters
    ----------
    x_dim, z_dim, hidden :
        As for :class:`~vitools.vae.VAE`.
    n_flows : int
        Number of planar layers F, >= 0.
    """

    def __init__(self, x_dim: int = 64, z_dim: int = 8, *, hidden=(256, 256), n_flows: int = 4):
        self.n_flows = integer(n_flows, "n_flows")
        super().__init__(x_dim, z_dim, hidden=hidden)
        last = self.encoder_net[-1]
        self.encoder_net[-1] = torch.nn.Linear(last.in_features, 2 * self.z_dim + self.n_flows * (2 * self.z_dim + 1))

    def encoder(self, x, *, y=None) -> Distribution:
        """q(z | x): the planar flow on N(m, diag(s^2)); a TransformedDistribution, batch shape (N,), event (L,)."""
        x = self._as_x(x)
        return self._posterior(self._local_parameters(x, self._as_y(y, x.shape[0])))

    def _local_parameters(self, x: torch.Tensor, y) -> list:
        """[m, log s, u, v, v0]: shapes (N, L), (N, L), (N, F, L), (N, F, L), (N, F)."""
        L, n_flows = self.z_dim, self.n_flows
        out = self.encoder_net(self._with_label(x, y))
        mean, raw_scale, flow = out[:, :L], out[:, L:2 * L], out[:, 2 * L:].reshape(out.shape[0], n_flows, 2 * L + 1)
        return [mean, (F.softplus(raw_scale) + MIN_STD).log(), flow[..., :L], flow[..., L:2 * L], flow[..., 2 * L]]

    def _posterior(self, params: list) -> Distribution:
        mean, log_std, u, v, v0 = params
        base = Independent(Normal(mean, log_std.exp(), validate_args=False), 1, validate_args=False)
        layers = [PlanarTransform(u[:, l], v[:, l], v0[:, l]) for l in range(self.n_flows)]
        return TransformedDistribution(base, layers, validate_args=False)

    def _encode(self, x: torch.Tensor, y):
        raise NotImplementedError("a FlowVAE's q is not a diagonal Gaussian; use encoder(x)")

    def _elbo_core(self, x: torch.Tensor, q: Distribution, n_samples: int, y) -> dict:
        """The ELBO's terms with the KL estimated at the samples: mean_s [log q(z_s) - log p(z_s)]."""
        z = q.rsample((n_samples,) if q.batch_shape else (n_samples, x.shape[0]))
        log_q, log_prior = q.log_prob(z), self.prior.log_prob(z)
        terms = {"expected_log_likelihood": self.decoder(z, y=y).log_prob(x).mean(0),
                 "kl_to_prior": (log_q - log_prior).mean(0), "expected_log_prior": log_prior.mean(0),
                 "entropy": -log_q.mean(0)}
        terms["elbo"] = terms["expected_log_likelihood"] - terms["kl_to_prior"]
        return terms

    def elbo_terms(self, x, q: Distribution, *, n_samples: int = 1, y=None) -> dict:
        """The ELBO's terms per data point, every expectation estimated with the same ``n_samples`` draws z_s ~ q:
        ``expected_log_likelihood``, ``kl_to_prior`` (log q - log p(z)), ``expected_log_prior``, ``entropy``
        (-log q), ``expected_log_joint`` and ``elbo``."""
        x = self._as_x(x)
        self._check_q(q, x.shape[0])
        terms = self._elbo_core(x, q, positive_int(n_samples, "n_samples"), self._as_y(y, x.shape[0]))
        terms["expected_log_joint"] = terms["expected_log_likelihood"] + terms["expected_log_prior"]
        return {name: value.expand(x.shape[0]) for name, value in terms.items()}

    def _encoder_elbo_terms(self, x: torch.Tensor, y) -> dict:
        return self._elbo_core(x, self._posterior(self._local_parameters(x, y)), 1, y)

    def _loss_gradients(self, x: torch.Tensor, y, beta: float, pixel_weight: float) -> torch.Tensor:
        return super(VAE, self)._loss_gradients(x, y, beta, pixel_weight)     # autograd: no hand-written route

    def _elbo_at_noise(self, x: torch.Tensor, q: Distribution, eps: torch.Tensor, y) -> torch.Tensor:
        """log p(x, z) - log q(z) at z = flow(m + s * eps), for noise ``eps`` of shape (S, N, L): shape (S, N)."""
        base = q.base_dist.base_dist
        z = base.loc + base.scale * eps
        log_q = q.base_dist.log_prob(z)
        for layer in q.transforms:
            z_next = layer(z)
            log_q = log_q - layer.log_abs_det_jacobian(z, z_next)
            z = z_next
        return self.log_joint(x, z, y=y) - log_q
