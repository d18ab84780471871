"""The Gaussian mixture and its EM: the tractable case of chapter 3, where the E-step is exact.

    p(c) = pi_c,    p(x | c) = N(x; mu_c, Sigma_c),    c = 1, ..., C,    x in R^D, full covariances.

For any responsibilities r_nc (a distribution q_n over c for each n) the data set's ELBO

    ELBO(theta, r) = (1/N) sum_n sum_c r_nc [log pi_c + log N(x_n; mu_c, Sigma_c) - log r_nc]

is the average log-likelihood l(theta) = (1/N) sum_n log p_theta(x_n) minus the average
KL(r_n || p_theta(c | x_n)) (:class:`vitools.mixtures.Mixture` computes every term). EM is coordinate ascent on it:
the E-step sets r_nc = p_theta_t(c | x_n), closing the gap; the M-step maximises EM's Q function, the
expected complete-data log-likelihood

    Q(theta, theta_t) = (1/N) sum_n sum_c r_nc log p_theta(x_n, c)
                      = mean over n of ``GaussianMixture(theta).elbo_terms(x, q_t)["expected_log_joint"]``,
                        q_t = ``GaussianMixture(theta_t).posterior(x)``,

in closed form (see :meth:`GaussianMixtureEM.fit`). :func:`fit_by_gradient_ascent` climbs l(theta) directly
instead. Every parameter and result is float64.
"""

import math

import torch
from torch.distributions import MultivariateNormal

from vitools._validate import finite_number, float_array, float_tensor, positive_int, tolerance
from vitools.device import threads_for
from vitools.mixtures import Mixture
from vitools.results import Fit


# C N D entries up to which the E- and M-steps work on all components at once, (C, N, D) arrays; above, one
# component at a time, whose (N, D) arrays stay in the cache (measured on 2 cores, both in one process: batched is
# 1.15x faster at C N D = 1.4e5, the digits in 10-D, and 1.4x slower at 5e5, the 10-D blobs of benchmarks/em.py)
BATCHED_ENTRIES = 2**18


class GaussianMixture(Mixture):
    """p(c) = pi_c, p(x | c) = N(x; mu_c, Sigma_c): a model, differentiable in its parameters.

    Parameters
    ----------
    weights : (C,) positive, summing to 1
        The mixing weights pi.
    means : (C, D)
        The component means mu_c.
    covariances : (C, D, D) symmetric positive definite
        The component covariances Sigma_c.

    The parameters are kept, as float64 tensors on the device of ``means``, in the attributes ``weights``,
    ``means`` and ``covariances``; tensors that require gradients keep them, so autograd differentiates
    every method in theta. The shared methods (``prior``, ``posterior``, ``log_marginal``, ``elbo_terms``, ...)
    are documented in :class:`vitools.mixtures.Mixture`.
    """

    def __init__(self, weights, means, covariances):
        device = _float64(means, "means").device
        self.weights, self.means, self.covariances = _as_parameters(weights, means, covariances, device=device)

    @classmethod
    def _from_checked(cls, weights, means, covariances, scale_tril=None) -> "GaussianMixture":
        """A mixture from parameters that are known to be valid (float64, matching shapes, SPD covariances).

        ``scale_tril``, cholesky(covariances) when the caller has it already, is kept instead of recomputed.
        """
        mixture = cls.__new__(cls)
        mixture.weights, mixture.means, mixture.covariances = weights, means, covariances
        # kept with the tensor it factorises and that tensor's version: a reassigned or edited covariance recomputes
        mixture._known_scale_tril = None if scale_tril is None else (scale_tril, covariances, covariances._version)
        return mixture

    @property
    def n_components(self) -> int:
        return self.weights.shape[0]

    @property
    def x_dim(self) -> int:
        return self.means.shape[1]

    def _mixing_weights(self):
        return self.weights

    def _as_x(self, x):
        x = _float64(x, "x", ndim=2).to(self.means.device)
        if x.shape[1] != self.x_dim:
            raise ValueError(f"x has {x.shape[1]} columns but the mixture has D = {self.x_dim}; "
                             f"pass rows of that length")
        return x

    def _log_likelihood_table(self, x):
        """log N(x_n; mu_c, Sigma_c) for every row and component, shape (N, C) (:func:`_gaussian_log_density`)."""
        return _gaussian_log_density(x, self.means, self._scale_tril())

    def _component_distribution(self, c):
        return MultivariateNormal(self.means[c], scale_tril=self._scale_tril()[c], validate_args=False)

    def _draw_given(self, c, gen):
        noise = torch.randn(c.shape[0], self.x_dim, 1, generator=gen, dtype=self.means.dtype, device=self.means.device)
        return self.means[c] + (self._scale_tril()[c] @ noise)[..., 0]

    def _scale_tril(self):
        """cholesky(Sigma_c): the factor EM computed with the parameters, or else computed at each use (a fresh
        autograd graph per call when the covariances need one)."""
        known = getattr(self, "_known_scale_tril", None)
        if known is not None and known[1] is self.covariances and known[2] == self.covariances._version:
            return known[0]
        return torch.linalg.cholesky(self.covariances)


