"""Training objectives and their gradient estimators: the ELBO, the importance-weighted bound L_K, and
lower-variance gradients for both (chapter on tighter bounds and richer posteriors).

With z_k = g_phi(eps_k) ~ q_phi(z | x) reparameterised and w_k = p_theta(x, z_k) / q_phi(z_k | x):

    ELBO  = E[log w_1]                               L_K = E[log (1/K) sum_k w_k]

Estimators of the gradient with respect to phi (theta's gradient is the same for all of them):

- ``"closed_form_kl"`` (ELBO only): E_q[log p(x | z)] by samples minus KL(q || p(z)) in closed form (chapter 6's);
- ``"full"``: the reparameterised gradient of the sampled log w itself, through z and through q's
  parameters in log q (the plain estimator; for L_K the IWAE gradient sum_k w~_k d log w_k / d phi);
- ``"path_derivative"`` (ELBO) and ``"dreg"`` (L_K): log q is evaluated with q's parameters held fixed, so the gradient
  flows through z only (Roeder et al. 2017, "sticking the landing"); for L_K each path term is weighted by
  w~_k^2 instead of w~_k, w~_k = w_k / sum_j w_j (Tucker et al. 2019, "doubly reparameterised"). Their
  expectation is the same gradient; at q = p(z | x) the path estimator of the ELBO has zero variance.

:class:`ELBO` and :class:`IWAE` are objectives that ``vitools.vae.train(..., objective=...)`` optimises;
``ELBO(free_bits=KL_min)`` replaces each dimension's KL, averaged over the batch, by max(KL_min, KL_i)
(Kingma et al. 2016), and :func:`kl_warmup` is a KL weight schedule for ``train(..., beta=...)``.
:func:`surrogate` is the estimator on any ``log p(x | z)``, prior and Gaussian q, for models without an
encoder, and :func:`fit_gaussian` fits one diagonal or full-covariance Gaussian q with it; :func:`gradient_moments`
measures the mean and variance of any stochastic gradient, and :func:`encoder_decoder_moments` those of an
objective's gradients for a VAE's two networks.
"""

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, kl_divergence

from vitools.bounds import log_mean_exp
from vitools.results import Fit
from vitools._validate import distribution_checks_off, finite_number, function, integer, one_of, positive_int

BOUNDS = ("elbo", "iwae")
ESTIMATORS = {"elbo": ("closed_form_kl", "full", "path_derivative"), "iwae": ("full", "dreg")}


def held_fixed(q: Distribution) -> Distribution:
    """The same Gaussian q with its parameters detached: log q(z) of it has gradients through z only.

    For ``Normal``, ``Independent(Normal)`` and ``MultivariateNormal`` (full covariance, by its Cholesky factor).
    """
    if isinstance(q, Independent) and isinstance(q.base_dist, Normal):
        return Independent(held_fixed(q.base_dist), q.reinterpreted_batch_ndims)
    if isinstance(q, Normal):
        return Normal(q.loc.detach(), q.scale.detach(), validate_args=False)
    if isinstance(q, MultivariateNormal):
        return MultivariateNormal(q.loc.detach(), scale_tril=q.scale_tril.detach(), validate_args=False)
    raise TypeError(f"the path_derivative and dreg estimators need a Gaussian q (Normal, Independent(Normal) or MultivariateNormal) "
                    f"whose parameters can be held fixed; got {type(q).__name__}: use estimator='full'")


