"""Black-box variational inference (chapter 5): Bayesian logistic regression, a model with no conjugacy.

The model, with the regression weights as the latent z (the book's latent; not called w, which names the importance
weights w_k, nor W, the linear-Gaussian model's weights), features x_n in R^L (an intercept column included) and labels
y_n in {0, 1}:

    p(z) = N(0, s_0^2 I),    p(y_n | x_n, z) = Bernoulli(y_n; sigmoid(x_n . z)),
    log p(y, z) = sum_n [y_n x_n . z - softplus(x_n . z)] + log N(z; 0, s_0^2 I).

The Gaussian prior is not conjugate to the Bernoulli likelihood and the posterior has no closed form, so CAVI's
closed-form updates do not exist. Black-box VI climbs ELBO(q) = E_q[log p(y, z) - log q(z)] by stochastic gradients
that need only log p(y, z) (and, for the pathwise estimator, its gradient in z) and samples from q. Here
q = N(m, diag(s^2)) with phi = (m, log s), as in chapter 4 (:func:`vitools.estimators.elbo_gradients`): s = exp(log s)
is positive without a constraint.

z is global (one weight vector for all N rows), so log p(y, z) and its parts are densities of the whole data set;
the ELBO and its gradients are reported per data point, ELBO(q) / N, as the book reports every data set's ELBO.

- :class:`BayesianLogisticRegression`: log p(y, z) on the full data or on a minibatch B, whose log-likelihood is
  multiplied by N/|B| (unbiased); the ELBO by Monte Carlo or by one-dimensional quadrature (exact to rounding).
- :func:`elbo_gradients`: per-sample estimates of grad_phi ELBO, several estimators on the same draws: score function,
  with leave-one-out control variates, Rao-Blackwellised per coordinate (with and without control variates), pathwise;
  :func:`gradient_variances`: the per-coordinate variance of each S-sample estimate, measured over repeats;
  :func:`exact_elbo_gradient`: grad_phi ELBO by autograd through the quadrature ELBO, the reference for both.
- :func:`fit`: stochastic optimisation of the ELBO (Adam) with any of the estimators, optional minibatches;
  :func:`best_mean_field`: the best mean-field q by deterministic optimisation of the quadrature ELBO (a reference).
- :func:`laplace` and :func:`importance_sampling`: the reference posterior (the Laplace approximation at the MAP found
  by Newton's method; importance sampling with it as the proposal).
"""

import math
import time

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, kl_divergence

from vitools._validate import finite_number, float_tensor, integer, one_of, positive_int
from vitools.device import threads_for
from vitools.estimators import _diagonal_gaussian_q
from vitools.results import Fit

ESTIMATORS = ("score", "score_cv", "score_rb", "score_rb_cv", "reparam")
LOG_2PI = math.log(2 * math.pi)
_CHUNK = 4096             # importance samples per pass (a (4096, N) table of logits)
QUADRATURE_RANGE = 9.0     # the rule integrates the standard normal over [-9, 9]: the tails beyond hold < 1e-18
MAX_QUADRATURE_SD = 500.0  # the widest x_n . z the rule takes: 12,859 nodes, a (569, 12859) table of 59 MB