def _gaussian_log_density(x, means, scale_tril):
    """log N(x_n; mu_c, L_c L_c^T) = -D/2 log(2 pi) - sum_i log L_c,ii - |L_c^{-1} (x_n - mu_c)|^2 / 2, shape (N, C).

    Plain tensor maths (``MultivariateNormal.log_prob`` is the same formula; the tests compare it with scipy's):
    L_c^{-1} is computed once per component, and L_c^{-1} (x_n - mu_c) = x_n L_c^{-T} - mu_c L_c^{-T} for all n at
    once, as scikit-learn does.
    """
    n, d = x.shape
    c = means.shape[0]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)
    inverse_t = torch.linalg.solve_triangular(scale_tril, eye, upper=False).mT             # L_c^{-T}, (C, D, D)
    shift = (means[:, None, :] @ inverse_t)[:, 0]                                          # mu_c L_c^{-T}, (C, D)
    if n * c * d <= BATCHED_ENTRIES:     # every component in one product: x (N, D) @ [L_1^{-T} ... L_C^{-T}] (D, C D)
        whitened = x @ inverse_t.permute(1, 0, 2).reshape(d, c * d) - shift.reshape(c * d)
        squared = whitened.square().reshape(n, c, d).sum(-1)
    else:                                # one component at a time: each (N, D) product stays in the cache
        squared = torch.stack([(x @ inverse_t[k] - shift[k]).square().sum(-1) for k in range(c)], dim=1)
    log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)                          # (C,)
    return -0.5 * squared - log_det - 0.5 * d * math.log(2 * math.pi)


class GaussianMixtureEM:
    """C-component Gaussian mixture with full covariances, fitted by EM from a given init.

    Parameters
    ----------
    n_components : int
        The number of components C, >= 1.
    reg_covar : float
        Added to every covariance diagonal in the M-step (>= 0), exactly as scikit-learn does.

    Attributes
    ----------
    Set by :meth:`fit`; ``mixture_``, ``weights_``, ``means_`` and ``covariances_`` are None before it.

    mixture_ : GaussianMixture
        The fitted model theta_T, after the last iteration.
    weights_, means_, covariances_ : tensors, shapes (C,), (C, D), (C, D, D)
        Its parameters.
    log_likelihood_ : list of float, length n_iter_ + 1
        [l(theta_0), ..., l(theta_T)]: the average log-likelihood (1/N) sum_n log p(x_n) of the init, then
        after each iteration.
    history_ : list of GaussianMixture, length n_iter_ + 1
        theta_0, ..., theta_T, with detached parameters.
    n_iter_ : int
        The number of iterations T run.
    converged_ : bool
        Whether an iteration improved l by less than ``tol`` before ``max_iter``.
    """

    def __init__(self, n_components: int, *, reg_covar: float = 1e-6):
        self.n_components = positive_int(n_components, "n_components")
        self.reg_covar = _reg_covar(reg_covar)
        self.mixture_ = self.weights_ = self.means_ = self.covariances_ = None

    def fit(self, X, *, weights_init, means_init, covariances_init, max_iter: int = 100,
            tol: float = 1e-8) -> "GaussianMixtureEM":
        """Run EM from theta_0 = the init on ``X`` (shape (N, D)); returns ``self``.

        Iteration t: the E-step with theta_{t-1} gives r_nc = p(c | x_n); the M-step, the maximiser of
        Q(theta, theta_{t-1}), gives N_c = sum_n r_nc, pi_c = N_c / N, mu_c = sum_n r_nc x_n / N_c and
        Sigma_c = sum_n r_nc (x_n - mu_c)(x_n - mu_c)^T / N_c + reg_covar I. EM stops when
        l(theta_t) - l(theta_{t-1}) < ``tol`` or after ``max_iter`` iterations.
        """
        max_iter, tol = positive_int(max_iter, "max_iter"), tolerance(tol, "tol")
        X = _as_data(X)
        weights, means, covariances = (t.detach().clone() for t in _as_parameters(
            weights_init, means_init, covariances_init, device=X.device, x_dim=X.shape[1], suffix="_init"))
        if weights.shape[0] != self.n_components:
            raise ValueError(f"weights_init has {weights.shape[0]} entries but n_components is {self.n_components}; "
                             f"pass one weight, mean and covariance per component")
        if X.shape[0] < self.n_components:
            raise ValueError(f"X has {X.shape[0]} rows but n_components is {self.n_components}; "
                             f"pass at least n_components rows")
        n, d = X.shape
        with threads_for(n * self.n_components * d * d, X.device):
            self._run(X, GaussianMixture._from_checked(weights, means, covariances), max_iter, tol)
        return self

    def _run(self, X, mixture, max_iter, tol):
        """The EM iterations from the checked init ``mixture``; sets the fitted attributes."""
        resp, current = mixture._e_step(X)
        self.history_, self.log_likelihood_, self.converged_ = [mixture], [current], False
        for self.n_iter_ in range(1, max_iter + 1):
            weights, means, covariances = _m_step(X, resp, self.reg_covar)
            chol = _cholesky(covariances, f"the M-step of iteration {self.n_iter_} made covariance {{k}} singular; "
                                          f"increase reg_covar (now {self.reg_covar:g}) or start from another init",
                             symmetric=True)
            mixture = GaussianMixture._from_checked(weights, means, covariances, chol)
            resp, current = mixture._e_step(X)
            self.history_.append(mixture)
            self.log_likelihood_.append(current)
            if current - self.log_likelihood_[-2] < tol:
                self.converged_ = True
                break
        self.mixture_ = mixture
        self.weights_, self.means_, self.covariances_ = mixture.weights, mixture.means, mixture.covariances

    def predict_proba(self, X) -> torch.Tensor:
        """Responsibilities p(c | x_n) under the fitted parameters, shape (N, C) (``mixture_.posterior(X).probs``)."""
        return self._fitted().posterior(self._check_columns(X)).probs

    def score(self, X) -> float:
        """Average log-likelihood of the rows of ``X`` under the fitted parameters (as scikit-learn's score)."""
        return self._fitted().log_marginal(self._check_columns(X)).mean().item()

    def _fitted(self) -> GaussianMixture:
        if self.mixture_ is None:
            raise RuntimeError("this GaussianMixtureEM has no parameters yet; "
                               "call fit(X, weights_init=..., means_init=..., covariances_init=...) first")
        return self.mixture_

    def _check_columns(self, X):
        X, d = float_tensor(X, "X", ndim=2), self._fitted().x_dim
        if X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1]} columns but the model was fitted to D = {d}; "
                             f"pass rows of that length")
        return X


