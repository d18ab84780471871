"""EM for a Gaussian mixture: the tractable case of chapter 3, where the E-step is exact.

    p(c) = pi_c,    p(x | c) = N(x; mu_c, Sigma_c),    c = 1, ..., C,    x in R^D, full covariances.

For any responsibilities r_nc (a distribution over c for each n) the data set's ELBO

    ELBO(theta, r) = (1/N) sum_n sum_c r_nc [log pi_c + log N(x_n; mu_c, Sigma_c) - log r_nc]

is the average log-likelihood l(theta) minus the average KL(r_n || p_theta(c | x_n)). The E-step
sets r to the exact posterior, closing the gap; the M-step maximises the ELBO in closed form.
Every function accepts numpy arrays or tensors and computes in float64 on the device of ``X``.

The second half is variational EM for the linear-Gaussian model (:func:`variational_em`): the
same coordinate ascent with q_n restricted to a family that may not contain the posterior.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch.distributions import MultivariateNormal

from vitools._validate import finite_number, float_tensor, integer, one_of, positive_int, tolerance
from vitools.lvm import LinearGaussianLVM


def component_log_joint(X, weights, means, covariances) -> torch.Tensor:
    """log p(x_n, c) = log pi_c + log N(x_n; mu_c, Sigma_c), shape (N, C). Differentiable.

    Parameters
    ----------
    X : (N, D) data; weights : (C,) positive, summing to 1; means : (C, D);
    covariances : (C, D, D) symmetric positive definite.
    """
    X, weights, means, _, chol = _as_inputs(X, weights, means, covariances)
    return _log_joint(X, weights, means, chol)


def log_likelihood(X, weights, means, covariances) -> torch.Tensor:
    """Average log-likelihood l(theta) = (1/N) sum_n log sum_c pi_c N(x_n; mu_c, Sigma_c), a scalar. Differentiable."""
    return torch.logsumexp(component_log_joint(X, weights, means, covariances), dim=1).mean()


def responsibilities(X, weights, means, covariances) -> torch.Tensor:
    """The E-step: the exact posterior r_nc = p_theta(c | x_n) = softmax_c log p(x_n, c), shape (N, C)."""
    return torch.softmax(component_log_joint(X, weights, means, covariances), dim=1)


def mixture_elbo(X, resp, weights, means, covariances) -> torch.Tensor:
    """Data-set ELBO (1/N) sum_n sum_c r_nc [log pi_c + log N(x_n; mu_c, Sigma_c) - log r_nc], with 0 log 0 = 0.

    Equals :func:`log_likelihood` when ``resp`` (shape (N, C), rows summing to 1) is the exact
    posterior, and falls short of it by the average KL(r_n || p_theta(c | x_n)) otherwise.
    """
    log_joint = component_log_joint(X, weights, means, covariances)
    resp = _check_resp(resp, log_joint)
    return (resp * log_joint + torch.special.entr(resp)).sum(1).mean()


def expected_complete_log_likelihood(X, resp, weights, means, covariances) -> torch.Tensor:
    """EM's Q(theta, theta_t) = (1/N) sum_n sum_c r_nc log p_theta(x_n, c), a scalar. Differentiable in theta.

    ``resp`` (shape (N, C), rows summing to 1) holds the responsibilities r_nc = p_theta_t(c | x_n)
    of the *fixed* theta_t; ``weights``, ``means``, ``covariances`` are theta. Gradients flow to theta
    only (``resp`` is detached), so by Fisher's identity the gradient of Q(., theta_t) at theta = theta_t
    equals the gradient of :func:`log_likelihood` there. :func:`mixture_elbo` is Q plus the
    responsibilities' average entropy, which does not depend on theta.
    """
    log_joint = component_log_joint(X, weights, means, covariances)
    return (_check_resp(resp, log_joint).detach() * log_joint).sum(1).mean()


def _check_resp(resp, log_joint):
    resp = float_tensor(resp, "resp", ndim=2).to(dtype=log_joint.dtype, device=log_joint.device)
    if resp.shape != log_joint.shape:
        raise ValueError(f"resp must have shape (N, C) = {tuple(log_joint.shape)}, got {tuple(resp.shape)}")
    if torch.any(resp < 0) or not torch.allclose(resp.sum(1), torch.ones_like(resp[:, 0]), rtol=0, atol=1e-6):
        raise ValueError("resp must hold one distribution per row: entries >= 0 and each row summing to 1")
    return resp


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
    Set by :meth:`fit`; ``weights_``, ``means_`` and ``covariances_`` are None before it.

    weights_, means_, covariances_ : tensors, shapes (C,), (C, D), (C, D, D)
        The parameters theta_T after the last iteration.
    log_likelihood_ : list of float, length n_iter_ + 1
        [l(theta_0), ..., l(theta_T)]: the average log-likelihood of the init, then after each iteration.
    history_ : list of (weights, means, covariances), length n_iter_ + 1
        theta_0, ..., theta_T as detached tensors.
    n_iter_ : int
        The number of iterations T run.
    converged_ : bool
        Whether an iteration improved l by less than ``tol`` before ``max_iter``.
    """

    def __init__(self, n_components: int, reg_covar: float = 1e-6):
        self.n_components = positive_int(n_components, "n_components")
        self.reg_covar = _reg_covar(reg_covar)
        self.weights_ = self.means_ = self.covariances_ = None

    def fit(self, X, weights_init, means_init, covariances_init, max_iter: int = 100,
            tol: float = 1e-8) -> "GaussianMixtureEM":
        """Run EM from theta_0 = the init on ``X`` (shape (N, D)); returns ``self``.

        Iteration t: the E-step with theta_{t-1} gives r_nc = p(c | x_n); the M-step gives
        N_c = sum_n r_nc, pi_c = N_c / N, mu_c = sum_n r_nc x_n / N_c and
        Sigma_c = sum_n r_nc (x_n - mu_c)(x_n - mu_c)^T / N_c + reg_covar I. EM stops when
        l(theta_t) - l(theta_{t-1}) < ``tol`` or after ``max_iter`` iterations.
        """
        max_iter, tol = positive_int(max_iter, "max_iter"), tolerance(tol, "tol")
        X, *theta, chol = (t.detach() for t in _as_inputs(X, weights_init, means_init, covariances_init, "_init"))
        if theta[0].shape[0] != self.n_components:
            raise ValueError(f"weights_init has {theta[0].shape[0]} entries but n_components is {self.n_components}; "
                             f"pass one weight, mean and covariance per component")
        if X.shape[0] < self.n_components:
            raise ValueError(f"X has {X.shape[0]} rows but n_components is {self.n_components}; "
                             f"pass at least n_components rows")
        theta = tuple(t.clone() for t in theta)  # as_tensor may share memory with the caller's arrays
        resp, current = _e_step(X, theta[0], theta[1], chol)
        self.history_, self.log_likelihood_, self.converged_ = [theta], [current], False
        for self.n_iter_ in range(1, max_iter + 1):
            theta = _m_step(X, resp, self.reg_covar)
            chol = _cholesky(theta[2], f"the M-step of iteration {self.n_iter_} made covariance {{k}} singular; "
                                       f"increase reg_covar (now {self.reg_covar:g}) or start from another init")
            resp, current = _e_step(X, theta[0], theta[1], chol)
            self.history_.append(theta)
            self.log_likelihood_.append(current)
            if current - self.log_likelihood_[-2] < tol:
                self.converged_ = True
                break
        self.weights_, self.means_, self.covariances_ = theta
        return self

    def predict_proba(self, X) -> torch.Tensor:
        """Responsibilities p(c | x_n) under the fitted parameters, shape (N, C)."""
        return responsibilities(self._check_columns(X), *self._parameters())

    def score(self, X) -> float:
        """Average log-likelihood of the rows of ``X`` under the fitted parameters (as scikit-learn's score)."""
        return log_likelihood(self._check_columns(X), *self._parameters()).item()

    def _parameters(self):
        if self.means_ is None:
            raise RuntimeError("this GaussianMixtureEM has no parameters yet; "
                               "call fit(X, weights_init, means_init, covariances_init) first")
        return self.weights_, self.means_, self.covariances_

    def _check_columns(self, X):
        X, d = float_tensor(X, "X", ndim=2), self._parameters()[1].shape[1]
        if X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1]} columns but the model was fitted to D = {d}; pass rows of that length")
        return X