def surrogate(log_likelihood, prior: Distribution, q: Distribution, *, bound: str = "elbo", n_samples: int = 1,
              estimator: str = "full", beta: float = 1.0, free_bits: float = 0.0) -> tuple:
    """A surrogate whose gradient is the chosen estimator's, and the bound's value, per data point.

    Parameters
    ----------
    log_likelihood : callable
        ``log_likelihood(z)``: log p(x | z) for z of shape (K, N, L) (or (K, L) for one data point), summed over x's
        coordinates: shape (K, N).
    prior : Distribution
        p(z), event shape (L,).
    q : Distribution
        q(z | x) with ``rsample``, batch shape (N,) or (); a Gaussian for ``"path_derivative"`` and ``"dreg"``, an
        ``Independent(Normal)`` for ``"closed_form_kl"``.
    bound : {"elbo", "iwae"}
    n_samples : int
        Samples K: averaged in the ELBO, inside the log-mean-exp in L_K; >= 1.
    estimator : str
        ``"closed_form_kl"``, ``"full"`` or ``"path_derivative"`` for the ELBO; ``"full"`` or ``"dreg"`` for L_K.
    beta : float
        KL weight of the ELBO's loss (>= 0): the surrogate is E log p(x | z) - beta KL. Must be 1 for L_K.
    free_bits : float
        The floor KL_min >= 0, in nats per latent dimension (``"closed_form_kl"`` only): each KL_i, averaged over the batch,
        enters as max(KL_min, KL_i), so a dimension below the floor is not pushed further towards the prior.

    Returns
    -------
    (surrogate, bound)
        The surrogate, a scalar to maximise (a mean over the data points; with free bits the batch's KL
        term is shared), and the bound estimate (beta = 1, no free bits) per data point, detached.
    """
    bound = one_of(bound, "bound", BOUNDS)
    estimator = one_of(estimator, "estimator", ESTIMATORS[bound],
                       f"one of {', '.join(map(repr, ESTIMATORS[bound]))} for bound={bound!r}")
    n_samples = positive_int(n_samples, "n_samples")
    beta = finite_number(beta, "beta", 0, role="weighs the KL term")
    free_bits = finite_number(free_bits, "free_bits", 0, role="is the floor KL_min on each dimension's KL, in nats")
    log_likelihood = function(log_likelihood, "log_likelihood", "a function z -> log p(x | z)")
    if bound == "iwae" and beta != 1:
        raise ValueError(f"beta weighs the ELBO's KL term; L_K has none, so beta must be 1 for bound='iwae', got {beta}")
    if free_bits and estimator != "closed_form_kl":
        raise ValueError("free_bits needs the per-dimension KL in closed form: use estimator='closed_form_kl' "
                         f"(bound='elbo'), got estimator={estimator!r}")
    for value, name in ((prior, "prior"), (q, "q")):
        if not isinstance(value, Distribution):
            raise TypeError(f"{name} must be a torch.distributions.Distribution, got {type(value).__name__}")
    if not q.has_rsample:
        raise TypeError(f"q must have rsample (a reparameterisable distribution), got {type(q).__name__}")

    z = q.rsample((n_samples,))
    log_lik = log_likelihood(z)
    if estimator == "closed_form_kl":
        if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
            raise TypeError(f"estimator='closed_form_kl' needs a diagonal Gaussian q, Independent(Normal), with a "
                            f"closed-form KL per dimension; got {type(q).__name__}: use 'full' or 'path_derivative'")
        kl_per_dim = kl_divergence(q.base_dist, prior.base_dist if isinstance(prior, Independent) else prior)
        kl = kl_per_dim.sum(-1)
        kl_term = kl.mean() if not free_bits else torch.clamp(
            kl_per_dim.reshape(-1, kl_per_dim.shape[-1]).mean(0), min=free_bits).sum()
        value = log_lik.mean(0) - kl
        return log_lik.mean(0).mean() - beta * kl_term, value.detach()

    log_q = (q if estimator == "full" else held_fixed(q)).log_prob(z)
    log_prior = prior.log_prob(z)
    if bound == "elbo":
        value = (log_lik + log_prior - log_q).mean(0)
        return (log_lik - beta * (log_q - log_prior)).mean(0).mean(), value.detach()
    log_w = log_lik + log_prior - log_q
    if estimator == "dreg" and z.requires_grad:
        weights = torch.softmax(log_w.detach(), dim=0)                        # w~_k, over the K samples
        z.register_hook(lambda grad: grad * weights.unsqueeze(-1))             # w~_k d/dz_k -> w~_k^2 d/dz_k
    value = log_mean_exp(log_w, dim=0)
    return value.mean(), value.detach()