def fit_by_gradient_ascent(X, *, weights_init, means_init, covariances_init, n_steps: int = 300, lr: float = 0.05,
                           reg_covar: float = 1e-6) -> Fit:
    """Maximise l(theta) = (1/N) sum_n log p_theta(x_n) directly with Adam: the same fixed points as EM, another path.

    Unconstrained parameters: pi = softmax(a), mu free, Sigma_c = T_c T_c^T + reg_covar I with
    T_c lower-triangular with diagonal exp(v_c). They start at a = log pi_init and
    T_c = cholesky(Sigma_init_c - reg_covar I), which reproduce the init exactly.

    Returns
    -------
    Fit
        ``model``: the fitted GaussianMixture (detached parameters); ``history["log_likelihood"]``: l(init),
        then l after each of the ``n_steps`` Adam steps (length n_steps + 1); ``converged``: None.
    """
    X = _as_data(X)
    weights, means, covariances = (t.detach() for t in _as_parameters(
        weights_init, means_init, covariances_init, device=X.device, x_dim=X.shape[1], suffix="_init"))
    n_steps = positive_int(n_steps, "n_steps")
    lr, reg_covar = finite_number(lr, "lr", 0, strict=True, role="is Adam's step size"), _reg_covar(reg_covar)
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    chol = _cholesky(covariances - reg_covar * eye, "covariances_init[{k}] - reg_covar * I is not positive definite; "
                                                   "lower reg_covar")
    logits = weights.log().requires_grad_()
    loc = means.clone().requires_grad_()
    raw = (chol.tril(-1) + torch.diag_embed(chol.diagonal(dim1=-2, dim2=-1).log())).requires_grad_()

    def mixture():
        tril = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
        return GaussianMixture._from_checked(torch.softmax(logits, 0), loc, tril @ tril.mT + reg_covar * eye)

    def objective(model, step):
        value = torch.logsumexp(model._log_joint_table(X), dim=1).mean()
        if not torch.isfinite(value):
            raise RuntimeError(f"the log-likelihood became {value.item()} after {step} steps; lower lr (now {lr:g})")
        return value

    optimiser = torch.optim.Adam([logits, loc, raw], lr=lr)
    history = []
    for step in range(n_steps):
        optimiser.zero_grad()
        value = objective(mixture(), step)
        (-value).backward()
        optimiser.step()
        history.append(value.item())
    with torch.no_grad():
        fitted = mixture()
        history.append(objective(fitted, n_steps).item())
    fitted.means = fitted.means.detach()     # the leaf itself; the rest was computed without gradients
    return Fit(model=fitted, history={"log_likelihood": history})


