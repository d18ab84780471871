"""Mean-field variational inference for a Bayesian Gaussian mixture: CAVI and stochastic VI (chapter 5).

The model, C components in R^D, every prior conjugate:

    pi ~ Dir(alpha_0 1),   Lambda_c ~ W(V_0, omega_0),   mu_c | Lambda_c ~ N(m_0, (upsilon_0 Lambda_c)^{-1}),
    c_n | pi ~ Cat(pi),    x_n | c_n = c ~ N(mu_c, Lambda_c^{-1}).

The mean-field family q(c, pi, mu, Lambda) = prod_n q(c_n) q(pi) prod_c q(mu_c, Lambda_c) has optimal factors of
the priors' own forms: q(c_n) = Cat(r_n), q(pi) = Dir(alpha), q(mu_c, Lambda_c) = N(m_c, (upsilon_c Lambda_c)^{-1})
W(Lambda_c; V_c, omega_c). Coordinate ascent (CAVI) alternates the local step (the responsibilities r_nc from the
global factors) and the global step (alpha, upsilon, m, V, omega from the responsibilities); each step maximises the
ELBO
in its block, so the ELBO never decreases. The names of the priors and of the fitted attributes are
scikit-learn's (``BayesianGaussianMixture`` with ``weight_concentration_prior_type="dirichlet_distribution"``,
``covariance_type="full"``): ``covariance_prior`` is V_0^{-1}, and ``covariances_`` is V_c^{-1} / omega_c, the inverse
of E_q[Lambda_c] = omega_c V_c. Stochastic VI (:meth:`BayesianGaussianMixture.fit_stochastic`) replaces the global
step by a step along the natural gradient computed from a mini-batch. Every quantity is float64.
"""

import math
import time
import warnings

import numpy as np
import torch
from torch.distributions import Categorical, Dirichlet, Gamma, MultivariateNormal, Wishart, kl_divergence

from vitools._validate import distribution_checks_off, finite_number, float_tensor, integer, positive_int, tolerance
from vitools.device import threads_for
from vitools.gaussian_mixture import _as_data, _cholesky, _float64

LOG_2PI = math.log(2 * math.pi)