class _Objective:
    """A bound to maximise, with its number of samples and gradient estimator (see :func:`surrogate`)."""

    bound = ""

    def __init__(self, n_samples: int, estimator: str, free_bits: float = 0.0):
        self.n_samples = positive_int(n_samples, "n_samples")
        self.estimator = one_of(estimator, "estimator", ESTIMATORS[self.bound],
                                f"one of {', '.join(map(repr, ESTIMATORS[self.bound]))} for {type(self).__name__}")
        self.free_bits = finite_number(free_bits, "free_bits", 0, role="is the floor on each dimension's KL, in nats")
        if self.free_bits and self.estimator != "closed_form_kl":
            raise ValueError(f"free_bits needs estimator='closed_form_kl' (the per-dimension KL in closed form), "
                             f"got estimator={self.estimator!r}")

    def __repr__(self):
        extra = f", free_bits={self.free_bits:g}" if self.free_bits else ""
        return f"{type(self).__name__}(n_samples={self.n_samples}, estimator={self.estimator!r}{extra})"

    def surrogate(self, model, x, *, y=None, beta: float = 1.0) -> tuple:
        """:func:`surrogate` for ``model``'s encoder q(z | x) and decoder on a batch ``x``: (scalar, bound per row)."""
        x = model._as_x(x)                  # the decoder's log_prob below needs x as the model's tensor
        q = model.encoder(x, y=y)
        if self.estimator in ("path_derivative", "dreg") and not isinstance(q, (Independent, Normal, MultivariateNormal)):
            raise TypeError(f"{self!r} needs a Gaussian encoder; {type(model).__name__}'s q is a {type(q).__name__}: "
                            f"use estimator='full'")
        return surrogate(lambda z: model.decoder(z, y=y).log_prob(x), model.prior, q, bound=self.bound,
                         n_samples=self.n_samples, estimator=self.estimator, beta=beta, free_bits=self.free_bits)


class ELBO(_Objective):
    """The ELBO with ``n_samples`` samples averaged, estimator ``"closed_form_kl"`` (default), ``"full"`` or ``"path_derivative"``,
    optionally with free bits: sum_i max(KL_min, KL_i) in place of the KL, KL_i averaged over the batch, KL_min = ``free_bits``."""

    bound = "elbo"

    def __init__(self, n_samples: int = 1, estimator: str = "closed_form_kl", *, free_bits: float = 0.0):
        super().__init__(n_samples, estimator, free_bits)


class IWAE(_Objective):
    """The importance-weighted bound L_K = E[log (1/K) sum_k w_k], K = ``n_samples``, estimator ``"full"`` or
    ``"dreg"`` (Burda et al. 2016; Tucker et al. 2019). K = 1 is the ELBO."""

    bound = "iwae"

    def __init__(self, n_samples: int, estimator: str = "full"):
        super().__init__(n_samples, estimator)


def kl_warmup(n_epochs: int):
    """The KL weight schedule beta(epoch) = min(1, epoch / n_epochs), epoch = 1, 2, ... (Bowman et al. 2016;
    Sonderby et al. 2016): for ``vitools.vae.train(..., beta=kl_warmup(n))``."""
    n_epochs = positive_int(n_epochs, "n_epochs")
    return lambda epoch: min(1.0, epoch / n_epochs)


def fit_gaussian(log_likelihood, prior: Distribution, *, covariance: str = "full", n_steps: int = 300,
                 lr: float = 0.1, n_samples: int = 8, estimator: str = "path_derivative", seed: int = 0) -> Fit:
    """Fit one Gaussian q(z) = N(m, C) to the posterior of ``log_likelihood`` and ``prior`` by stochastic ascent on the ELBO.

    C = T T^T with T lower-triangular (``covariance="full"``) or diagonal (``"diagonal"``), its diagonal the exp of
    free log-scales; (m, the log-scales, the strict lower triangle of T) start at 0, q = N(0, I), and take Adam steps with the step size
    lr / (1 + t / 200) on :func:`surrogate` with ``n_samples`` samples and ``estimator`` ("full" or "path_derivative").

    Returns
    -------
    Fit
        ``q``: a ``MultivariateNormal`` (detached); ``history["elbo"]``: the ELBO estimate at each step.
    """
    log_likelihood = function(log_likelihood, "log_likelihood", "a function z -> log p(x | z)")
    covariance = one_of(covariance, "covariance", ("full", "diagonal"))
    estimator = one_of(estimator, "estimator", ("full", "path_derivative"))
    n_steps, n_samples, seed = positive_int(n_steps, "n_steps"), positive_int(n_samples, "n_samples"), integer(seed, "seed")
    lr = finite_number(lr, "lr", 0, strict=True, role="is Adam's learning rate")
    if not isinstance(prior, Distribution) or len(prior.event_shape) != 1:
        raise TypeError("prior must be a torch.distributions.Distribution over vectors z (event shape (L,))")
    L = prior.event_shape[0]
    like = prior.sample()
    mean = torch.zeros(L, dtype=like.dtype, device=like.device, requires_grad=True)
    log_diag = torch.zeros_like(mean, requires_grad=True)
    lower = torch.zeros(L, L, dtype=like.dtype, device=like.device, requires_grad=covariance == "full")
    mask = torch.tril(torch.ones_like(lower), diagonal=-1)
    params = [mean, log_diag] + ([lower] if covariance == "full" else [])
    optimiser = torch.optim.Adam(params, lr=lr)
    torch.manual_seed(seed)

    def q_of():
        return MultivariateNormal(mean, scale_tril=torch.diag(log_diag.exp()) + lower * mask, validate_args=False)

    history = []
    with distribution_checks_off():
        for step in range(n_steps):
            value, bound = surrogate(log_likelihood, prior, q_of(), n_samples=n_samples, estimator=estimator)
            optimiser.zero_grad()
            (-value).backward()
            optimiser.param_groups[0]["lr"] = lr / (1 + step / 200)
            optimiser.step()
            history.append(bound.mean().item())
    with torch.no_grad():
        q = q_of()                   # detached: loc would otherwise be the optimised leaf itself, with requires_grad
        return Fit(q=MultivariateNormal(q.loc.detach().clone(), scale_tril=q.scale_tril.detach().clone(),
                                        validate_args=False), history={"elbo": history})


