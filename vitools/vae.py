"""Variational autoencoders: amortised inference with an encoder network (chapter on VAEs).

    p(z) = N(0, I_L),    p_theta(x | z),    q_phi(z | x) = N(m_phi(x), diag(s_phi(x)^2))

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))
            = E_q[log p(x | z)] + E_q[log p(z)] + H(q)

Models (all with the book's model interface: ``prior``, ``encoder``, ``decoder``, ``log_joint``,
``elbo_terms``, ``elbo``, ``sample``, plus ``loss`` and ``sample_means``, so the estimators of
:mod:`vitools.bounds` apply to them):

- :class:`VAE`: MLP encoder and decoder with Bernoulli pixels; with ``n_classes`` it is a
  conditional VAE (:func:`CVAE`) that takes the label y in both networks.
- :class:`LinearVAE`: linear encoder and linear-Gaussian decoder, for comparing with the exact
  :class:`vitools.lvm.LinearGaussianLVM`.

The ELBO of any q is ``model.elbo(x, q)`` (the encoder's: ``model.elbo(x, model.encoder(x))``); log p(x)
is estimated by :func:`vitools.bounds.iwae_bound` with the encoder as proposal. Functions: :func:`train`
(Adam on mini-batches), :func:`refine_posterior` (the amortisation gap) and :func:`gap_estimates` (both gap
estimates and how they move with the refinement steps and K). Everything runs on the device of the
model's parameters.
"""

import math
import time

import numpy as np
import torch
from torch.distributions import Bernoulli, Distribution, Independent, Normal
from torch.nn import functional as F

from vitools import bounds, objectives
from vitools._validate import distribution_checks_off, finite_number, float_tensor, integer, positive_int
from vitools.lvm import LinearGaussianLVM
from vitools.results import Fit

MIN_STD = 1e-4   # floor on every encoder scale, s = softplus(u) + MIN_STD: log s >= -9.2, KL <= 8.7 per dimension