class BayesianLogisticRegression:
    """Bayesian logistic regression on a fixed data set: p(z) = N(0, s_0^2 I), y_n ~ Bernoulli(sigmoid(x_n . z)).

    The latent z (the regression weights, one per column of x) is shared by all N rows, so the log joint is one number
    per z, log p(y, z) = log p(y | x, z) + log p(z), not one per row: the model keeps its data.

    Parameters
    ----------
    x : tensor, shape (N, L)
        The design matrix, an intercept column included if wanted (``vitools.data.load_breast_cancer(intercept=True)``).
        Float; its dtype and device are the model's.
    y : tensor, shape (N,)
        Labels, each exactly 0 or 1 (integers or floats).
    prior_scale : float
        s_0 > 0, the prior standard deviation of every weight.

    Attributes
    ----------
    x, y : tensors (N, L) and (N,), y as x's dtype
    prior_scale : float
    n_data, z_dim : int
        N and L.
    """

    def __init__(self, x, y, *, prior_scale: float = 1.0):
        x = float_tensor(x, "x")
        if x.dim() != 2 or x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"x must be a design matrix of shape (N, L), one row per data point, N, L >= 1; got shape "
                             f"{tuple(x.shape)}")
        y = float_tensor(y, "y")
        if y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must hold one label per row of x, shape ({x.shape[0]},); got shape {tuple(y.shape)}")
        if not torch.all((y == 0) | (y == 1)):
            values = torch.unique(y)
            raise ValueError(f"y must be binary: every label exactly 0 or 1; got the values {values[:5].tolist()}"
                             f"{' ...' if values.numel() > 5 else ''} (recode the two classes as 0 and 1)")
        self.prior_scale = finite_number(prior_scale, "prior_scale", 0, strict=True,
                                         role="is the prior standard deviation s_0 of the weights")
        self.x, self.y = x, y.to(dtype=x.dtype, device=x.device)
        self.n_data, self.z_dim = x.shape

    def __repr__(self) -> str:
        return f"BayesianLogisticRegression(N={self.n_data}, L={self.z_dim}, prior_scale={self.prior_scale:g})"

    @property
    def prior(self) -> Independent:
        """p(z) = N(0, s_0^2 I) as ``Independent(Normal(0, s_0), 1)``, event shape (L,)."""
        zeros = torch.zeros(self.z_dim, dtype=self.x.dtype, device=self.x.device)
        return Independent(Normal(zeros, self.prior_scale), 1)

    # ------------------------------------------------------------------ log densities (of the whole data set)

    def log_likelihood(self, z, *, batch=None) -> torch.Tensor:
        """log p(y_B | x_B, z) = sum_{n in B} [y_n x_n . z - softplus(x_n . z)], summed over the rows, **not** rescaled.

        log Bernoulli(y; sigmoid(u)) = y log sigmoid(u) + (1 - y) log sigmoid(-u) = y u - softplus(u), written so
        for stability (no log of a sigmoid that underflows).

        Parameters
        ----------
        z : tensor, shape (..., L)
            Weight vectors; leading sample dimensions broadcast.
        batch : tensor of int64, shape (B,), optional
            Row indices of a minibatch B; None means all N rows.

        Returns
        -------
        tensor, shape z.shape[:-1]
        """
        z = self._z(z)
        x, y = self._rows(batch)
        return _log_likelihood(x, y, z)

    def log_prior(self, z) -> torch.Tensor:
        """log p(z) = sum_i log N(z_i; 0, s_0^2), shape z.shape[:-1]."""
        return _log_prior_terms(self._z(z), self.prior_scale).sum(-1)

    def log_joint(self, z, *, batch=None, batch_scale=None) -> torch.Tensor:
        """log p(y, z) on all the data, or its minibatch estimate (N/|B|) log p(y_B | x_B, z) + log p(z).

        With B drawn uniformly (every row equally likely to be in it), E[sum_{n in B} l_n] = (|B|/N) sum_n l_n for
        the rows' terms l_n, so the factor N/|B| makes the minibatch's log-likelihood an unbiased estimate of the full
        one, and the minibatch log joint an unbiased estimate of log p(y, z). The prior is counted once, unscaled.

        Parameters
        ----------
        z : tensor, shape (..., L)
        batch : tensor of int64, shape (B,), optional
            Row indices of a minibatch; None means all N rows (and the factor is 1).
        batch_scale : float, optional
            The factor on the minibatch's log-likelihood. None (the default) means N/|B|, the unbiased choice; any
            other value (1.0 forgets the factor) is for showing what goes wrong without it.

        Returns
        -------
        tensor, shape z.shape[:-1]
        """
        z = self._z(z)
        x, y = self._rows(batch)
        scale = self._scale(batch, batch_scale)
        return scale * _log_likelihood(x, y, z) + _log_prior_terms(z, self.prior_scale).sum(-1)

    def grad_log_joint(self, z, *, batch=None, batch_scale=None) -> torch.Tensor:
        """grad_z log p(y, z) = c X_B^T (y_B - sigmoid(X_B z)) - z / s_0^2, c the likelihood's factor (N/|B|, or 1
        on all the data). Same arguments as :meth:`log_joint`; returns shape z.shape."""
        z = self._z(z)
        x, y = self._rows(batch)
        return _grad_log_joint(x, y, z, self.prior_scale, self._scale(batch, batch_scale))

    def hessian_log_joint(self, z) -> torch.Tensor:
        """The exact Hessian of the full-data log p(y, z): -X^T diag(p (1 - p)) X - I / s_0^2, p = sigmoid(X z).

        Parameters
        ----------
        z : tensor, shape (L,)

        Returns
        -------
        tensor, shape (L, L), negative definite
        """
        z = self._z(z)
        if z.dim() != 1:
            raise ValueError(f"z must be one weight vector, shape ({self.z_dim},), for the Hessian; got shape "
                             f"{tuple(z.shape)}")
        return _hessian(self.x, z, self.prior_scale)

    # ------------------------------------------------------------------ the ELBO (per data point)

    def elbo_terms(self, q, *, n_samples=None, seed=None) -> dict:
        """Every term of ELBO(q) = E_q[log p(y | x, z)] - KL(q || p(z)) = E_q[log p(y, z)] + H(q), divided by N.

        For q = N(m, diag(s^2)), in nats per data point:

        - ``expected_log_likelihood``: with ``n_samples=None``, by quadrature, exact to rounding: under q,
          u_n = x_n . z ~ N(x_n . m, sum_i x_ni^2 s_i^2), so E_q[y_n u_n - softplus(u_n)] is a one-dimensional
          Gaussian integral per data point (the trapezoidal rule, with a relative error below 1e-12; the private
          ``_expected_log_likelihood`` says why); with ``n_samples = S``, the Monte Carlo average
          (1/S) sum_j log p(y | x, z_j), z_j ~ q;
        - ``expected_log_prior``, E_q[log p(z)] = -(L/2) log(2 pi s_0^2) - sum_i (m_i^2 + s_i^2) / (2 s_0^2),
          ``entropy``, H(q) = sum_i [log s_i + (1/2) log(2 pi e)], and ``kl_to_prior`` (torch's closed form): exact;
        - ``expected_log_joint`` and ``elbo``: their sums.

        The quadrature terms are differentiable in q's parameters when those require grad.

        Parameters
        ----------
        q : torch.distributions.Independent(Normal(m, s), 1)
            Batch shape (), event shape (L,).
        n_samples : int, optional
            S for a Monte Carlo estimate; None for quadrature.
        seed : int, optional
            Seeds a private generator for the Monte Carlo draws (the global RNG is left alone); None uses the
            global RNG.

        Returns
        -------
        dict of str -> scalar tensor
        """
        loc, scale = _q_parameters(q, self)
        if n_samples is None:
            expected_ll = _expected_log_likelihood(self.x, self.y, loc, scale)
        else:
            eps = _noise((positive_int(n_samples, "n_samples"), self.z_dim), self.x, _generator(seed, self.x))
            expected_ll = _log_likelihood(self.x, self.y, loc + scale * eps).mean()
        log_prior = _expected_log_prior(loc, scale, self.prior_scale)
        entropy = _entropy(torch.log(scale))
        kl = kl_divergence(Independent(Normal(loc, scale), 1), self.prior)
        terms = {"expected_log_likelihood": expected_ll, "kl_to_prior": kl, "elbo": expected_ll - kl,
                 "expected_log_prior": log_prior, "entropy": entropy, "expected_log_joint": expected_ll + log_prior}
        return {key: value / self.n_data for key, value in terms.items()}

    def elbo(self, q, *, n_samples=None, seed=None) -> torch.Tensor:
        """ELBO(q) / N, ``elbo_terms(q, n_samples=n_samples, seed=seed)["elbo"]``: by quadrature (``n_samples=None``)
        or by Monte Carlo over the log-likelihood, the prior term and the entropy in closed form. A scalar tensor."""
        return self.elbo_terms(q, n_samples=n_samples, seed=seed)["elbo"]

    # ------------------------------------------------------------------ checks

    def _z(self, z) -> torch.Tensor:
        z = float_tensor(z, "z")
        if z.dim() < 1 or z.shape[-1] != self.z_dim:
            raise ValueError(f"z must have last dimension L = {self.z_dim}, one weight per column of x; got shape "
                             f"{tuple(z.shape)}")
        return z.to(dtype=self.x.dtype, device=self.x.device)

    def _rows(self, batch):
        if batch is None:
            return self.x, self.y
        batch = _batch(batch, self.n_data)
        return self.x[batch], self.y[batch]

    def _scale(self, batch, batch_scale) -> float:
        if batch_scale is not None and batch is None:
            raise ValueError("batch_scale is the factor on a minibatch's log-likelihood: pass batch too, or leave "
                             "batch_scale None")
        if batch_scale is not None:
            return finite_number(batch_scale, "batch_scale", 0, strict=True,
                                 role="is the factor on the minibatch's log-likelihood (default N / |B|)")
        return 1.0 if batch is None else self.n_data / len(batch)