class _Globals:
    """The global factors: Dir(alpha) on pi and N(m_c, (upsilon_c Lambda_c)^{-1}) W(Lambda_c; V_c, omega_c) per
    component.

    ``scale_inv`` is V_c^{-1}, shape (C, D, D); the prior is a _Globals too, its parameters repeated per component.
    """

    def __init__(self, alpha, upsilon, m, scale_inv, omega):
        self.alpha, self.upsilon, self.m, self.scale_inv, self.omega = alpha, upsilon, m, scale_inv, omega
        self.chol = _cholesky(scale_inv, "the global step made V_c^-1 of component {k} not positive definite",
                              symmetric=True)

    @property
    def dim(self) -> int:
        return self.m.shape[1]

    def log_det_scale(self):
        """log |V_c|, shape (C,)."""
        return -2 * self.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def expected_log_weights(self):
        """E_q[log pi_c] = psi(alpha_c) - psi(sum_c' alpha_c')."""
        return torch.digamma(self.alpha) - torch.digamma(self.alpha.sum())

    def expected_log_det_precision(self):
        """E_q[log |Lambda_c|] = sum_{d=1}^D psi((omega_c + 1 - d) / 2) + D log 2 + log |V_c|."""
        d = self.dim
        i = torch.arange(1, d + 1, dtype=self.omega.dtype, device=self.omega.device)
        return torch.digamma((self.omega[:, None] + 1 - i) / 2).sum(-1) + d * math.log(2) + self.log_det_scale()

    def mahalanobis(self, X):
        """(x_n - m_c)^T V_c (x_n - m_c), shape (N, C): V_c = (L L^T)^{-1}, so it is |L^{-1} (x_n - m_c)|^2."""
        diff = X[None, :, :] - self.m[:, None, :]                                    # (C, N, D)
        return torch.linalg.solve_triangular(self.chol, diff.mT, upper=False).square().sum(-2).T

    def log_r_tilde(self, X):
        """The local step's log r~_nc = E[log pi_c] + E[log N(x_n; mu_c, Lambda_c^{-1})], shape (N, C):

        E[log pi_c] + (1/2) E[log |Lambda_c|] - (D/2) log 2 pi
        - (1/2) (D / upsilon_c + omega_c (x_n - m_c)^T V_c (x_n - m_c)).
        """
        d = self.dim
        return (self.expected_log_weights() + 0.5 * self.expected_log_det_precision() - 0.5 * d * LOG_2PI
                - 0.5 * (d / self.upsilon + self.omega * self.mahalanobis(X)))

    def kl_to(self, prior: "_Globals"):
        """KL(q(pi) || p(pi)) + sum_c KL(q(mu_c, Lambda_c) || p(mu_c, Lambda_c)), in nats (for the whole data set).

        Normal-Wishart: E_{q(Lambda)}[KL of the Gaussians] = (1/2) (D upsilon_0/upsilon - D + D log(upsilon/upsilon_0)
        + upsilon_0 omega (m - m_0)^T V (m - m_0)), plus the Wishart KL
        log Z_W(V_0, omega_0) - log Z_W(V, omega) + (omega - omega_0)/2 E[log |Lambda|] - omega D / 2
        + (omega/2) tr(V_0^{-1} V), with the Wishart's normaliser
        log Z_W(V, omega) = (omega/2) log |V| + (omega D / 2) log 2 + log Gamma_D(omega / 2).
        """
        d = self.dim
        weights = kl_divergence(Dirichlet(self.alpha), Dirichlet(prior.alpha))
        gaussian = 0.5 * (d * prior.upsilon / self.upsilon - d + d * torch.log(self.upsilon / prior.upsilon)
                          + prior.upsilon * self.omega * _quadratic(self.chol, self.m - prior.m))
        scale = torch.cholesky_solve(torch.eye(d, dtype=self.m.dtype, device=self.m.device), self.chol)   # V_c
        trace = (prior.scale_inv * scale).sum((-2, -1))
        wishart = (self.log_normaliser() - prior.log_normaliser()
                   + 0.5 * (self.omega - prior.omega) * self.expected_log_det_precision()
                   - 0.5 * self.omega * d + 0.5 * self.omega * trace)
        return weights + (gaussian + wishart).sum()

    def log_normaliser(self):
        """-log Z_W(V_c, omega_c), the Wishart density's log normalising factor, shape (C,)."""
        d = self.dim
        return (-0.5 * self.omega * self.log_det_scale() - 0.5 * self.omega * d * math.log(2)
                - torch.mvlgamma(self.omega / 2, p=d))

    @classmethod
    def update(cls, prior: "_Globals", X, resp, weight: float = 1.0):
        """The global step from responsibilities ``resp`` (N, C), their statistics multiplied by ``weight``.

        N_c = w sum_n r_nc, xbar_c = sum_n r_nc x_n / sum_n r_nc, S_c = sum_n r_nc (x_n - xbar_c)(...)^T / sum_n r_nc:
        alpha_c = alpha_0 + N_c, upsilon_c = upsilon_0 + N_c, m_c = (upsilon_0 m_0 + N_c xbar_c) / upsilon_c,
        omega_c = omega_0 + N_c, V_c^{-1} = V_0^{-1} + N_c Sigmahat_c + (upsilon_0 N_c / upsilon_c) (xbar_c -
        m_0)(xbar_c - m_0)^T.
        """
        counts = resp.sum(0) + 10 * torch.finfo(resp.dtype).eps      # as scikit-learn: no 0/0 for an empty component
        xbar = resp.T @ X / counts[:, None]
        diff = X[None, :, :] - xbar[:, None, :]                                       # (C, N, D)
        scatter = (resp.T[:, :, None] * diff).mT @ diff / counts[:, None, None]
        n_c = weight * counts
        upsilon = prior.upsilon + n_c
        m = (prior.upsilon[:, None] * prior.m + n_c[:, None] * xbar) / upsilon[:, None]
        offset = xbar - prior.m
        scale_inv = (prior.scale_inv + n_c[:, None, None] * scatter
                     + (prior.upsilon * n_c / upsilon)[:, None, None] * offset[:, :, None] * offset[:, None, :])
        return cls(prior.alpha + n_c, upsilon, m, scale_inv, prior.omega + n_c)