class _GaussianLatentModel(torch.nn.Module):
    """Shared parts of the models with prior p(z) = N(0, I_L) and a diagonal Gaussian encoder.

    Subclasses set ``x_dim``, ``z_dim``, ``n_classes`` and define ``encoder(x, *, y)`` and ``decoder(z, *, y)``
    (distributions), and the same two in plain tensor maths for the training loop: ``_encode(x, y)`` (the
    encoder's mean and scale) and ``_log_likelihood(x, z, y)`` (log p(x | z)).
    """

    @property
    def _reference(self) -> torch.Tensor:
        return next(self.parameters())

    @property
    def conditional(self) -> bool:
        """True when the model takes a class label y (``n_classes >= 2``)."""
        return self.n_classes > 0

    @property
    def prior(self) -> Independent:
        """p(z) = N(0, I_L), event shape (L,), on the parameters' device and dtype."""
        ref = self._reference
        zeros = torch.zeros(self.z_dim, dtype=ref.dtype, device=ref.device)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1, validate_args=False)

    def log_joint(self, x, z, *, y=None) -> torch.Tensor:
        """log p(x, z) = log p(z) + log p(x | z); ``z`` of shape (..., N, L) gives shape (..., N)."""
        x = self._as_x(x)
        z = self._as_z(z)
        return self.prior.log_prob(z) + self.decoder(z, y=y).log_prob(x)

    def elbo_terms(self, x, q: Distribution, *, n_samples: int = 1, y=None) -> dict:
        """Every term of ELBO(q) per data point, for a q(z) with a closed-form KL from the prior (a diagonal Gaussian).

        - ``expected_log_likelihood``: (1/S) sum_j log p(x | z_j), z_j ~ q reparameterised (z_j = m + s * eps_j
          for a diagonal Gaussian), differentiable in q's parameters
        - ``kl_to_prior``:             KL(q || p(z)) = 1/2 sum_i (m_i^2 + s_i^2 - 1 - log s_i^2), from
          ``torch.distributions.kl_divergence`` (:func:`vitools.bounds.kl_to_prior`)
        - ``elbo``:                    expected_log_likelihood - kl_to_prior
        - ``expected_log_prior``:      E_q[log p(z)] = -L/2 log(2 pi) - 1/2 sum_i (m_i^2 + s_i^2), with m, s^2
          q's mean and variance
        - ``entropy``:                 H(q) = 1/2 sum_i log(2 pi e s_i^2) for a diagonal Gaussian (``q.entropy()``)
        - ``expected_log_joint``:      E_q[log p(x, z)] = expected_log_likelihood + expected_log_prior

        The KL, E_q[log p(z)] and H(q) come from three separate closed forms, so
        ``kl_to_prior = -(expected_log_prior + entropy)`` is an identity that the tests check, not a definition.

        Parameters
        ----------
        x : tensor, shape (N, D)
        q : torch.distributions.Distribution over z
            Event shape (L,), batch shape (N,) (one q per row of ``x``, for example ``model.encoder(x)``) or ();
            it needs ``rsample`` and a closed-form KL from the prior (e.g. ``Independent(Normal(m, s), 1)``).
        n_samples : int
            Monte Carlo samples S for the expected log-likelihood, >= 1.
        y : LongTensor, shape (N,), optional
            Labels, exactly when the model is conditional.

        Returns
        -------
        dict of tensors, shape (N,)
        """
        x = self._as_x(x)
        self._check_q(q, x.shape[0])
        terms = self._elbo_core(x, q, positive_int(n_samples, "n_samples"), y)
        prior = self.prior.base_dist
        terms["expected_log_prior"] = -0.5 * (torch.log(2 * math.pi * prior.scale**2)
                                              + ((q.mean - prior.loc)**2 + q.variance) / prior.scale**2).sum(-1)
        terms["entropy"] = q.entropy()
        terms["expected_log_joint"] = terms["expected_log_likelihood"] + terms["expected_log_prior"]
        return {name: value.expand(x.shape[0]) for name, value in terms.items()}

    def elbo(self, x, q: Distribution, *, n_samples: int = 1, y=None) -> torch.Tensor:
        """ELBO(q) = (1/S) sum_s log p(x | z_s) - KL(q || p(z)), z_s ~ q, per data point: shape (N,).

        ``elbo_terms(x, q, n_samples=n_samples, y=y)["elbo"]``; the encoder's ELBO is ``elbo(x, model.encoder(x))``.
        """
        x = self._as_x(x)
        self._check_q(q, x.shape[0])
        return self._elbo_core(x, q, positive_int(n_samples, "n_samples"), y)["elbo"].expand(x.shape[0])

    def loss(self, x, *, y=None, beta: float = 1.0) -> torch.Tensor:
        """The training loss (1/N) sum_n [-log p(x_n | z_n) + beta KL(q(z | x_n) || p(z))], z_n ~ q(z | x_n).

        Each log p(x | z) is summed over the D pixels (or coordinates) and each KL over the L latent
        dimensions; the batch is averaged. ``beta = 1`` gives minus the mean ELBO (one sample).
        """
        beta = _as_beta(beta)
        x = self._as_x(x)
        return _beta_loss(self._encoder_elbo_terms(x, self._as_y(y, x.shape[0])), beta)

    @torch.no_grad()
    def sample(self, n: int, *, y=None):
        """Ancestral draws z ~ p(z), x ~ p(x | z): ``(x, z)``, shapes (n, D) and (n, L), no gradient.

        For the Bernoulli VAE x holds 0/1 pixels; :meth:`sample_means` gives the pixel probabilities
        instead. A conditional model needs ``y``, a LongTensor of n labels.
        """
        z = self.prior.sample((positive_int(n, "n"),))
        return self.decoder(z, y=y).sample(), z

    @torch.no_grad()
    def sample_means(self, n: int, *, y=None) -> torch.Tensor:
        """Decoder means E[x | z] at z ~ p(z): shape (n, D), no gradient.

        For the Bernoulli VAE these are the pixel probabilities. A conditional model needs ``y``,
        a LongTensor of n labels.
        """
        z = self.prior.sample((positive_int(n, "n"),))
        return self.decoder(z, y=y).mean

    def _elbo_core(self, x: torch.Tensor, q: Distribution, n_samples: int, y) -> dict:
        """expected_log_likelihood, kl_to_prior and elbo for a checked x and any q with rsample (torch.distributions)."""
        z = q.rsample((n_samples,) if q.batch_shape else (n_samples, x.shape[0]))
        terms = {"expected_log_likelihood": self.decoder(z, y=y).log_prob(x).mean(0),
                 "kl_to_prior": bounds.kl_to_prior(q, self.prior)}
        terms["elbo"] = terms["expected_log_likelihood"] - terms["kl_to_prior"]
        return terms

    def _encoder_elbo_terms(self, x: torch.Tensor, y) -> dict:
        """expected_log_likelihood (one sample), kl_to_prior and elbo of the encoder's q for a checked x and y.

        The training loop's hot path: the formulas of :meth:`elbo_terms` in plain tensor maths (no distribution
        objects, no validation). With eps ~ N(0, I), z = m + s * eps and
        KL(N(m, diag(s^2)) || N(0, I)) = 1/2 sum_i (m_i^2 + s_i^2 - 1 - 2 log s_i); the tests compare both with
        torch.distributions.
        """
        mean, std = self._encode(x, y)
        z = torch.addcmul(mean, std, torch.randn_like(std))
        terms = {"expected_log_likelihood": self._log_likelihood(x, z, y), "kl_to_prior": _kl_to_standard_normal(mean, std)}
        terms["elbo"] = terms["expected_log_likelihood"] - terms["kl_to_prior"]
        return terms

    def _loss_gradients(self, x: torch.Tensor, y, beta: float, pixel_weight: float) -> torch.Tensor:
        """Set each parameter's ``.grad`` to the gradient of the training loss on a checked batch (autograd).

        Returns the batch's summed one-sample ELBO, detached. :class:`VAE` writes the same gradients by hand.
        """
        self.zero_grad()
        with torch.enable_grad():
            terms = self._encoder_elbo_terms(x, y)
            _beta_loss(terms, beta, pixel_weight).backward()
        return terms["elbo"].detach().sum()

    def _local_parameters(self, x: torch.Tensor, y) -> list:
        """The encoder's q(z | x) as per-row tensors that :func:`refine_posterior` optimises: [m, log s]."""
        q = self.encoder(x, y=y).base_dist
        return [q.loc, q.scale.log()]

    def _posterior(self, params: list) -> Distribution:
        """The q(z | x) that ``_local_parameters`` describes: N(m, diag(exp(log s)^2))."""
        mean, log_std = params
        return Independent(Normal(mean, log_std.exp()), 1)

    def _elbo_at_noise(self, x: torch.Tensor, q: Distribution, eps: torch.Tensor, y) -> torch.Tensor:
        """log p(x | z) - KL(q || p(z)) at z = m + s * eps, for noise ``eps`` of shape (S, N, L): shape (S, N)."""
        z = q.base_dist.loc + q.base_dist.scale * eps
        return self.decoder(z, y=y).log_prob(x) - bounds.kl_to_prior(q, self.prior)

    def _check_q(self, q, n: int):
        if not isinstance(q, Distribution) or q.event_shape != (self.z_dim,) or q.batch_shape not in ((), (n,)):
            shape = f"event shape {tuple(q.event_shape)}, batch shape {tuple(q.batch_shape)}" \
                if isinstance(q, Distribution) else type(q).__name__
            raise TypeError(f"q must be a distribution over z with event shape ({self.z_dim},) and batch shape ({n},), "
                            f"one q per row of x (for example model.encoder(x)), or (); got {shape}")
        if not q.has_rsample:
            raise TypeError(f"q must have rsample (e.g. Independent(Normal(m, s), 1)) so that the ELBO is "
                            f"differentiable in q's parameters; got {type(q).__name__}")

    def _as_x(self, x, name: str = "x") -> torch.Tensor:
        ref = self._reference
        x = float_tensor(x, name, ndim=2).to(dtype=ref.dtype, device=ref.device)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"{name} must have shape (N, {self.x_dim}) to match the model's x_dim, "
                             f"got {tuple(x.shape)}")
        return x

    def _as_z(self, z) -> torch.Tensor:
        ref = self._reference
        z = float_tensor(z, "z").to(dtype=ref.dtype, device=ref.device)
        if z.dim() < 2 or z.shape[-1] != self.z_dim:
            raise ValueError(f"z must have shape (..., N, {self.z_dim}), got {tuple(z.shape)}")
        return z

    def _as_y(self, y, n: int, name: str = "y"):
        """Check a label vector: required (length n, values in 0..n_classes-1) iff the model is conditional."""
        if not self.conditional:
            if y is not None:
                raise ValueError(f"{name} was given, but this model is not conditional (n_classes = 0); "
                                 f"leave {name} out or build the model with CVAE(...)")
            return None
        if y is None:
            raise ValueError(f"{name} is missing: this conditional model (n_classes = {self.n_classes}) needs "
                             f"a LongTensor of labels, one per row of x")
        try:
            y = torch.as_tensor(y)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a LongTensor of shape ({n},), got {type(y).__name__}") from error
        if y.dtype != torch.int64:
            raise TypeError(f"{name} must be a LongTensor of shape ({n},), got dtype {y.dtype}, shape {tuple(y.shape)}")
        if y.shape != (n,):
            raise ValueError(f"{name} must be a LongTensor of shape ({n},), one label per row, got shape "
                             f"{tuple(y.shape)}")
        if y.numel() and (y.min() < 0 or y.max() >= self.n_classes):
            raise ValueError(f"{name} must hold labels in 0..{self.n_classes - 1}, got {y.min()}..{y.max()}")
        return y.to(self._reference.device)