# ---------------------------------------------------------------------- plain-tensor formulas (no checks)

def _log_likelihood(x, y, z):
    u = z @ x.T                                                 # (..., N) logits x_n . z
    return (y * u - torch.nn.functional.softplus(u)).sum(-1)


def _log_prior_terms(z, prior_scale):
    """log N(z_i; 0, s_0^2), one per coordinate."""
    return -0.5 * (z / prior_scale) ** 2 - math.log(prior_scale) - 0.5 * LOG_2PI


def _grad_log_joint(x, y, z, prior_scale, scale):
    return scale * (y - torch.sigmoid(z @ x.T)) @ x - z / prior_scale**2


def _hessian(x, z, prior_scale):
    p = torch.sigmoid(x @ z)
    eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return -(x.T * (p * (1 - p))) @ x - eye / prior_scale**2


def _expected_log_prior(loc, scale, prior_scale):
    return (-0.5 * LOG_2PI - math.log(prior_scale) - (loc**2 + scale**2) / (2 * prior_scale**2)).sum()


def _entropy(log_scale):
    return (log_scale + 0.5 * (LOG_2PI + 1)).sum()


def _expected_log_likelihood(x, y, loc, scale):
    """E_q[log p(y | x, z)] for q = N(m, diag(s^2)), by the trapezoidal rule over u_n = x_n . z ~ N(mu_n, v_n).

    E_q[y_n u_n] = y_n mu_n exactly; E[softplus(u_n)] = E_t[softplus(mu_n + sqrt(v_n) t)], t ~ N(0, 1), by the
    trapezoidal rule on [-9, 9] with step h = min(0.4, 0.7 / max_n sqrt(v_n)). The integrand is analytic in the strip
    |Im t| < pi / sqrt(v_n) (softplus has its poles at i pi (2k + 1)), so the rule's error falls like
    exp(-2 pi^2 / (sqrt(v_n) h)) <= exp(-2 pi^2 / 0.7) ~ 6e-13, relative (the tests compare it with scipy's adaptive
    quadrature). Differentiable in m and s.
    """
    mean, sd, t, w = _quadrature_nodes(x, loc, scale)
    softplus = torch.nn.functional.softplus(mean[:, None] + sd[:, None] * t)   # (N, nodes)
    return (y * mean).sum() - (softplus @ w).sum()


def _quadrature_nodes(x, loc, scale):
    """mu_n, sqrt(v_n), and the trapezoidal rule's nodes t_k and weights for E_{N(0, 1)}."""
    mean, sd = x @ loc, ((x**2) @ scale**2).sqrt()              # (N,)
    widest = sd.max().item()
    if widest > MAX_QUADRATURE_SD:
        raise ValueError(f"q is too wide for the quadrature ELBO: the standard deviation of x_n . z under q reaches "
                         f"{widest:.3g} (at most {MAX_QUADRATURE_SD:g}); a fit that got there has diverged: lower lr")
    h = min(0.4, 0.7 / max(widest, 1e-12))
    half = math.ceil(QUADRATURE_RANGE / h)
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device) * h
    return mean, sd, t, h * torch.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)


def _quadrature_elbo(model, m, log_s):
    """The total ELBO (not divided by N) at phi = (m, log s), by quadrature; differentiable."""
    s = log_s.exp()
    return (_expected_log_likelihood(model.x, model.y, m, s) + _expected_log_prior(m, s, model.prior_scale)
            + _entropy(log_s))