def fit_by_gradient_ascent(X, weights_init, means_init, covariances_init, steps: int = 300, lr: float = 0.05,
                           reg_covar: float = 1e-6):
    """Maximise :func:`log_likelihood` directly with Adam: the same fixed points as EM, another path.

    Unconstrained parameters: pi = softmax(a), mu free, Sigma_c = T_c T_c^T + reg_covar I with
    T_c lower-triangular with diagonal exp(v_c). They start at a = log pi_init and
    T_c = cholesky(Sigma_init_c - reg_covar I), which reproduce the init exactly.

    Returns
    -------
    weights, means, covariances : tensors, shapes (C,), (C, D), (C, D, D), detached
    history : list of float, length steps + 1
        l(init), then l after each Adam step.
    """
    X, weights, means, covariances, _ = (t.detach() for t in _as_inputs(X, weights_init, means_init,
                                                                         covariances_init, "_init"))
    steps = positive_int(steps, "steps")
    lr, reg_covar = finite_number(lr, "lr", 0, strict=True, role="is Adam's step size"), _reg_covar(reg_covar)
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    chol = _cholesky(covariances - reg_covar * eye, "covariances_init[{k}] - reg_covar * I is not positive definite; "
                                                   "lower reg_covar")
    logits = weights.log().requires_grad_()
    loc = means.clone().requires_grad_()
    raw = (chol.tril(-1) + torch.diag_embed(chol.diagonal(dim1=-2, dim2=-1).log())).requires_grad_()

    def parameters():
        tril = raw.tril(-1) + torch.diag_embed(raw.diagonal(dim1=-2, dim2=-1).exp())
        return torch.softmax(logits, 0), loc, tril @ tril.mT + reg_covar * eye

    def objective(step):
        pi, mu, sigma = parameters()
        value = torch.logsumexp(_log_joint(X, pi, mu, torch.linalg.cholesky(sigma)), dim=1).mean()
        if not torch.isfinite(value):
            raise RuntimeError(f"the log-likelihood became {value.item()} after {step} steps; lower lr (now {lr:g})")
        return value

    optimiser = torch.optim.Adam([logits, loc, raw], lr=lr)
    history = []
    for step in range(steps):
        optimiser.zero_grad()
        value = objective(step)
        (-value).backward()
        optimiser.step()
        history.append(value.item())
    with torch.no_grad():
        history.append(objective(steps).item())
        pi, mu, sigma = parameters()
    return pi, mu.detach(), sigma, history