def _mlp(n_in: int, hidden: tuple, n_out: int) -> torch.nn.Sequential:
    """Linear layers of the given widths with a ReLU after every hidden one."""
    widths = (n_in, *hidden)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(widths[-1], n_out))


class VAE(_GaussianLatentModel):
    """A variational autoencoder for binary data, optionally conditional on a class label.

        q_phi(z | x, y) = N(m, diag(s^2)),  [m, u] = MLP_phi([x, onehot(y)]),  s = softplus(u) + 1e-4
        p_theta(x | z, y) = prod_d Bernoulli(x_d; sigmoid(dec_theta(z, y)_d)),  dec_theta = MLP_theta([z, onehot(y)])

    The label parts are present only when ``n_classes >= 2`` (a CVAE).

    Parameters
    ----------
    x_dim : int
        Number of binary pixels D, >= 1.
    z_dim : int
        Latent dimension L, >= 1.
    hidden : tuple of int
        Widths of the hidden ReLU layers of both MLPs (may be empty: linear maps).
    n_classes : int
        0 for a plain VAE, or the number of classes (>= 2) for a conditional VAE.
    """

    def __init__(self, x_dim: int = 64, z_dim: int = 8, *, hidden=(256, 256), n_classes: int = 0):
        super().__init__()
        self.x_dim, self.z_dim = positive_int(x_dim, "x_dim"), positive_int(z_dim, "z_dim")
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be a tuple of layer widths such as (256, 256) or (), got {hidden!r}")
        self.hidden = tuple(positive_int(width, "each width in hidden") for width in hidden)
        expected = "0 (a plain VAE) or an integer >= 2 (a conditional VAE)"
        if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)):
            raise TypeError(f"n_classes must be {expected}, got {n_classes!r} of type {type(n_classes).__name__}")
        if n_classes < 0 or n_classes == 1:
            raise ValueError(f"n_classes must be {expected}, got {n_classes!r}")
        self.n_classes = int(n_classes)
        self.encoder_net = _mlp(self.x_dim + self.n_classes, self.hidden, 2 * self.z_dim)
        self.decoder_net = _mlp(self.z_dim + self.n_classes, self.hidden, self.x_dim)

    def encoder(self, x, *, y=None) -> Independent:
        """q_phi(z | x) = N(m, diag(s^2)) with s = softplus(u) + 1e-4; batch shape (N,), event (L,)."""
        x = self._as_x(x)
        return Independent(Normal(*self._encode(x, self._as_y(y, x.shape[0]))), 1)

    def decoder(self, z, *, y=None) -> Independent:
        """p_theta(x | z) = prod_d Bernoulli(logits dec_theta(z)_d); ``z`` (..., N, L), ``y`` (N,) broadcasts over ``...``."""
        z = self._as_z(z)
        inputs = self._with_label(z, self._as_y(y, z.shape[-2]))
        return Independent(Bernoulli(logits=self.decoder_net(inputs)), 1)

    def _encode(self, x: torch.Tensor, y) -> tuple:
        """The encoder's mean m and scale s = softplus(u) + 1e-4 for a checked x and y."""
        mean, raw_scale = self.encoder_net(self._with_label(x, y)).chunk(2, dim=-1)
        return mean, F.softplus(raw_scale) + MIN_STD

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor, y) -> torch.Tensor:
        """log p(x | z) = sum_d [x_d log sigmoid(a_d) + (1 - x_d) log sigmoid(-a_d)], a = dec_theta(z): shape (..., N)."""
        logits = self.decoder_net(self._with_label(z, y))
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)

    def _loss_gradients(self, x: torch.Tensor, y, beta: float, pixel_weight: float) -> torch.Tensor:
        """The training loss's gradients by backpropagation written out, in place of autograd (1.2-1.3x faster a step).

        With a = dec(z) the decoder's logits, z = m + s * eps, s = softplus(u) + 1e-4 and B rows in the batch,
        loss = (1/B) sum_n [w BCE(a_n; x_n) + beta KL_n], BCE = -log p(x | z), w = ``pixel_weight``:

            dloss/da = w (sigmoid(a) - x) / B                   dloss/dz: back through the decoder
            dloss/dm = dloss/dz + beta m / B                    dloss/ds = dloss/dz * eps + beta (s - 1/s) / B
            dloss/du = dloss/ds * sigmoid(u)                    then back through the encoder

        The tests compare these with autograd's. Returns the batch's summed one-sample ELBO. Networks that are not
        ``_mlp``'s Linear-ReLU chains, or that have frozen parameters, take the autograd route instead.
        """
        if not (_is_plain_mlp(self.encoder_net) and _is_plain_mlp(self.decoder_net)
                and all(p.requires_grad for p in self.parameters())):
            return super()._loss_gradients(x, y, beta, pixel_weight)
        with torch.no_grad():
            return self._hand_written_gradients(x, y, beta, pixel_weight)

    def _hand_written_gradients(self, x, y, beta, pixel_weight):
        n = x.shape[0]
        encoder, decoder = _linear_layers(self.encoder_net), _linear_layers(self.decoder_net)
        encoder_inputs = _forward(encoder, self._with_label(x, y))
        mean, raw_scale = encoder_inputs.pop().chunk(2, dim=-1)
        std = F.softplus(raw_scale) + MIN_STD
        eps = torch.randn_like(std)
        z = torch.addcmul(mean, std, eps)
        decoder_inputs = _forward(decoder, self._with_label(z, y))
        logits = decoder_inputs.pop()
        grad_z = _backward(decoder, decoder_inputs, (torch.sigmoid(logits) - x).mul_(pixel_weight / n))[:, :self.z_dim]
        grad_std = grad_z * eps + (beta / n) * (std - 1 / std)
        grad_mean = grad_z + (beta / n) * mean
        _backward(encoder, encoder_inputs, torch.cat([grad_mean, grad_std * torch.sigmoid(raw_scale)], dim=-1),
                  input_grad=False)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="sum") - _kl_to_standard_normal(mean, std).sum()

    def _with_label(self, inputs: torch.Tensor, y) -> torch.Tensor:
        if y is None:
            return inputs
        onehot = F.one_hot(y, self.n_classes).to(inputs.dtype)
        return torch.cat([inputs, onehot.expand(*inputs.shape[:-1], self.n_classes)], dim=-1)