def _generator(seed, like: torch.Tensor):
    if seed is None:
        return None
    return torch.Generator(device=like.device).manual_seed(integer(seed, "seed"))


def _noise(shape, like: torch.Tensor, generator):
    return torch.randn(shape, dtype=like.dtype, device=like.device, generator=generator)


def _batch(batch, n_data: int) -> torch.Tensor:
    if not torch.is_tensor(batch):
        try:
            batch = torch.as_tensor(batch)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"batch must be a 1-D tensor of row indices, got {type(batch).__name__}") from error
    if batch.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8) or batch.dim() != 1:
        raise TypeError(f"batch must be a 1-D integer tensor of row indices (e.g. torch.randperm(N)[:B]), got dtype "
                        f"{batch.dtype} and shape {tuple(batch.shape)}")
    if batch.numel() == 0:
        raise ValueError("batch is empty; a minibatch needs at least one row index")
    if batch.min() < 0 or batch.max() >= n_data:
        raise ValueError(f"batch holds row indices outside 0..{n_data - 1} (N = {n_data} rows)")
    return batch


def _check_model(model):
    if not isinstance(model, BayesianLogisticRegression):
        raise TypeError(f"model must be a vitools.blackbox.BayesianLogisticRegression, got {type(model).__name__}")
    return model


def _q_parameters(q, model):
    """m and s of q = Independent(Normal(m, s), 1), on the model's dtype and device, keeping autograd's graph."""
    _diagonal_gaussian_q(q, model)                              # checks type, shapes, finite, s > 0
    like = model.x
    return (q.base_dist.loc.to(dtype=like.dtype, device=like.device),
            q.base_dist.scale.to(dtype=like.dtype, device=like.device))


# ---------------------------------------------------------------------- gradient estimators

def _loo_control_variate(weight, score):
    """(f_j - a_j) h_j with a_j = sum_{j' != j} f_j' h_j'^2 / sum_{j' != j} h_j'^2, per coordinate (over dim -2 = S).

    ``weight`` (..., S, 1) or (..., S, L), ``score`` (..., S, L). a_j is chapter 4's variance-minimising constant
    a* = E[f h^2] / E[h^2] = Cov(f h, h) / Var(h) (as E[h] = 0), estimated from the other S - 1 samples, so it does
    not depend on z_j and the estimate stays unbiased.
    """
    fh2, h2 = weight * score**2, score**2
    a = (fh2.sum(-2, keepdim=True) - fh2) / (h2.sum(-2, keepdim=True) - h2)
    return (weight - a) * score


def _estimates(model, loc, log_scale, eps, names, batch, batch_scale):
    """Per-sample estimates of grad ELBO / N, {name: {"loc": ..., "log_scale": ...}}, each of shape (..., S, L)."""
    x, y = model._rows(batch)
    scale_ll = model._scale(batch, batch_scale)
    s = log_scale.exp()
    z = loc + s * eps
    out = {}
    if any(name != "reparam" for name in names):
        log_lik = scale_ll * _log_likelihood(x, y, z)                         # (..., S)
        log_p_i = _log_prior_terms(z, model.prior_scale)                      # (..., S, L): log p(z_i)
        log_q_i = -0.5 * eps**2 - log_scale - 0.5 * LOG_2PI                   # log q_i(z_i)
        h = {"loc": eps / s, "log_scale": eps**2 - 1}                         # scores d/d phi_i log q_i(z_i)
        f = (log_lik + (log_p_i - log_q_i).sum(-1))[..., None]                # log p(y, z) - log q(z), (..., S, 1)
        f_i = log_lik[..., None] + log_p_i - log_q_i                          # only the terms that involve z_i
        for name in names:
            if name == "reparam":
                continue
            weight = f_i if name.startswith("score_rb") else f
            if name.endswith("_cv"):
                out[name] = {key: _loo_control_variate(weight, score) for key, score in h.items()}
            else:
                out[name] = {key: weight * score for key, score in h.items()}
    if "reparam" in names:
        g = _grad_log_joint(x, y, z, model.prior_scale, scale_ll)             # grad_z log p(y, z) at z_j
        out["reparam"] = {"loc": g, "log_scale": g * s * eps + 1}             # + d/d log s_i of H(q) = 1
    n = model.n_data
    return {name: {key: value / n for key, value in out[name].items()} for name in names}


def _estimator_names(estimators, n_samples):
    if isinstance(estimators, str):
        estimators = (estimators,)
    try:
        names = tuple(estimators)
    except TypeError as error:
        raise TypeError(f"estimators must be a sequence of names from {ESTIMATORS}, got {estimators!r}") from error
    if not names:
        raise ValueError(f"estimators is empty; name at least one of {ESTIMATORS}")
    for name in names:
        one_of(name, "estimators", ESTIMATORS, "names from " + ", ".join(map(repr, ESTIMATORS)))
    if n_samples < 2 and any(name.endswith("_cv") for name in names):
        raise ValueError("n_samples must be at least 2 for the control-variate estimators (score_cv, score_rb_cv): "
                         "each sample's baseline is estimated from the other samples")
    return names