def _log_joint(X, weights, means, chol):
    """log pi_c + log N(x_n; mu_c, T_c T_c^T) for every row and component, shape (N, C)."""
    gaussians = MultivariateNormal(means, scale_tril=chol, validate_args=False)
    return torch.log(weights) + gaussians.log_prob(X[:, None, :])


def _e_step(X, weights, means, chol):
    """Responsibilities p(c | x_n), shape (N, C), and the average log p(x_n) as a float."""
    log_joint = _log_joint(X, weights, means, chol)
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return torch.exp(log_joint - log_px), log_px.mean().item()


def _m_step(X, resp, reg_covar):
    """The closed-form maximiser (pi, mu, Sigma) of the ELBO for fixed responsibilities (see fit)."""
    n_k = resp.sum(0)
    if torch.any(n_k == 0):
        k = torch.nonzero(n_k == 0)[0, 0].item()
        raise ValueError(f"component {k} has no responsibility left (N_c = 0), so its mean would be 0 / 0; "
                         f"start means_init[{k}] nearer the data or use fewer components")
    means = resp.T @ X / n_k[:, None]
    diff = X - means[:, None, :]  # (C, N, D)
    covariances = (resp.T[:, :, None] * diff).mT @ diff / n_k[:, None, None]
    return n_k / X.shape[0], means, covariances + reg_covar * torch.eye(X.shape[1], dtype=X.dtype, device=X.device)