def CVAE(x_dim: int = 64, z_dim: int = 8, *, n_classes: int = 10, hidden=(256, 256)) -> VAE:
    """A conditional VAE, q(z | x, y) and p(x | z, y): ``VAE(x_dim, z_dim, hidden=hidden, n_classes=n_classes)``, >= 2."""
    return VAE(x_dim, z_dim, hidden=hidden, n_classes=integer(n_classes, "n_classes", minimum=2))


class LinearVAE(_GaussianLatentModel):
    """A VAE with the linear-Gaussian model of the book as decoder and a linear encoder.

        p(x | z) = N(W z + b, sigma^2 I_D),    q(z | x) = N(A x + g, diag(s^2)),  s = softplus(u) + 1e-4

    W, b, log sigma, A, g and u (``raw_scale``) are learned; s does not depend on x (the exact posterior covariance
    does not either). :meth:`as_lvm` gives the decoder as a :class:`~vitools.lvm.LinearGaussianLVM`,
    whose exact log p(x) bounds the ELBO from above.

    Parameters
    ----------
    x_dim : int
        Observed dimension D, >= 1.
    z_dim : int
        Latent dimension L, >= 1.
    """

    n_classes = 0

    def __init__(self, x_dim: int, z_dim: int):
        super().__init__()
        self.x_dim, self.z_dim = positive_int(x_dim, "x_dim"), positive_int(z_dim, "z_dim")
        self.W = torch.nn.Parameter(0.1 * torch.randn(self.x_dim, self.z_dim))
        self.b = torch.nn.Parameter(torch.zeros(self.x_dim))
        self.log_sigma = torch.nn.Parameter(torch.zeros(()))
        self.A = torch.nn.Parameter(0.1 * torch.randn(self.z_dim, self.x_dim))
        self.g = torch.nn.Parameter(torch.zeros(self.z_dim))
        self.raw_scale = torch.nn.Parameter(torch.full((self.z_dim,), math.log(math.e - 1)))  # softplus = 1

    def encoder(self, x, *, y=None) -> Independent:
        """q(z | x) = N(A x + g, diag(s^2)); batch shape (N,), event (L,). ``y`` must be None."""
        x = self._as_x(x)
        return Independent(Normal(*self._encode(x, self._as_y(y, x.shape[0]))), 1)

    def decoder(self, z, *, y=None) -> Independent:
        """p(x | z) = N(W z + b, sigma^2 I_D) for ``z`` of shape (..., N, L). ``y`` must be None."""
        z = self._as_z(z)
        self._as_y(y, z.shape[-2])
        mean = z @ self.W.T + self.b
        return Independent(Normal(mean, self.log_sigma.exp().expand_as(mean)), 1)

    def _encode(self, x: torch.Tensor, y) -> tuple:
        mean = x @ self.A.T + self.g
        return mean, (F.softplus(self.raw_scale) + MIN_STD).expand_as(mean)

    def _log_likelihood(self, x: torch.Tensor, z: torch.Tensor, y) -> torch.Tensor:
        """log p(x | z) = -D/2 log(2 pi sigma^2) - |x - W z - b|^2 / (2 sigma^2): shape (..., N)."""
        residual = x - (z @ self.W.T + self.b)
        return -0.5 * self.x_dim * (math.log(2 * math.pi) + 2 * self.log_sigma) \
            - 0.5 * residual.square().sum(-1) * torch.exp(-2 * self.log_sigma)

    def as_lvm(self) -> LinearGaussianLVM:
        """The decoder's current (W, b, sigma) as an exact :class:`~vitools.lvm.LinearGaussianLVM` (detached copies)."""
        return LinearGaussianLVM(self.W.detach().clone(), self.b.detach().clone(), self.log_sigma.exp().item())