def _quadratic(chol, v):
    """v_c^T (L_c L_c^T)^{-1} v_c, shape (C,)."""
    return torch.linalg.solve_triangular(chol, v[:, :, None], upper=False).square().sum((-2, -1))


def _responsibilities(log_r_tilde):
    """r_nc = r~_nc / sum_c' r~_nc' and log sum_c r~_nc, from log r~."""
    log_norm = torch.logsumexp(log_r_tilde, 1)
    return torch.exp(log_r_tilde - log_norm[:, None]), log_norm


class BayesianGaussianMixture:
    """C-component Bayesian Gaussian mixture (full covariances) fitted by mean-field VI.

    Parameters (scikit-learn's names; ``None`` takes scikit-learn's default, set from the data in ``fit``)
    ----------
    n_components : int
        C >= 1.
    weight_concentration_prior : float > 0
        alpha_0 of the symmetric Dirichlet prior on the weights; default 1 / C. Small values favour few components.
    mean_precision_prior : float > 0
        upsilon_0, how many observations' worth of confidence the prior puts in m_0; default 1.
    mean_prior : (D,)
        m_0; default the data mean.
    degrees_of_freedom_prior : float > D - 1
        omega_0 of the Wishart prior; default D.
    covariance_prior : (D, D) symmetric positive definite
        V_0^{-1} (E_p[Lambda_c]^{-1} = V_0^{-1} / omega_0); default the data's covariance matrix.

    Attributes
    ----------
    weight_concentration_, mean_precision_, degrees_of_freedom_ : tensors (C,)
        alpha_c, upsilon_c, omega_c.
    means_ : (C, D)
        m_c.
    covariances_ : (C, D, D)
        V_c^{-1} / omega_c = E_q[Lambda_c]^{-1}, as scikit-learn's.
    weights_ : (C,)
        E_q[pi_c] = alpha_c / sum_c' alpha_c'.
    elbo_ : list of float
        The full ELBO (every constant kept) divided by N, in nats per data point: after each iteration of ``fit``,
        or at each evaluation of ``fit_stochastic`` (then with r set by a local step on all of X).
    seconds_ : list of float
        Time spent fitting (not evaluating) when each entry of ``elbo_`` was recorded.
    n_iter_ : int
        Iterations (``fit``) or mini-batch steps (``fit_stochastic``) run.
    converged_ : bool or None
        Whether an iteration of ``fit`` raised the ELBO by less than ``tol`` (None after ``fit_stochastic``).
    """

    def __init__(self, n_components: int, *, weight_concentration_prior=None, mean_precision_prior=None,
                 mean_prior=None, degrees_of_freedom_prior=None, covariance_prior=None):
        self.n_components = positive_int(n_components, "n_components")
        self.weight_concentration_prior = _optional_positive(
            weight_concentration_prior, "weight_concentration_prior",
            "is alpha_0 of the Dirichlet prior on the weights")
        self.mean_precision_prior = _optional_positive(
            mean_precision_prior, "mean_precision_prior", "is upsilon_0, the prior's confidence in mean_prior")
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self._q = None

    # ------------------------------------------------------------------ fitting

    def fit(self, X, *, resp_init=None, max_iter: int = 100, tol: float = 1e-6, seed: int = 0):
        """CAVI from the responsibilities ``resp_init`` (N, C); returns ``self``.

        The global factors are first set from ``resp_init``; each iteration then runs the local step (r from the
        global factors) and the global step (the global factors from r), so the sequence of iterates is
        scikit-learn's. ``resp_init=None`` draws it as scikit-learn's ``init_params="random"`` does,
        ``RandomState(seed).uniform(size=(N, C))`` normalised by row (rows of zeros are allowed: see
        :func:`random_from_data_resp`). Stops when the ELBO per data point rises by
        less than ``tol`` or after ``max_iter`` iterations.
        """
        X, max_iter, tol = _as_data(X), positive_int(max_iter, "max_iter"), tolerance(tol, "tol")
        prior, resp = self._start(X, resp_init, seed)
        n, d = X.shape
        with threads_for(n * self.n_components * d * d, X.device):
            started, q = time.perf_counter(), _Globals.update(prior, X, resp)
            log_r_tilde = q.log_r_tilde(X)
            self.elbo_, self.seconds_, self.converged_ = [], [], False
            for self.n_iter_ in range(1, max_iter + 1):
                resp, _ = _responsibilities(log_r_tilde)                       # the local step
                q = _Globals.update(prior, X, resp)                             # the global step
                log_r_tilde = q.log_r_tilde(X)                          # serves this ELBO and the next local step
                self.elbo_.append(_elbo(q, prior, resp, log_r_tilde) / n)
                self.seconds_.append(time.perf_counter() - started)
                if len(self.elbo_) > 1 and self.elbo_[-1] - self.elbo_[-2] < tol:
                    self.converged_ = True
                    break
        self._set(q, prior)
        return self

    def fit_stochastic(self, X, *, batch_size: int, n_steps: int, resp_init=None, forgetting_rate: float = 0.7,
                       delay: float = 1.0, batch_scale=None, eval_every: int = 10, seed: int = 0):
        """Stochastic VI: ``n_steps`` natural-gradient steps on the global factors, each from a mini-batch; returns
        ``self``.

        Step t draws a mini-batch B of ``batch_size`` rows (without replacement within an epoch), runs the local
        step on it, forms the global step's answer as if the mini-batch were the whole data set (its statistics
        multiplied by ``batch_scale``, default N / |B|), and moves the natural parameters lambda a fraction
        eta_t = (t + delay)^(-forgetting_rate) of the way there, lambda <- (1 - eta_t) lambda + eta_t lambda_hat: a
        step of
        eta_t along the natural gradient. With 0.5 < forgetting_rate <= 1 the steps satisfy Robbins and Monro's
        conditions sum eta_t = infinity, sum eta_t^2 < infinity. The global factors start, as in :meth:`fit`, from
        the global step on ``resp_init`` (default: scikit-learn's random init from ``seed``). Every ``eval_every`` steps
        (and after the last) the ELBO on all of X is recorded in ``elbo_`` (with r from a local step on all of X), and
        the fitting time so far in ``seconds_``.
        """
        X = _as_data(X)
        n, d = X.shape
        batch_size = positive_int(batch_size, "batch_size")
        if batch_size > n:
            raise ValueError(f"batch_size is {batch_size} but X has {n} rows; pass at most {n}")
        n_steps, eval_every = positive_int(n_steps, "n_steps"), positive_int(eval_every, "eval_every")
        rate = finite_number(forgetting_rate, "forgetting_rate", 0.5, strict=True,
                              role="is u in eta_t = (t + t_0)^-u; pass a value in (0.5, 1]")
        if rate > 1:
            raise ValueError(f"forgetting_rate is {rate:g}; pass a value in (0.5, 1] so that the steps eta_t "
                             f"shrink slowly enough to reach the optimum and fast enough to stop")
        delay = finite_number(delay, "delay", 0, role="is t_0 in eta_t = (t + t_0)^-u")
        scale = n / batch_size if batch_scale is None else finite_number(
            batch_scale, "batch_scale", 0, strict=True, role="multiplies the mini-batch's statistics (default N / B)")
        generator = torch.Generator().manual_seed(integer(seed, "seed"))
        prior, resp = self._start(X, resp_init, seed)
        self.elbo_, self.seconds_, self.converged_ = [], [], None
        started, q = time.perf_counter(), _Globals.update(prior, X, resp)
        order, start, fitting = torch.randperm(n, generator=generator).to(X.device), 0, time.perf_counter() - started
        with threads_for(batch_size * self.n_components * d * d, X.device):
            for self.n_iter_ in range(1, n_steps + 1):
                started = time.perf_counter()
                if start + batch_size > n:                                 # a new epoch: a new order
                    order, start = torch.randperm(n, generator=generator).to(X.device), 0
                batch, start = X[order[start:start + batch_size]], start + batch_size
                batch_resp, _ = _responsibilities(q.log_r_tilde(batch))        # the local step, on the mini-batch only
                q = _natural_step(q, _Globals.update(prior, batch, batch_resp, scale), (self.n_iter_ + delay) ** -rate)
                fitting += time.perf_counter() - started
                if self.n_iter_ % eval_every == 0 or self.n_iter_ == n_steps:
                    log_r_tilde = q.log_r_tilde(X)
                    self.elbo_.append(_elbo(q, prior, _responsibilities(log_r_tilde)[0], log_r_tilde) / n)
                    self.seconds_.append(fitting)
        self._set(q, prior)
        return self

    # ------------------------------------------------------------------ fitted model

    def predict_proba(self, X) -> torch.Tensor:
        """Responsibilities r_nc of the rows of ``X`` under the fitted global factors, shape (N, C)."""
        return _responsibilities(self._fitted().log_r_tilde(self._check_columns(X)))[0]

    def elbo(self, X, *, resp=None) -> float:
        """The full ELBO per data point at the fitted global factors and responsibilities ``resp`` (N, C):

        (1/N) [sum_nc r_nc (log r~_nc - log r_nc) - KL(q(pi, mu, Lambda) || p(pi, mu, Lambda))]; ``resp=None`` takes
        the local step's r (:meth:`predict_proba`), the best r for these global factors.
        """
        q, X = self._fitted(), self._check_columns(X)
        log_r_tilde = q.log_r_tilde(X)
        resp = _responsibilities(log_r_tilde)[0] if resp is None else self._check_resp(resp, X)
        return _elbo(q, self._prior, resp, log_r_tilde) / X.shape[0]

    def elbo_monte_carlo(self, X, *, resp=None, n_samples: int = 1000, seed: int = 0) -> tuple:
        """A Monte Carlo estimate of :meth:`elbo` and its standard error, from the densities themselves.

        (1/N) E_q[log p(X, c, pi, mu, Lambda) - log q(c, pi, mu, Lambda)] with (pi, mu, Lambda) drawn from q by
        :meth:`sample_posterior` and the sum over each c_n done exactly: per draw,
        sum_nc r_nc [log pi_c + log N(x_n; mu_c, Lambda_c^{-1})] + sum_n H(r_n)
        + log p(pi, mu, Lambda) - log q(pi, mu, Lambda).
        It shares no formula with :meth:`elbo` (no digamma, no Wishart expectations), so the two check each other. The
        Gaussian and Wishart densities are torch.distributions'; the Dirichlet's is written from log pi,
        log Gamma(sum_c alpha_c) - sum_c log Gamma(alpha_c) + sum_c (alpha_c - 1) log pi_c, because pi_c itself
        underflows to 0 for a component with alpha_c ~ 1e-3 (see :meth:`sample_posterior`).
        """
        q, prior, X = self._fitted(), self._prior, self._check_columns(X)
        resp = self.predict_proba(X) if resp is None else self._check_resp(resp, X)
        if positive_int(n_samples, "n_samples") < 2:
            raise ValueError("n_samples must be at least 2 for a standard error; pass more draws")
        draws = self.sample_posterior(n_samples, seed=seed)
        log_pi, mu, lam = draws["log_weights"], draws["means"], draws["precisions"]

        def log_density(g: _Globals):
            # log Dir(pi; alpha) prod_c N(mu_c; m_c, (upsilon_c Lambda_c)^-1) W(Lambda_c; V_c, omega_c)
            wishart = Wishart(g.omega, covariance_matrix=torch.cholesky_inverse(g.chol))
            gaussian = MultivariateNormal(g.m, precision_matrix=g.upsilon[:, None, None] * lam)
            dirichlet = torch.lgamma(g.alpha.sum()) - torch.lgamma(g.alpha).sum() + ((g.alpha - 1) * log_pi).sum(-1)
            return dirichlet + wishart.log_prob(lam).sum(-1) + gaussian.log_prob(mu).sum(-1)

        with distribution_checks_off():
            log_lik = MultivariateNormal(mu[:, None], precision_matrix=lam[:, None]).log_prob(X[None, :, None, :])
            entropy = Categorical(probs=resp).entropy().sum()
            local = (resp * (log_pi[:, None, :] + log_lik)).sum((1, 2)) + entropy
            per_draw = (local + log_density(prior) - log_density(q)) / X.shape[0]
        return per_draw.mean().item(), per_draw.std().item() / math.sqrt(n_samples)

    def log_predictive(self, X) -> torch.Tensor:
        """log p(x | data) under q for each row of ``X``, shape (N,): a mixture of multivariate Student t's,

        p(x | data) ~= sum_c (alpha_c / sum_c' alpha_c')
                       St(x; m_c, (1 + upsilon_c) / (upsilon_c (omega_c + 1 - D)) V_c^{-1}, omega_c + 1 - D),
        the exact E_q[p(x | pi, mu, Lambda)] (the integral over q of the mixture density).
        """
        q, X = self._fitted(), self._check_columns(X)
        d, dof = q.dim, q.omega + 1 - q.dim
        # the t's scale matrix is s_c V_c^{-1}: its Mahalanobis distance is the V-one divided by s_c
        spread = (1 + q.upsilon) / (q.upsilon * dof)
        log_t = (torch.lgamma((dof + d) / 2) - torch.lgamma(dof / 2) - 0.5 * d * torch.log(dof * math.pi)
                 + 0.5 * q.log_det_scale() - 0.5 * d * torch.log(spread)
                 - 0.5 * (dof + d) * torch.log1p(q.mahalanobis(X) / (spread * dof)))
        return torch.logsumexp(torch.log(q.alpha / q.alpha.sum()) + log_t, 1)

    def sample_posterior(self, n_samples: int, *, seed: int = 0) -> dict:
        """Draws of the global latents from q: ``weights`` (S, C), ``log_weights``, ``means`` (S, C, D), ``precisions``.

        pi ~ Dir(alpha), Lambda_c ~ W(V_c, omega_c), mu_c | Lambda_c ~ N(m_c, (upsilon_c Lambda_c)^{-1}). pi is drawn in
        log space, pi_c = G_c / sum_c' G_c' with log G_c = log G'_c + log(U_c) / alpha_c, G'_c ~ Gamma(alpha_c + 1),
        U_c ~ U(0, 1) (then G_c ~ Gamma(alpha_c)): for alpha_c ~ 1e-3 pi_c underflows to 0 but log pi_c stays exact.
        The other draws use torch.distributions' samplers; ``precisions`` has shape (S, C, D, D).
        """
        q, n_samples = self._fitted(), positive_int(n_samples, "n_samples")
        with torch.random.fork_rng(devices=[] if q.m.device.type == "cpu" else [q.m.device]):
            torch.manual_seed(integer(seed, "seed"))
            log_gamma = (Gamma(q.alpha + 1, torch.ones_like(q.alpha)).sample((n_samples,)).log()
                         + torch.rand((n_samples, q.alpha.shape[0]), dtype=q.alpha.dtype, device=q.alpha.device).log()
                         / q.alpha)
            log_weights = log_gamma - torch.logsumexp(log_gamma, -1, keepdim=True)
            scale = torch.cholesky_inverse(q.chol)
            with warnings.catch_warnings():      # torch redraws a Wishart sample that rounds to singular, and says so
                warnings.filterwarnings("ignore", "Singular sample detected")
                precisions = Wishart(q.omega, covariance_matrix=scale).sample((n_samples,))
            means = MultivariateNormal(q.m, precision_matrix=q.upsilon[:, None, None] * precisions).sample()
        return {"weights": log_weights.exp(), "log_weights": log_weights, "means": means, "precisions": precisions}

    # ------------------------------------------------------------------ helpers

    def _start(self, X, resp_init, seed):
        """The prior as a _Globals (scikit-learn's defaults from X where None) and the initial responsibilities."""
        n, d = X.shape
        k, dtype, device = self.n_components, X.dtype, X.device
        alpha0 = 1 / k if self.weight_concentration_prior is None else self.weight_concentration_prior
        upsilon0 = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        m0 = X.mean(0) if self.mean_prior is None else _vector(self.mean_prior, "mean_prior", d, device)
        omega0 = float(d) if self.degrees_of_freedom_prior is None else finite_number(
            self.degrees_of_freedom_prior, "degrees_of_freedom_prior", d - 1, strict=True,
            role=f"is omega_0 of the Wishart prior and must exceed D - 1 = {d - 1}")
        if self.covariance_prior is None:
            if n < 2:
                raise ValueError("X has one row, so the default covariance_prior (the data's covariance) is undefined; "
                                 "pass covariance_prior or more rows")
            scale_inv0 = torch.atleast_2d(torch.cov(X.T))
            problem = ("the data's covariance matrix, the default covariance_prior, is singular (a constant column or "
                       "columns that are linear combinations of others); pass covariance_prior, e.g. the identity")
        else:
            scale_inv0 = _float64(self.covariance_prior, "covariance_prior", ndim=2).to(device)
            if scale_inv0.shape != (d, d):
                raise ValueError(f"covariance_prior has shape {tuple(scale_inv0.shape)}; pass a ({d}, {d}) matrix")
            problem = ("covariance_prior must be symmetric positive definite (it is V_0^{{-1}}, the inverse of the "
                       "Wishart prior's scale matrix)")
        _cholesky(scale_inv0[None], problem, symmetric=False)   # format()ted: braces doubled; symmetry checked too
        full = lambda value: torch.full((k,), float(value), dtype=dtype, device=device)   # noqa: E731
        prior = _Globals(full(alpha0), full(upsilon0), m0.expand(k, d), scale_inv0.expand(k, d, d), full(omega0))
        if resp_init is None:
            resp = np.random.RandomState(integer(seed, "seed")).uniform(size=(n, k))
            resp = torch.as_tensor(resp / resp.sum(1, keepdims=True), dtype=dtype, device=device)
        else:
            resp = _float64(resp_init, "resp_init", ndim=2).to(device)
            if resp.shape != (n, k):
                raise ValueError(f"resp_init has shape {tuple(resp.shape)}; pass one row per row of X and one column "
                                 f"per component, ({n}, {k})")
            sums = resp.sum(1)
            if (resp < 0).any() or not torch.all(((sums - 1).abs() < 1e-6) | (sums == 0)) or sums.sum() == 0:
                raise ValueError("resp_init must hold non-negative rows that sum to 1 (divide each row by its sum; "
                                 "a row of zeros leaves its point out of the first global step)")
        return prior, resp

    def _check_resp(self, resp, X):
        """``resp`` as an (N, C) float64 tensor whose rows are distributions over the components."""
        resp = _float64(resp, "resp", ndim=2).to(X.device)
        if resp.shape != (X.shape[0], self.n_components):
            raise ValueError(f"resp has shape {tuple(resp.shape)}; pass one row per row of X and one column per "
                             f"component, ({X.shape[0]}, {self.n_components})")
        if (resp < 0).any() or ((resp.sum(1) - 1).abs() > 1e-6).any():
            raise ValueError("resp must hold non-negative rows that sum to 1 (divide each row by its sum)")
        return resp

    def _set(self, q: _Globals, prior: _Globals):
        self._q, self._prior = q, prior
        self.weight_concentration_, self.mean_precision_, self.means_ = q.alpha, q.upsilon, q.m
        self.degrees_of_freedom_ = q.omega
        self.covariances_ = q.scale_inv / q.omega[:, None, None]
        self.weights_ = q.alpha / q.alpha.sum()

    def _fitted(self) -> _Globals:
        if self._q is None:
            raise RuntimeError("this BayesianGaussianMixture is not fitted yet; call fit(X) or fit_stochastic(X, ...)")
        return self._q

    def _check_columns(self, X):
        X = float_tensor(X, "X", ndim=2).to(torch.float64)
        if X.shape[1] != self._fitted().dim:
            raise ValueError(f"X has {X.shape[1]} columns but the model was fitted to D = {self._q.dim}; "
                             f"pass rows of that length")
        return X.to(self._q.m.device)