def _cholesky(covariances, message):
    """Lower Cholesky factors of a (C, D, D) stack; ValueError(message.format(k=...)) for the first not SPD.

    A matrix fails if the factorisation fails or if it is not symmetric to 1e-8 relative.
    """
    chol, info = torch.linalg.cholesky_ex(covariances)
    asymmetry = (covariances - covariances.mT).abs().amax((-2, -1))
    failed = torch.nonzero((info != 0) | (asymmetry > 1e-8 * covariances.abs().amax((-2, -1))))
    if failed.numel():
        raise ValueError(message.format(k=failed[0, 0].item()))
    return chol


def _as_inputs(X, weights, means, covariances, suffix=""):
    """(X, pi, mu, Sigma, cholesky(Sigma)) in float64 on X's device, after checking shapes and values.

    ``suffix`` ("_init" in fit) completes the parameter names used in the error messages.
    """
    X = float_tensor(X, "X", ndim=2).to(torch.float64)
    if 0 in X.shape:
        raise ValueError(f"X has shape {tuple(X.shape)}; pass at least one row and one column")
    names = [name + suffix for name in ("weights", "means", "covariances")]
    weights, means, covariances = (float_tensor(value, name, ndim).to(dtype=X.dtype, device=X.device)
                                   for value, name, ndim in zip((weights, means, covariances), names, (1, 2, 3)))
    k, d = weights.shape[0], X.shape[1]
    for name, value, shape in ((names[1], means, (k, d)), (names[2], covariances, (k, d, d))):
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} to match {names[0]} (C = {k}) and X (D = {d}), "
                             f"got {tuple(value.shape)}")
    if not torch.all(weights > 0):
        raise ValueError(f"{names[0]} must be > 0 (smallest {weights.min().item():.3g}); "
                         f"give every component some mass")
    total = weights.sum().item()
    if abs(total - 1) > 1e-6:
        raise ValueError(f"{names[0]} sums to {total:.6g}, not 1; divide it by its total first")
    chol = _cholesky(covariances, f"{names[2]}[{{k}}] is not symmetric positive definite (Cholesky failed); "
                                  f"pass a symmetric matrix with positive eigenvalues, e.g. add a multiple of I")
    return X, weights, means, covariances, chol


def _reg_covar(value) -> float:
    return finite_number(value, "reg_covar", 0, role="is added to every covariance diagonal")


# ---------------------------------------------------------------- variational EM (linear-Gaussian model)

FAMILIES = ("diagonal", "full")


@dataclass
class VariationalEMResult:
    """The outcome of :func:`variational_em`.

    ``elbo[t]`` is the data set's ELBO(theta_t, q_{1:N}) = (1/N) sum_n ELBO(x_n; theta_t, q_n) right
    after the E-step on theta_t, and ``log_marginal[t]`` is l(theta_t) = (1/N) sum_n log p_theta_t(x_n),
    for the same theta_t (t = 0 is the initialisation). Their difference is the average
    KL(q_n || p_theta_t(z | x_n)) left by the family.
    """

    model: LinearGaussianLVM
    q: MultivariateNormal
    elbo: list
    log_marginal: list


def best_q_in_family(model: LinearGaussianLVM, x, family: str) -> MultivariateNormal:
    """The variational E-step: argmax over q_n in the family of ELBO(x_n; theta, q_n), for every row of x.

    ``"full"``: the exact posterior N(mu_{z|x_n}, Sigma_{z|x}), so the bound becomes tight (plain EM).
    ``"diagonal"`` (mean field): q_n = N(m_n, diag(s^2)) with m_n = mu_{z|x_n} and s_i^2 = 1 / Lambda_ii,
    Lambda = Sigma_{z|x}^{-1}: the reverse-KL optimum of chapter 2, the right means and too-small variances.
    """
    if not isinstance(model, LinearGaussianLVM):
        raise TypeError(f"model must be a vitools.lvm.LinearGaussianLVM, got {type(model).__name__}")
    one_of(family, "family", FAMILIES)
    posterior = model.posterior(x)
    if family == "full":
        return posterior
    conditional_variances = 1 / torch.diagonal(posterior.precision_matrix, dim1=-2, dim2=-1)
    return MultivariateNormal(posterior.mean, torch.diag_embed(conditional_variances))