def elbo_gradients(model, q, *, n_samples: int, estimators=ESTIMATORS, batch=None, batch_scale=None,
                   n_repeats=None, seed=None) -> dict:
    """Per-sample estimates of grad_phi ELBO(q) / N, phi = (m, log s), several estimators on the same draws.

    With z_j = m + s * eps_j, eps_j ~ N(0, I), j = 1..S, f(z) = log p(y, z) - log q(z) (the minibatch log joint when
    ``batch`` is given) and the scores of q = prod_i N(z_i; m_i, s_i^2),

        h_{m_i}(z) = d/dm_i log q(z) = eps_i / s_i,      h_{log s_i}(z) = d/d log s_i log q(z) = eps_i^2 - 1,

    the estimates of the derivative with respect to the parameter phi_i of coordinate i (m_i or log s_i), each
    divided by N, are

    - ``"score"``: f(z_j) h_i(z_j), the score function; unbiased as E_q[h_i] = 0 (the -E_q[h_i] term of the ELBO's
      gradient is dropped);
    - ``"score_cv"``: (f(z_j) - a_ij) h_i(z_j) with the leave-one-out control variate
      a_ij = sum_{j' != j} f(z_j') h_i(z_j')^2 / sum_{j' != j} h_i(z_j')^2, chapter 4's variance-minimising constant
      a_i* = E[f h_i^2] / E[h_i^2] = Cov(f h_i, h_i) / Var(h_i) estimated from the other S - 1 samples: a_ij does not
      depend on z_j, so the estimate stays unbiased (a plug-in estimate of a_i* from all S samples would bias it);
    - ``"score_rb"``: f_i(z_j) h_i(z_j), Rao-Blackwellised per coordinate (Ranganath et al. 2014): f_i keeps only the
      terms of f that involve z_i, f_i(z) = log p(y | x, z) + log p(z_i) - log q_i(z_i). The dropped terms do not
      involve z_i, so under the factorised q they are independent of h_i(z_i) and contribute E[.] E[h_i] = 0;
    - ``"score_rb_cv"``: the same with the leave-one-out control variate built from f_i;
    - ``"reparam"``: the pathwise gradient of log p(y, z_j) + H(q), the entropy in closed form:
      d/dm_i = g_i(z_j), d/d log s_i = g_i(z_j) s_i eps_ji + 1, with g = grad_z log p(y, z).

    All are unbiased for grad_phi ELBO(q) / N (for a minibatch: with ``batch_scale=None``, N/|B|).

    Parameters
    ----------
    model : BayesianLogisticRegression
    q : torch.distributions.Independent(Normal(m, s), 1)
        Batch shape (), event shape (L,). Its parameters need not require grad.
    n_samples : int
        S >= 1 (>= 2 for the control-variate estimators).
    estimators : str or sequence of str
        Names from :data:`ESTIMATORS`.
    batch : tensor of int64, shape (B,), optional
        A minibatch's row indices (the same for all samples); None means all the data.
    batch_scale : float, optional
        The minibatch log-likelihood's factor; None means N/|B| (see :meth:`BayesianLogisticRegression.log_joint`).
    n_repeats : int, optional
        R independent sets of S samples at once.
    seed : int, optional
        Seeds a private generator (the global RNG is left alone); None uses torch's global RNG.

    Returns
    -------
    dict name -> {"loc": tensor, "log_scale": tensor}
        Each (S, L), or (R, S, L) with ``n_repeats``: row j is sample j's estimate; the mean over the S rows is the
        S-sample estimate. The control-variate estimators' rows are not independent of each other (each baseline uses
        the other rows), so measure their variance over repeats (:func:`gradient_variances`), not over rows.
    """
    _check_model(model)
    loc, scale = _diagonal_gaussian_q(q, model)
    n = positive_int(n_samples, "n_samples")
    names = _estimator_names(estimators, n)
    shape = (n, model.z_dim) if n_repeats is None else (positive_int(n_repeats, "n_repeats"), n, model.z_dim)
    if batch is not None:
        batch = _batch(batch, model.n_data)
    model._scale(batch, batch_scale)                                          # checks batch_scale
    eps = _noise(shape, model.x, _generator(seed, model.x))
    rows = model.n_data if batch is None else len(batch)
    with threads_for(math.prod(shape) * rows, model.x.device):               # the (..., S, N) table of logits
        return _estimates(model, loc, scale.log(), eps, names, batch, batch_scale)


def gradient_variances(model, q, *, n_samples: int, n_repeats: int, estimators=ESTIMATORS, seed=None) -> dict:
    """The variance of each S-sample estimate of grad_phi ELBO(q) / N, per coordinate, measured over R repeats.

    For each estimator and repeat, the S-sample estimate is the mean of the S per-sample rows of
    :func:`elbo_gradients` (all estimators on the same draws); its variance over the R repeats (the unbiased sample
    variance) estimates Var[S-sample estimate], which is the per-sample variance / S for the estimators without
    control variates.

    Parameters
    ----------
    model, q, n_samples, estimators, seed
        As :func:`elbo_gradients` (all the data).
    n_repeats : int
        R >= 2.

    Returns
    -------
    dict name -> {"loc": tensor (L,), "log_scale": tensor (L,)}
    """
    integer(n_repeats, "n_repeats", minimum=2)
    grads = elbo_gradients(model, q, n_samples=n_samples, estimators=estimators, n_repeats=n_repeats, seed=seed)
    return {name: {key: g.mean(1).var(0) for key, g in parts.items()} for name, parts in grads.items()}


def exact_elbo_gradient(model, q) -> dict:
    """grad_phi ELBO(q) / N, phi = (m, log s), by autograd through the quadrature ELBO
    (:meth:`BayesianLogisticRegression.elbo` with ``n_samples=None``): exact to rounding, the reference for the
    estimators.

    Returns
    -------
    dict {"loc": tensor (L,), "log_scale": tensor (L,)}
    """
    _check_model(model)
    loc, scale = _diagonal_gaussian_q(q, model)
    m, log_s = loc.clone().requires_grad_(), scale.log().requires_grad_()
    with torch.enable_grad():
        g_m, g_log_s = torch.autograd.grad(_quadrature_elbo(model, m, log_s) / model.n_data, [m, log_s])
    return {"loc": g_m, "log_scale": g_log_s}