def random_from_data_resp(n_samples: int, n_components: int, *, seed: int = 0) -> np.ndarray:
    """Responsibilities that put each component on one data point drawn at random: scikit-learn's
    ``init_params="random_from_data"``, an (N, C) array, one 1 per column at rows ``RandomState(seed).choice(N, C)``."""
    n, k = positive_int(n_samples, "n_samples"), positive_int(n_components, "n_components")
    if k > n:
        raise ValueError(f"n_components is {k} but there are {n} samples; pass at most one component per sample")
    resp = np.zeros((n, k))
    resp[np.random.RandomState(integer(seed, "seed")).choice(n, size=k, replace=False), np.arange(k)] = 1
    return resp


def _elbo(q: _Globals, prior: _Globals, resp, log_r_tilde) -> float:
    """The full ELBO for the whole data set: sum_nc r_nc (log r~_nc - log r_nc) - KL(q(globals) || p(globals)).

    E_q[log p(x, c | pi, mu, Lambda)] - E_q[log q(c)] is the first sum (log r~ holds the expectations);
    E_q[log p(pi, mu, Lambda) - log q(pi, mu, Lambda)] is minus the KL of the global factors to their prior.
    """
    local = (resp * log_r_tilde).sum() - torch.special.xlogy(resp, resp).sum()
    return (local - q.kl_to(prior)).item()