def _lvm_m_step(x, q: MultivariateNormal, W_zeros=None) -> LinearGaussianLVM:
    """argmax over (W, b, sigma) of sum_n E_{q_n}[log p(x_n | z)]: least squares on z~ = (z, 1).

    With M = sum_n E[z~ z~^T] and P = sum_n x_n E[z~]^T: [W b] = P M^{-1}, and
    sigma^2 = (sum_n |x_n|^2 - 2 tr([W b]^T P) + tr([W b] M [W b]^T)) / (N D).
    With ``W_zeros`` (boolean (D, L), True where W is held at 0), row d of [W b] solves the same
    normal equations restricted to its free columns F_d: [W b]_{d,F} = P_{d,F} (M_{F,F})^{-1}.
    """
    n, dim = x.shape
    m = q.mean
    cov_q = q.covariance_matrix.expand(n, -1, -1)                                   # Sigma_{q_n}
    mean_zt = torch.cat([m, torch.ones_like(m[:, :1])], dim=1)                     # E[z~], (N, L + 1)
    second_zt = mean_zt[:, :, None] * mean_zt[:, None, :]                           # E[z~] E[z~]^T
    second_zt[:, :-1, :-1] += cov_q                                                 # + Cov[z] in the z block
    M, P = second_zt.sum(0), x.T @ mean_zt
    if W_zeros is None or not W_zeros.any():
        W_aug = torch.linalg.solve(M, P.T).T
    else:
        # one system per row d: M restricted to the free columns F_d, padded with the identity on the fixed ones
        free = torch.cat([~W_zeros, torch.ones_like(W_zeros[:, :1])], dim=1)       # (D, L + 1); b is always free
        M_rows = M * (free[:, :, None] & free[:, None, :]) + torch.diag_embed((~free).to(M.dtype))
        W_aug = torch.linalg.solve(M_rows, (P * free)[..., None])[..., 0]           # zero where W is held at 0
    sigma2 = ((x**2).sum() - 2 * (W_aug * P).sum() + torch.einsum("dl,lk,dk->", W_aug, M, W_aug)) / (n * dim)
    return LinearGaussianLVM(W_aug[:, :-1], W_aug[:, -1], sigma2.sqrt().item())


def ppca_maximum_likelihood(x, z_dim: int) -> LinearGaussianLVM:
    """The maximum-likelihood linear-Gaussian model in closed form (probabilistic PCA).

    With Sigma-hat = (1/N) sum_n (x_n - x-bar)(x_n - x-bar)^T the data covariance, nu_1 >= ... >= nu_D its
    eigenvalues and U its eigenvectors: b = x-bar, sigma^2 = mean(nu_{L+1}, ..., nu_D) and
    W = U_L (diag(nu_1, ..., nu_L) - sigma^2 I)^{1/2}, unique up to a rotation W -> W R
    (Tipping and Bishop, 1999; chapter 3 derives it).
    """
    x = float_tensor(x, "x", ndim=2).to(torch.float64)
    z_dim = positive_int(z_dim, "z_dim")
    if z_dim >= x.shape[1]:
        raise ValueError(f"z_dim must be smaller than x's dimension {x.shape[1]}, got {z_dim}")
    if x.shape[0] < 2:
        raise ValueError("x needs at least two rows (data points)")
    centred = x - x.mean(0)
    eigenvalues, eigenvectors = torch.linalg.eigh(centred.T @ centred / x.shape[0])   # ascending order
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[z_dim:].mean()
    if not sigma2 > 0:
        raise ValueError(f"x has no variance outside its first z_dim = {z_dim} principal directions, so the "
                         f"maximum-likelihood noise sigma would be 0; use a smaller z_dim or data with noise")
    W = eigenvectors[:, :z_dim] * (eigenvalues[:z_dim] - sigma2).clamp_min(0).sqrt()
    return LinearGaussianLVM(W, x.mean(0), sigma2.sqrt().item())