# ---------------------------------------------------------------------- fitting

def fit(model, *, estimator: str = "reparam", n_samples: int = 16, n_steps: int = 1000, lr: float = 0.02,
        batch_size=None, batch_scale=None, init_scale: float = 0.1, eval_every: int = 50, seed: int = 0) -> Fit:
    """Fit q = N(m, diag(s^2)) by stochastic gradient ascent on ELBO(q) with one of the estimators.

    Each step draws S samples (and, with ``batch_size``, the next minibatch B of a random order of the rows, a new
    order each epoch), forms the S-sample estimate of grad_phi ELBO with ``estimator`` (:func:`elbo_gradients`), and
    takes an Adam step (Kingma and Ba 2015: ``torch.optim.Adam``'s update, betas (0.9, 0.999), the fixed learning rate
    ``lr``) on phi = (m, log s). With a fixed step size the iterates keep fluctuating around the optimum, by an amount
    that grows with ``lr`` and with the gradient noise (for plain stochastic gradient ascent, steps eta_t with
    sum eta_t = infinity and sum eta_t^2 < infinity, Robbins and Monro's conditions, make them converge; for Adam a
    decaying learning rate carries weaker guarantees). Too large an ``lr`` for a noisy estimator diverges: the run
    stops with a ValueError when q becomes too wide to evaluate.

    Parameters
    ----------
    model : BayesianLogisticRegression
    estimator : str
        One of :data:`ESTIMATORS`.
    n_samples : int
        S per step (>= 2 for the control-variate estimators).
    n_steps : int
        Number of gradient steps.
    lr : float
        Adam's learning rate, > 0.
    batch_size : int, optional
        |B|, rows per step, 1 <= |B| <= N; None uses all N rows.
    batch_scale : float, optional
        The minibatch log-likelihood's factor; None means N/|B| (unbiased). 1.0 forgets it (to show the mistake).
    init_scale : float
        The starting q is N(0, init_scale^2 I).
    eval_every : int
        The full-data ELBO per data point (by quadrature, noise-free) is recorded at step 0, every ``eval_every``
        steps, and after the last.
    seed : int
        Seeds a private generator for the samples and minibatches (the global RNG is left alone).

    Returns
    -------
    vitools.results.Fit
        ``q``: ``Independent(Normal(m, s), 1)`` (detached); ``history``: {"step": [...], "elbo": [...],
        "seconds": [...]}, the ELBO per data point at the recorded steps (step 0 first, ``n_steps`` last) and the
        time spent stepping (not evaluating) until then; ``converged``: None (a fixed number of steps).
    """
    _check_model(model)
    one_of(estimator, "estimator", ESTIMATORS)
    n = positive_int(n_samples, "n_samples")
    _estimator_names((estimator,), n)
    n_steps = positive_int(n_steps, "n_steps")
    lr = finite_number(lr, "lr", 0, strict=True, role="is Adam's learning rate")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
        if batch_size > model.n_data:
            raise ValueError(f"batch_size is {batch_size} but the model has N = {model.n_data} rows; pass at most "
                             f"{model.n_data}")
    elif batch_scale is not None:
        raise ValueError("batch_scale is the factor on a minibatch's log-likelihood: pass batch_size too, or leave "
                         "batch_scale None")
    if batch_scale is not None:
        model._scale(torch.arange(batch_size), batch_scale)                  # checks batch_scale
    init_scale = finite_number(init_scale, "init_scale", 0, strict=True, role="is the starting q's standard deviation")
    eval_every = positive_int(eval_every, "eval_every")
    generator = torch.Generator(device=model.x.device).manual_seed(integer(seed, "seed"))
    like = model.x
    m = torch.zeros(model.z_dim, dtype=like.dtype, device=like.device)
    log_s = torch.full((model.z_dim,), math.log(init_scale), dtype=like.dtype, device=like.device)
    adam = _Adam([m, log_s], lr)
    history, stepping = {"step": [], "elbo": [], "seconds": []}, 0.0

    def record(step):
        with torch.no_grad():
            history["step"].append(step)
            history["elbo"].append(_quadrature_elbo(model, m, log_s).item() / model.n_data)
            history["seconds"].append(stepping)

    rows = batch_size or model.n_data
    order, start = None, model.n_data
    record(0)
    with threads_for(n * rows * model.z_dim, like.device):
        for step in range(1, n_steps + 1):
            started = time.perf_counter()
            batch = None
            if batch_size is not None:
                if start + batch_size > model.n_data:                          # a new epoch: a new order
                    order, start = torch.randperm(model.n_data, generator=generator, device=like.device), 0
                batch, start = order[start:start + batch_size], start + batch_size
            with torch.no_grad():
                eps = _noise((n, model.z_dim), like, generator)
                g = _estimates(model, m, log_s, eps, (estimator,), batch, batch_scale)[estimator]
                adam.ascend([g["loc"].mean(0), g["log_scale"].mean(0)])
            stepping += time.perf_counter() - started
            if step % eval_every == 0 or step == n_steps:
                record(step)
    return Fit(q=Independent(Normal(m.clone(), log_s.exp()), 1), history=history, converged=None)