def _natural_step(q: _Globals, target: _Globals, eta: float) -> _Globals:
    """(1 - eta) lambda + eta lambda_hat: a natural-gradient step of size eta on the ELBO, in centred form.

    In the natural parameters (alpha, upsilon, upsilon m, V^{-1} + upsilon m m^T, omega) the step is a straight line.
    Written with upsilon = (1 - eta) upsilon_1 + eta upsilon_2 it is m = ((1 - eta) upsilon_1 m_1 + eta upsilon_2
    m_2) / upsilon and
    V^{-1} = (1 - eta) V_1^{-1} + eta V_2^{-1} + eta (1 - eta) (upsilon_1 upsilon_2 / upsilon) (m_1 - m_2)(m_1 - m_2)^T,
    the same numbers without subtracting upsilon m m^T from a large matrix (exact for data far from the origin), and
    positive definite by construction.
    """
    a, b = (1 - eta) * q.upsilon, eta * target.upsilon
    upsilon = a + b
    m = (a[:, None] * q.m + b[:, None] * target.m) / upsilon[:, None]
    offset = q.m - target.m
    scale_inv = ((1 - eta) * q.scale_inv + eta * target.scale_inv
                 + (a * b / upsilon)[:, None, None] * offset[:, :, None] * offset[:, None, :])
    mix = lambda first, second: (1 - eta) * first + eta * second          # noqa: E731
    return _Globals(mix(q.alpha, target.alpha), upsilon, m, scale_inv, mix(q.omega, target.omega))


def _optional_positive(value, name, role):
    return None if value is None else finite_number(value, name, 0, strict=True, role=role)


def _vector(value, name, d, device):
    vector = _float64(value, name, ndim=1).to(device)
    if vector.shape[0] != d:
        raise ValueError(f"{name} has {vector.shape[0]} entries but X has D = {d} columns; pass one per column")
    return vector