def gradient_moments(loss, parameters: dict, *, n_repeats: int, seed: int = 0) -> dict:
    """Mean and variance, over ``n_repeats`` independent draws, of each coordinate of a stochastic gradient.

    ``loss()`` returns a scalar whose gradient is one draw of the estimator (fresh random numbers each call);
    ``parameters`` maps a group name to a list of tensors. Seeds torch with ``seed`` first.

    Returns ``{name: {"mean": ..., "variance": ...}}``, flat float64 tensors over the group's coordinates
    (variance with n_repeats - 1 in the denominator), and ``"snr"``: |mean| / sqrt(variance) per coordinate.
    """
    loss = function(loss, "loss", "a function of no arguments returning a scalar")
    if not isinstance(parameters, dict) or not parameters:
        raise TypeError("parameters must be a non-empty dict: group name -> list of tensors with requires_grad")
    for name, group in parameters.items():
        if not isinstance(group, (list, tuple)) or not group or \
                not all(torch.is_tensor(p) and p.requires_grad for p in group):
            raise TypeError(f"parameters[{name!r}] must be a non-empty list of tensors with requires_grad, got "
                            f"{type(group).__name__}")
    n_repeats = integer(n_repeats, "n_repeats", minimum=2)
    torch.manual_seed(integer(seed, "seed"))
    names = list(parameters)
    tensors = [p for name in names for p in parameters[name]]
    sizes = [sum(p.numel() for p in parameters[name]) for name in names]
    draws = []
    for _ in range(n_repeats):
        grads = torch.autograd.grad(loss(), tensors, allow_unused=True)
        draws.append(torch.cat([(torch.zeros_like(p) if g is None else g).flatten().double()
                                for p, g in zip(tensors, grads)]))
    draws = torch.stack(draws)
    mean, variance = draws.mean(0), draws.var(0)
    result = {}
    for name, part_mean, part_var in zip(names, mean.split(sizes), variance.split(sizes)):
        result[name] = {"mean": part_mean, "variance": part_var,
                        "snr": part_mean.abs() / part_var.sqrt().clamp_min(1e-300)}
    return result


def encoder_decoder_moments(model, x, objective: _Objective, *, n_repeats: int, seed: int = 0, y=None) -> dict:
    """:func:`gradient_moments` of ``objective``'s gradient (mean over the rows of ``x``) for ``model``'s
    ``encoder_net`` and ``decoder_net``: keys ``"encoder"`` and ``"decoder"``. The model is not changed."""
    if not isinstance(objective, _Objective):
        raise TypeError(f"objective must be vitools.objectives.ELBO(...) or IWAE(...), got {type(objective).__name__}")
    x = model._as_x(x)
    y = model._as_y(y, x.shape[0])
    groups = {"encoder": list(model.encoder_net.parameters()), "decoder": list(model.decoder_net.parameters())}
    return gradient_moments(lambda: objective.surrogate(model, x, y=y)[0], groups, n_repeats=n_repeats, seed=seed)