def _m_step(X, resp, reg_covar):
    """The closed-form maximiser (pi, mu, Sigma) of Q(theta, theta_t) for fixed responsibilities (see fit)."""
    n_k = resp.sum(0)
    if torch.any(n_k == 0):
        k = torch.nonzero(n_k == 0)[0, 0].item()
        raise ValueError(f"component {k} has no responsibility left (N_c = 0), so its mean would be 0 / 0; "
                         f"start means_init[{k}] nearer the data or use fewer components")
    means = resp.T @ X / n_k[:, None]
    if X.numel() * means.shape[0] <= BATCHED_ENTRIES:
        diff = X - means[:, None, :]                                                     # (C, N, D)
        covariances = (resp.T[:, :, None] * diff).mT @ diff
    else:                                # one component at a time, as scikit-learn does
        covariances = torch.stack([(resp[:, c, None] * (X - means[c])).T @ (X - means[c]) for c in range(len(n_k))])
    covariances = covariances / n_k[:, None, None]
    return n_k / X.shape[0], means, covariances + reg_covar * torch.eye(X.shape[1], dtype=X.dtype, device=X.device)


def _cholesky(covariances, message, *, symmetric=False):
    """Lower Cholesky factors of a (C, D, D) stack; ValueError(message.format(k=...)) for the first not SPD.

    A matrix fails if the factorisation fails or, unless it is ``symmetric`` by construction (an M-step's),
    if it is not symmetric to 1e-8 relative.
    """
    chol, info = torch.linalg.cholesky_ex(covariances)
    failed = info != 0
    if not symmetric:
        asymmetry = (covariances - covariances.mT).abs().amax((-2, -1))
        failed |= asymmetry > 1e-8 * covariances.abs().amax((-2, -1))
    if failed.any():
        raise ValueError(message.format(k=torch.nonzero(failed)[0, 0].item()))
    return chol


def _as_data(X) -> torch.Tensor:
    """``X`` as a float64 (N, D) tensor with at least one row and one column."""
    X = _float64(X, "X", ndim=2)
    if 0 in X.shape:
        raise ValueError(f"X has shape {tuple(X.shape)}; pass at least one row and one column")
    return X


def _as_parameters(weights, means, covariances, *, device, x_dim=None, suffix=""):
    """(pi, mu, Sigma) in float64 on ``device``, after checking shapes, values and that every Sigma_c is SPD.

    D is ``x_dim`` (the data's, in a fit) or else the number of columns of ``means``. ``suffix`` ("_init" in
    the fits) completes the parameter names used in the error messages.
    """
    names = [name + suffix for name in ("weights", "means", "covariances")]
    weights, means, covariances = (_float64(value, name, ndim).to(device)
                                   for value, name, ndim in zip((weights, means, covariances), names, (1, 2, 3)))
    k = weights.shape[0]
    d, source = (means.shape[1], names[1]) if x_dim is None else (x_dim, "X")
    for name, value, shape in ((names[1], means, (k, d)), (names[2], covariances, (k, d, d))):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match {names[0]} (C = {k}) and {source} (D = {d}), "
                             f"got {tuple(value.shape)}")
    if not torch.all(weights > 0):
        raise ValueError(f"{names[0]} must be > 0 (smallest {weights.min().item():.3g}); "
                         f"give every component some mass")
    total = weights.sum().item()
    if abs(total - 1) > 1e-6:
        raise ValueError(f"{names[0]} sums to {total:.6g}, not 1; divide it by its total first")
    _cholesky(covariances, f"{names[2]}[{{k}}] is not symmetric positive definite (Cholesky failed); "
                           f"pass a symmetric matrix with positive eigenvalues, e.g. add a multiple of I")
    return weights, means, covariances


def _float64(value, name, ndim=None) -> torch.Tensor:
    """``value`` as a float64 tensor with finite entries: a tensor keeps its device (and its autograd graph), anything
    else (an array, a nested list) is read at float64 precision, not at torch's default float32."""
    return float_tensor(value if torch.is_tensor(value) else float_array(value, name), name, ndim).to(torch.float64)


def _reg_covar(value) -> float:
    return finite_number(value, "reg_covar", 0, role="is added to every covariance diagonal")