class _Adam:
    """Adam (Kingma and Ba 2015) written out, for ascent: the update of ``torch.optim.Adam`` (betas (0.9, 0.999),
    eps 1e-8, no weight decay; the tests compare the two) without its first-use cost (importing torch.optim's
    compiler support takes about a second). Updates the parameter tensors in place."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.first = [torch.zeros_like(p) for p in params]
        self.second = [torch.zeros_like(p) for p in params]

    def ascend(self, grads):
        self.t += 1
        (b1, b2), t = self.betas, self.t
        for p, g, m1, m2 in zip(self.params, grads, self.first, self.second):
            m1.mul_(b1).add_(g, alpha=1 - b1)
            m2.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (m2 / (1 - b2**t)).sqrt_().add_(self.eps)
            p.addcdiv_(m1, denom, value=self.lr / (1 - b1**t))


def best_mean_field(model, *, max_iter: int = 100, tol: float = 1e-9) -> Fit:
    """The best mean-field Gaussian q* = argmax ELBO(q) over q = N(m, diag(s^2)), by deterministic optimisation.

    Possible here only because E_q[log p(y | x, z)] is a sum of one-dimensional Gaussian integrals (the quadrature of
    :meth:`BayesianLogisticRegression.elbo_terms`): a reference for the stochastic fits, not a black-box method. With
    u_n = x_n . z ~ N(mu_n, v_n) under q, a_n = E_q[sigmoid(u_n)] and b_n = E_q[sigmoid'(u_n)] (by quadrature;
    d/dmu E[softplus(u)] = E[sigmoid(u)], d/dv E[softplus(u)] = E[sigmoid'(u)] / 2),

        dELBO/dm = X^T (y - a) - m / s_0^2,   d^2 ELBO/dm^2 = -X^T diag(b) X - I / s_0^2 (negative definite),
        dELBO/ds_i = -s_i (sum_n x_ni^2 b_n + 1 / s_0^2) + 1 / s_i.

    Each iteration takes the exact Newton step in m (halved until the ELBO does not decrease), then sets
    s_i^2 = 1 / (sum_n x_ni^2 b_n + 1 / s_0^2), where dELBO/ds_i = 0 for the current b (moved halfway in log s
    while that would lower the ELBO). It starts at the Laplace approximation's mean with s_i = Lambda_ii^{-1/2}
    (Lambda its precision), the answer that would be exact for a Gaussian posterior.

    Parameters
    ----------
    model : BayesianLogisticRegression
    max_iter : int
        Most iterations.
    tol : float
        Stop when the largest entry of the gradient of ELBO / N in (m, log s) falls below it.

    Returns
    -------
    vitools.results.Fit
        ``q``: ``Independent(Normal(m, s), 1)``; ``history``: {"elbo": [...]}, the ELBO per data point from the start
        on, one entry per iteration; ``converged``: whether the gradient fell below ``tol``.
    """
    _check_model(model)
    max_iter = positive_int(max_iter, "max_iter")
    tol = finite_number(tol, "tol", 0, strict=True, role="is the stopping threshold on the ELBO's gradient")
    x, y, s0, n = model.x, model.y, model.prior_scale, model.n_data
    start = laplace(model).q
    m, s = start.mean.clone(), start.precision_matrix.diagonal().rsqrt()
    eye = torch.eye(model.z_dim, dtype=x.dtype, device=x.device)
    elbo = _quadrature_elbo(model, m, s.log()).item()
    history, converged = {"elbo": [elbo / n]}, False
    with threads_for(n * model.z_dim**2, x.device):                          # X^T diag(b) X, the largest operation
        for _ in range(max_iter):
            a, b = _sigmoid_moments(x, m, s)
            grad_m = x.T @ (y - a) - m / s0**2
            grad_log_s = 1 - s**2 * ((x**2).T @ b + 1 / s0**2)
            if max(grad_m.abs().max().item(), grad_log_s.abs().max().item()) / n < tol:
                converged = True
                break
            step = torch.linalg.solve((x.T * b) @ x + eye / s0**2, grad_m)
            m, elbo = _ascend(lambda t: (m + t * step, s), model, elbo)
            _, b = _sigmoid_moments(x, m, s)
            log_s_new = -0.5 * torch.log((x**2).T @ b + 1 / s0**2)
            s, elbo = _ascend(lambda t: (m, torch.exp(s.log() + t * (log_s_new - s.log()))), model, elbo, part=1)
            history["elbo"].append(elbo / n)
    return Fit(q=Independent(Normal(m, s), 1), history=history, converged=converged)


def _ascend(candidate, model, elbo, part=0):
    """The first of t = 1, 1/2, 1/4, ... (down to 2^-20) at which candidate(t) does not lower the ELBO."""
    t = 1.0
    while True:
        m, s = candidate(t)
        value = _quadrature_elbo(model, m, s.log()).item()
        if value >= elbo or t < 1e-6:
            return (m, s)[part], value
        t /= 2


def _sigmoid_moments(x, loc, scale):
    """E_q[sigmoid(u_n)] and E_q[sigmoid'(u_n)], u_n = x_n . z, by the rule of ``_expected_log_likelihood``."""
    mean, sd, t, w = _quadrature_nodes(x, loc, scale)
    p = torch.sigmoid(mean[:, None] + sd[:, None] * t)
    return p @ w, (p * (1 - p)) @ w


# ---------------------------------------------------------------------- the reference posterior

def laplace(model, *, max_iter: int = 50, tol: float = 1e-10) -> Fit:
    """The Laplace approximation N(z_MAP, (-H)^{-1}) to p(z | x, y), with z_MAP found by Newton's method.

    Newton's step uses the exact gradient and Hessian of the (strictly concave) log joint,
    z <- z + t (-H)^{-1} g, g = X^T (y - sigmoid(X z)) - z / s_0^2, H = -X^T diag(p (1 - p)) X - I / s_0^2,
    with t = 1 halved until log p(y, z) does not decrease (t = 1 near the optimum, where Newton's method converges
    quadratically). The covariance is the inverse of -H at z_MAP, the curvature of -log p(y, z) there.

    Parameters
    ----------
    model : BayesianLogisticRegression
    max_iter : int
        Most Newton steps.
    tol : float
        Stop when the Newton decrement g^T (-H)^{-1} g / 2 (the increase of log p(y, z) that the step's quadratic
        model predicts) falls below it.

    Returns
    -------
    vitools.results.Fit
        ``q``: ``MultivariateNormal(z_MAP, covariance_matrix=(-H)^{-1})``; ``history``: {"log_joint": [...],
        "newton_decrement": [...]}, log p(y, z) from z = 0 on and the decrement at each iterate; ``converged``:
        whether the decrement fell below ``tol``.
    """
    _check_model(model)
    max_iter = positive_int(max_iter, "max_iter")
    tol = finite_number(tol, "tol", 0, strict=True, role="is the stopping threshold on the Newton decrement")
    x, y, s0 = model.x, model.y, model.prior_scale
    z = torch.zeros(model.z_dim, dtype=x.dtype, device=x.device)
    value = _log_likelihood(x, y, z) + _log_prior_terms(z, s0).sum()
    history = {"log_joint": [value.item()], "newton_decrement": []}
    with threads_for(model.n_data * model.z_dim**2, x.device):              # X^T D X, the largest operation
        z, converged = _newton(x, y, s0, z, value, history, max_iter, tol)
    covariance = torch.cholesky_inverse(torch.linalg.cholesky(-_hessian(x, z, s0)))
    return Fit(q=MultivariateNormal(z, covariance_matrix=0.5 * (covariance + covariance.T)), history=history,
               converged=converged)


def _newton(x, y, s0, z, value, history, max_iter, tol):
    """Newton's method with step halving on log p(y, z) from z; appends to ``history``; returns (z, converged)."""
    for _ in range(max_iter):
        g = _grad_log_joint(x, y, z, s0, 1.0)
        chol = torch.linalg.cholesky(-_hessian(x, z, s0))
        step = torch.cholesky_solve(g[:, None], chol)[:, 0]                   # (-H)^{-1} g, an ascent direction
        decrement = 0.5 * (g @ step).item()
        history["newton_decrement"].append(decrement)
        if decrement < tol:
            return z, True
        t = 1.0
        while True:
            candidate = z + t * step
            new_value = _log_likelihood(x, y, candidate) + _log_prior_terms(candidate, s0).sum()
            if new_value >= value or t < 1e-10:
                break
            t /= 2
        z, value = candidate, new_value
        history["log_joint"].append(value.item())
    return z, False


def importance_sampling(model, proposal, *, n_samples: int, seed=None) -> dict:
    """Posterior means and variances by self-normalised importance sampling, z_k ~ proposal r, k = 1..K.

    With the importance weights w_k = p(y, z_k) / r(z_k) (computed as log-weights) and the normalised weights
    w~_k = w_k / sum_k' w_k', E_{p(z | x, y)}[g(z)] ~ sum_k w~_k g(z_k). Their quality is summarised by the effective
    sample size ESS = 1 / sum_k w~_k^2, between 1 (one sample carries all the weight) and K (all weights equal).

    Parameters
    ----------
    model : BayesianLogisticRegression
    proposal : torch.distributions.Distribution
        r over z, event shape (L,), batch shape (); typically ``laplace(model).q``.
    n_samples : int
        K.
    seed : int, optional
        Seeds the draws (inside ``torch.random.fork_rng``: the global RNG is left as it was); None uses the global RNG.

    Returns
    -------
    dict
        ``"mean"``, ``"variance"``: tensors (L,), the posterior's means and marginal variances; ``"ess"``: float;
        ``"iwae_bound"``: float, log((1/K) sum_k w_k) / N, one draw of the estimator whose mean is L_K / N, a lower
        bound on log p(y | x) / N that tightens as K grows (chapter 4), per data point.
    """
    _check_model(model)
    if not isinstance(proposal, Distribution):
        raise TypeError(f"proposal must be a torch.distributions.Distribution over z, got {type(proposal).__name__}")
    if proposal.batch_shape != torch.Size() or tuple(proposal.event_shape) != (model.z_dim,):
        raise ValueError(f"proposal must have batch shape () and event shape ({model.z_dim},), one weight per column "
                         f"of x; got batch shape {tuple(proposal.batch_shape)}, event shape "
                         f"{tuple(proposal.event_shape)}")
    k = positive_int(n_samples, "n_samples")
    devices = [model.x.device] if model.x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(integer(seed, "seed"))
        z = proposal.sample((k,)).to(dtype=model.x.dtype, device=model.x.device)
    with threads_for(min(k, _CHUNK) * model.n_data * model.z_dim, model.x.device):
        log_w = torch.cat([model.log_joint(chunk) - proposal.log_prob(chunk).to(dtype=model.x.dtype)
                           for chunk in z.split(_CHUNK)])                        # (K, N) logits a chunk at a time
    weights = torch.softmax(log_w, 0)
    mean = weights @ z
    variance = weights @ (z - mean) ** 2
    return {"mean": mean, "variance": variance, "ess": (1 / (weights**2).sum()).item(),
            "iwae_bound": (torch.logsumexp(log_w, 0) - math.log(k)).item() / model.n_data}