def variational_em(x, z_dim: int, family: str = "diagonal", n_iter: int = 50, seed: int = 0,
                   init: LinearGaussianLVM | None = None, W_zeros=None) -> VariationalEMResult:
    """Variational EM for the linear-Gaussian model: coordinate ascent on ELBO(theta, q_{1:N}).

    ELBO(theta, q_{1:N}) = (1/N) sum_n ELBO(x_n; theta, q_n).

    Each iteration is a variational E-step (:func:`best_q_in_family`, one q_n per data point)
    and an M-step in closed form. With ``family="full"`` the E-step is exact and this is EM.

    Parameters
    ----------
    x : tensor, shape (N, D)
    z_dim : int
        Latent dimension L.
    family : {"diagonal", "full"}
    n_iter : int
    seed : int
        Without ``init``: seeds the initial W ~ N(0, 0.1^2); b starts at the data mean and sigma
        at the data's overall standard deviation.
    init : LinearGaussianLVM, optional
        The initial model theta_0 (its z_dim must equal ``z_dim``).
    W_zeros : boolean array of shape (D, L), optional
        Entries of W held at zero (a structural constraint such as W_12 = 0 that removes the
        rotation symmetry W -> W R). The init's W must be zero there (the random init is zeroed).

    Returns
    -------
    VariationalEMResult
        ``elbo`` and ``log_marginal`` have n_iter + 1 entries (the first for the initialisation).
    """
    x = float_tensor(x, "x", ndim=2).to(torch.float64)
    if x.shape[0] < 2:
        raise ValueError("x needs at least two rows (data points)")
    z_dim, n_iter, seed = positive_int(z_dim, "z_dim"), positive_int(n_iter, "n_iter"), integer(seed, "seed")
    one_of(family, "family", FAMILIES)
    if init is not None and not isinstance(init, LinearGaussianLVM):
        raise TypeError(f"init must be a LinearGaussianLVM or None, got {type(init).__name__}")
    if W_zeros is not None:
        if isinstance(W_zeros, (np.ndarray, list, tuple)):
            W_zeros = torch.as_tensor(np.asarray(W_zeros))
        if not isinstance(W_zeros, torch.Tensor) or W_zeros.dtype != torch.bool:
            raise TypeError(f"W_zeros must be a boolean array of shape (D, L) = ({x.shape[1]}, {z_dim}), True "
                            f"where W is held at 0; got {type(W_zeros).__name__}"
                            + (f" of dtype {W_zeros.dtype}" if isinstance(W_zeros, torch.Tensor) else ""))
        if tuple(W_zeros.shape) != (x.shape[1], z_dim):
            raise ValueError(f"W_zeros must have shape (D, L) = ({x.shape[1]}, {z_dim}), got {tuple(W_zeros.shape)}")
        W_zeros = W_zeros.to(x.device)
        if W_zeros.all(dim=1).any():
            d = torch.nonzero(W_zeros.all(dim=1))[0, 0].item()
            raise ValueError(f"W_zeros holds every entry of row {d} at 0, so x_{d} would not depend on z; "
                             f"leave at least one entry of each row free")
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        W = 0.1 * torch.randn(x.shape[1], z_dim, generator=gen, dtype=torch.float64).to(x.device)
        if W_zeros is not None:
            W = W.masked_fill(W_zeros, 0.0)
        model = LinearGaussianLVM(W, x.mean(0), x.std().item())
    elif not isinstance(init, LinearGaussianLVM) or (init.x_dim, init.z_dim) != (x.shape[1], z_dim):
        raise ValueError(f"init must be a LinearGaussianLVM with x_dim = {x.shape[1]} and z_dim = {z_dim}")
    elif W_zeros is not None and torch.any(init.W.to(x.device)[W_zeros] != 0):
        raise ValueError("init.W must be 0 where W_zeros is True; set those entries of the initial W to 0")
    else:
        model = init
    elbo, log_marginal = [], []
    for t in range(n_iter + 1):
        q = best_q_in_family(model, x, family)
        elbo.append(model.elbo_terms(x, q)["elbo"].mean().item())
        log_marginal.append(model.log_marginal(x).mean().item())
        if t < n_iter:
            model = _lvm_m_step(x, q, W_zeros)
    return VariationalEMResult(model, q, elbo, log_marginal)