def _kl_to_standard_normal(mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(m, diag(s^2)) || N(0, I)) = 1/2 sum_i (m_i^2 + s_i^2 - 1 - 2 log s_i), over the last axis."""
    return 0.5 * (mean.square() + std.square() - 1 - 2 * std.log()).sum(-1)


def _is_plain_mlp(net) -> bool:
    """Whether ``net`` is what ``_mlp`` builds: Linear layers with a ReLU between consecutive ones."""
    kinds = [type(layer) for layer in net] if isinstance(net, torch.nn.Sequential) else [None]
    return len(kinds) % 2 == 1 and all(kind is (torch.nn.Linear if i % 2 == 0 else torch.nn.ReLU)
                                       for i, kind in enumerate(kinds))


def _linear_layers(net: torch.nn.Sequential) -> list:
    return [layer for layer in net if isinstance(layer, torch.nn.Linear)]


def _forward(layers: list, h: torch.Tensor) -> list:
    """The inputs of each Linear layer of an MLP built by ``_mlp`` (ReLU between layers), then its output."""
    inputs = [h]
    for i, layer in enumerate(layers):
        h = torch.addmm(layer.bias, h, layer.weight.T)
        inputs.append(h.relu_() if i < len(layers) - 1 else h)
    return inputs


def _backward(layers: list, inputs: list, grad: torch.Tensor, *, input_grad: bool = True):
    """Backpropagate ``grad`` (dloss/doutput) through the MLP: set each layer's weight and bias ``.grad``
    (g^T h and sum_n g_n) and return dloss/dinput (None unless ``input_grad``). ReLU passes the gradient where
    its output is positive."""
    for i in range(len(layers) - 1, -1, -1):
        layers[i].weight.grad, layers[i].bias.grad = grad.T @ inputs[i], grad.sum(0)
        if i == 0:
            return grad @ layers[0].weight if input_grad else None
        grad = (grad @ layers[i].weight).mul_(inputs[i] > 0)


def _check_model(model):
    if not isinstance(model, _GaussianLatentModel):
        raise TypeError(f"model must be a vitools.vae.VAE or LinearVAE, got {type(model).__name__}")


def _as_beta(beta) -> float:
    return finite_number(beta, "beta", 0, role="weighs the KL term")


def _as_lr(lr) -> float:
    return finite_number(lr, "lr", 0, strict=True, role="is Adam's learning rate")


def _beta_loss(terms: dict, beta: float, pixel_weight: float = 1.0) -> torch.Tensor:
    return (beta * terms["kl_to_prior"] - pixel_weight * terms["expected_log_likelihood"]).mean()


def train(model, x_train, *, n_epochs: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, y_train=None,
          beta=1.0, x_test=None, y_test=None, progress: bool = False, pixel_reduction: str = "sum",
          callback=None, objective=None) -> Fit:
    """Fit a VAE by Adam on its loss (one-sample ELBO, KL weighted by ``beta``, or ``objective``) over shuffled mini-batches.

    Calls ``torch.manual_seed(seed)`` first (so the reparameterisation noise repeats) and shuffles
    with a ``torch.Generator`` seeded by ``seed``: the same model initialisation and seed give the same
    history. The data may be on the CPU: it is moved to the model's device.

    Parameters
    ----------
    model : VAE or LinearVAE
    x_train : tensor, shape (N, D)
    n_epochs, batch_size : int
        >= 1 each. The last batch of an epoch may be smaller.
    lr : float
        Adam's learning rate, > 0.
    seed : int
    y_train, y_test : LongTensor, optional
        Labels, given exactly when the model is conditional.
    beta : float or callable
        Weight of the KL term in the loss (beta-VAE), or a schedule ``beta(epoch)`` (epoch = 1, 2, ...), e.g.
        :func:`vitools.objectives.kl_warmup`; the recorded ELBOs always use beta = 1.
    x_test : tensor, shape (M, D), optional
        Evaluated (one sample per point, no gradient) after each epoch.
    progress : bool
        Show a tqdm progress bar over the epochs.
    pixel_reduction : {"sum", "mean"}
        How the loss reduces log p(x | z) over the D pixels. ``"sum"`` is the ELBO's log-likelihood of the
        image. ``"mean"`` (a common slip, here to demonstrate it) trains on
        -(1/D) log p(x | z) + beta KL = (1/D) [-log p(x | z) + D beta KL]: a beta-VAE with beta -> D beta,
        up to a constant factor that Adam's steps (nearly) ignore. The recorded ELBOs are unaffected.
    callback : callable, optional
        Called as ``callback(epoch, model)`` after each epoch (epoch = 1, 2, ...), e.g. to record parameters.
    objective : vitools.objectives.ELBO or IWAE, optional
        The bound and gradient estimator to train on (autograd); None: the one-sample ELBO with its KL in
        closed form (``ELBO()``, with hand-written gradients for :class:`VAE`). Needs ``pixel_reduction="sum"``.

    Returns
    -------
    Fit
        ``model``: the trained model (the same object, trained in place); ``history``: ``train_elbo``, per
        epoch, the mean bound per data point over the epoch's batches (taken during training, as the
        parameters change): the ELBO, or L_K for an ``IWAE`` objective; ``test_elbo``, per epoch, the mean
        test ELBO (one sample per image; empty without ``x_test``); ``seconds``, wall time per epoch.
        ``converged`` is None (a fixed number of epochs).
    """
    _check_model(model)
    n_epochs, batch_size = positive_int(n_epochs, "n_epochs"), positive_int(batch_size, "batch_size")
    lr, seed = _as_lr(lr), integer(seed, "seed")
    schedule = beta if callable(beta) else (lambda epoch, value=_as_beta(beta): value)
    if objective is not None:
        if not isinstance(objective, objectives._Objective):
            raise TypeError(f"objective must be vitools.objectives.ELBO(...) or IWAE(...) or None, got "
                            f"{type(objective).__name__}")
        if pixel_reduction != "sum":
            raise ValueError("pixel_reduction='mean' is the default objective's demonstration of a slip; with an "
                             "objective the loss is its bound: leave pixel_reduction='sum'")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if pixel_reduction not in ("sum", "mean"):
        raise ValueError(f"pixel_reduction must be 'sum' (the ELBO) or 'mean' (the common slip), got {pixel_reduction!r}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(epoch, model) or None, got {type(callback).__name__}")
    pixel_weight = 1.0 if pixel_reduction == "sum" else 1.0 / model.x_dim
    x_train = model._as_x(x_train, "x_train")   # on the model's device, like everything below
    y_train = model._as_y(y_train, x_train.shape[0], "y_train")
    if x_test is not None:
        x_test = model._as_x(x_test, "x_test")
        y_test = model._as_y(y_test, x_test.shape[0], "y_test")
    elif y_test is not None:
        raise ValueError("y_test was given without x_test; pass both or neither")

    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    device, n = model._reference.device, x_train.shape[0]
    # one fused kernel updates every parameter (torch's default on the CPU is a Python loop over them)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))
    history = {"train_elbo": [], "test_elbo": [], "seconds": []}
    bar = _progress_bar(n_epochs) if progress else None
    for epoch in range(1, n_epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        x_shuffled = x_train[order].split(batch_size)          # one gather per epoch; the batches are views
        y_shuffled = (None,) * len(x_shuffled) if y_train is None else y_train[order].split(batch_size)
        elbo_sum = torch.zeros((), device=device)               # summed on the device: no per-step sync
        beta_now = _as_beta(schedule(epoch))
        for xb, yb in zip(x_shuffled, y_shuffled):
            if objective is None:
                elbo_sum += model._loss_gradients(xb, yb, beta_now, pixel_weight)
            else:
                elbo_sum += _objective_gradients(model, objective, xb, yb, beta_now)
            optimiser.step()
        history["train_elbo"].append(elbo_sum.item() / n)
        if x_test is not None:
            with torch.inference_mode():
                history["test_elbo"].append(model._encoder_elbo_terms(x_test, y_test)["elbo"].mean().item())
        history["seconds"].append(time.perf_counter() - start)
        if callback is not None:
            callback(epoch, model)
        if bar is not None:
            bar.update()
            bar.set_postfix(train_elbo=f"{history['train_elbo'][-1]:.2f}")
    if bar is not None:
        bar.close()
    return Fit(model=model, history=history)


def _objective_gradients(model, objective, x: torch.Tensor, y, beta: float) -> torch.Tensor:
    """Set ``.grad`` to minus the objective's surrogate gradient on a batch; return the batch's summed bound, detached."""
    model.zero_grad()
    with torch.enable_grad(), distribution_checks_off():
        value, bound = objective.surrogate(model, x, y=y, beta=beta)
        (-value).backward()
    return bound.sum()


def _progress_bar(total: int):
    try:
        from tqdm.auto import tqdm   # imported only when asked for
    except ImportError as error:
        raise ImportError("progress=True needs the tqdm package: pip install tqdm, or pass progress=False") from error
    return tqdm(total=total, desc="epochs")


def refine_posterior(model, x, *, n_steps: int = 300, lr: float = 0.05, n_samples: int = 16, y=None) -> Fit:
    """Optimise one q_n = N(m_n, diag(s_n^2)) per data point, from the encoder's output: the amortisation gap.

    Maximises each ELBO(q_n) (``model.elbo``, reparameterised with ``n_samples`` samples, closed-form
    KL) over (m_n, log s_n) with Adam, step size lr / (1 + t / 100) at step t = 0, 1, ...; the model's
    parameters are left untouched (no gradients are accumulated into them). The best ELBO of the
    diagonal Gaussian family, ELBO(q*), is at least the encoder's ELBO; the difference is the
    amortisation gap. After finitely many steps q_n is a member of the family but not q*, so
    ELBO(q_n) - ELBO(encoder's q) underestimates the amortisation gap (see :func:`gap_estimates`).

    Parameters
    ----------
    model : VAE or LinearVAE
    x : tensor, shape (N, D)
    n_steps : int
        Adam steps, >= 1.
    lr : float
        Adam's learning rate, > 0.
    n_samples : int
        Monte Carlo samples per ELBO estimate, >= 1.
    y : LongTensor, shape (N,), optional

    Returns
    -------
    Fit
        ``q``: the refined posteriors, Independent(Normal) with batch shape (N,), event shape (L,) (detached);
        ``history["elbo"]``: the mean ELBO over the data points at each step (before that step's update).
    """
    _check_model(model)
    x = model._as_x(x)
    n_steps, n_samples, lr = positive_int(n_steps, "n_steps"), positive_int(n_samples, "n_samples"), _as_lr(lr)
    snapshots, history = _refine(model, x, y, [n_steps], lr, n_samples)
    return Fit(q=snapshots[0], history={"elbo": history})


def _refine(model, x, y, checkpoints, lr: float, n_samples: int):
    """Adam on each q_n's ELBO from the encoder's output (the model's ``_local_parameters``); the q after each number
    of steps in ``checkpoints``."""
    with torch.no_grad():
        params = [p.clone().requires_grad_() for p in model._local_parameters(x, y)]
    optimiser = torch.optim.Adam(params, lr=lr)
    history, snapshots = [], []
    with distribution_checks_off():   # the inputs were checked once, by the caller
        for step in range(checkpoints[-1] + 1):
            if step in checkpoints:
                snapshots.append(model._posterior([p.detach().clone() for p in params]))
            if step == checkpoints[-1]:
                break
            elbo = model._elbo_core(x, model._posterior(params), n_samples, y)["elbo"]
            for p, g in zip(params, torch.autograd.grad(-elbo.sum(), params)):
                p.grad = g
            optimiser.param_groups[0]["lr"] = lr / (1 + step / 100)   # shrinking steps: their noise dies out
            optimiser.step()
            history.append(elbo.detach().mean())
    return snapshots, torch.stack(history).tolist() if history else []


def _increasing(values, name: str, minimum: int) -> list:
    if not isinstance(values, (tuple, list)) or not values:
        raise TypeError(f"{name} must be a non-empty tuple of integers >= {minimum} in increasing order, got {values!r}")
    values = [integer(v, f"each entry of {name}", minimum=minimum) for v in values]
    if any(a >= b for a, b in zip(values[:-1], values[1:])):
        raise ValueError(f"{name} must be in strictly increasing order, got {values}")
    return values


def gap_estimates(model, x, *, n_steps_grid=(0, 10, 100, 1000), n_samples_grid=(1, 10, 100, 1000), y=None,
                  lr: float = 0.05, n_samples: int = 16, n_eval: int = 1000, n_repeats: int = 4,
                  chunk: int = 500) -> dict:
    """The two estimates behind the gap decomposition, and how they move with their budgets.

    - ELBO(q_T), the ELBO of the q reached after T steps of :func:`refine_posterior` (T = 0: the encoder's
      q), for each T in ``n_steps_grid``. It estimates ELBO(q*), the best ELBO of the diagonal Gaussian family,
      from below: q_T is in the family, so E[ELBO(q_T)] <= ELBO(q*).
    - L_K, the importance-weighted bound with K samples from the encoder's q, for each K in ``n_samples_grid``.
      It estimates log p(x) from below: E[L_K] <= log p(x), and E[L_K] does not decrease with K.

    All ELBO(q_T) are evaluated with the same ``n_eval`` noise draws eps (common random numbers), so their
    differences are precise. L_K is averaged over the ``n_repeats * max(n_samples_grid) // K`` disjoint blocks
    of K samples in one pool of ``n_repeats * max(n_samples_grid)`` log-weights per data point; the spread over
    blocks gives its standard error.

    Parameters
    ----------
    model : VAE or LinearVAE
    x : tensor, shape (N, D)
    n_steps_grid : tuple of int
        Refinement steps T, increasing, >= 0.
    n_samples_grid : tuple of int
        Numbers of importance samples K, increasing, >= 1.
    y : LongTensor, shape (N,), optional
        Labels, exactly when the model is conditional.
    lr, n_samples :
        Adam's learning rate (> 0) and the Monte Carlo samples per step (>= 1) of the refinement.
    n_eval : int
        Noise draws per data point for each ELBO(q_T), >= 2.
    n_repeats : int
        Blocks of the largest K in the pool, >= 2.
    chunk : int
        Samples drawn per network pass, >= 1 (memory and speed only).

    Returns
    -------
    dict
        ``n_steps_grid``, ``n_samples_grid`` (lists); ``elbo``, ``elbo_se`` (shape (len(n_steps_grid),)): the mean
        over the data points of ELBO(q_T) and its Monte Carlo standard error; ``elbo_diff_se``
        (len(n_steps_grid), len(n_steps_grid)): entry [a, b] is the standard error of elbo[a] - elbo[b] (small,
        thanks to the shared noise); ``log_px``, ``log_px_se`` (len(n_samples_grid),): the mean of L_K and its
        standard error; ``log_px_step``, ``log_px_step_se`` (len(n_samples_grid) - 1,): entry a is
        L_{K_{a+1}} - L_{K_a} estimated *paired*, each block of K_{a+1} samples against the mean of the K_a-blocks
        nested inside it, and its standard error (NaN when K_a does not divide K_{a+1} or the pool holds fewer
        than two blocks of K_{a+1}). Float64 tensors on the CPU, in nats per data point.
    """
    _check_model(model)
    x = model._as_x(x)
    y = model._as_y(y, x.shape[0])
    steps = _increasing(n_steps_grid, "n_steps_grid", 0)
    ks = _increasing(n_samples_grid, "n_samples_grid", 1)
    lr, n_samples = _as_lr(lr), positive_int(n_samples, "n_samples")
    n_eval, n_repeats = integer(n_eval, "n_eval", minimum=2), integer(n_repeats, "n_repeats", minimum=2)
    chunk = positive_int(chunk, "chunk")
    n = x.shape[0]
    snapshots, _ = _refine(model, x, y, steps, lr, n_samples)
    with torch.no_grad():
        eps = torch.randn(n_eval, n, model.z_dim, dtype=x.dtype, device=x.device)
        per_sample = []
        for q in snapshots:
            per_sample.append(torch.cat([model._elbo_at_noise(x, q, e, y) for e in eps.split(chunk)]).double())  # (n_eval, N)
        elbo = torch.stack([v.mean() for v in per_sample])
        elbo_se = torch.stack([(v.var(0) / n_eval).sum().sqrt() / n for v in per_sample])
        diff_se = torch.stack([torch.stack([((b - a).var(0) / n_eval).sum().sqrt() / n for a in per_sample])
                               for b in per_sample])
        q = model.encoder(x, y=y)
        pool = n_repeats * ks[-1]
        log_w = []
        for size in [chunk] * (pool // chunk) + ([pool % chunk] if pool % chunk else []):
            z = q.sample((size,))
            log_w.append(model.log_joint(x, z, y=y) - q.log_prob(z))
        log_w = torch.cat(log_w).double()                                # (pool, N)
        log_px, log_px_se, per_block = [], [], []
        for k in ks:
            blocks = pool // k
            block_bounds = bounds.log_mean_exp(log_w[:blocks * k].reshape(blocks, k, n), dim=1)   # (blocks, N)
            per_block.append(block_bounds)
            log_px.append(block_bounds.mean())
            log_px_se.append((block_bounds.var(0) / blocks).sum().sqrt() / n)
        step_diff, step_diff_se = [], []      # L_{K_{a+1}} - L_{K_a}, paired: the K_a-blocks nested in each K_{a+1}-block
        for a in range(len(ks) - 1):
            small, large = ks[a], ks[a + 1]
            if large % small or pool // large < 2:
                step_diff.append(float("nan"))
                step_diff_se.append(float("nan"))
                continue
            blocks = pool // large
            nested = per_block[a][:blocks * (large // small)].reshape(blocks, large // small, n).mean(1)
            d = per_block[a + 1] - nested                                # (blocks, N)
            step_diff.append(d.mean())
            step_diff_se.append((d.var(0) / blocks).sum().sqrt() / n)

    def on_cpu(values):
        return torch.tensor([float(v) for v in values], dtype=torch.float64)

    return {"n_steps_grid": steps, "n_samples_grid": ks, "elbo": on_cpu(elbo), "elbo_se": on_cpu(elbo_se),
            "elbo_diff_se": diff_se.to(device="cpu", dtype=torch.float64), "log_px": on_cpu(log_px),
            "log_px_se": on_cpu(log_px_se), "log_px_step": on_cpu(step_diff), "log_px_step_se": on_cpu(step_diff_se)}
