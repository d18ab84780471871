"""EM for a Gaussian mixture: the tractable case of chapter 3, where the E-step is exact.

    p(c = k) = pi_k,    p(x | c = k) = N(x; mu_k, Sigma_k),    x in R^D, full covariances.

For any responsibilities r_nk (a distribution over k for each n) the ELBO

    (1/N) sum_n sum_k r_nk [log pi_k + log N(x_n; mu_k, Sigma_k) - log r_nk]

is the average log-likelihood minus the average KL(r_n || p(c | x_n)). The E-step sets r to
the exact posterior, closing the gap; the M-step maximises the ELBO in closed form. Every
function accepts numpy arrays or tensors and computes in float64 on the device of ``X``.

The second half is variational EM for the linear-Gaussian model (:func:`variational_em`): the
same coordinate ascent with q_n restricted to a family that may not contain the posterior.
"""

from dataclasses import dataclass

import torch
from torch.distributions import MultivariateNormal

from vitools._validate import finite_number, float_tensor, integer, one_of, positive_int, tolerance
from vitools.lvm import LinearGaussianLVM


def component_log_joint(X, weights, means, covariances) -> torch.Tensor:
    """log p(x_n, c = k) = log pi_k + log N(x_n; mu_k, Sigma_k), shape (N, K). Differentiable.

    Parameters
    ----------
    X : (N, D) data; weights : (K,) positive, summing to 1; means : (K, D);
    covariances : (K, D, D) symmetric positive definite.
    """
    X, weights, means, _, chol = _as_inputs(X, weights, means, covariances)
    return _log_joint(X, weights, means, chol)


def log_likelihood(X, weights, means, covariances) -> torch.Tensor:
    """Average log-likelihood (1/N) sum_n log sum_k pi_k N(x_n; mu_k, Sigma_k), a scalar. Differentiable."""
    return torch.logsumexp(component_log_joint(X, weights, means, covariances), dim=1).mean()


def responsibilities(X, weights, means, covariances) -> torch.Tensor:
    """The E-step: the exact posterior r_nk = p(c = k | x_n) = softmax_k log p(x_n, c = k), shape (N, K)."""
    return torch.softmax(component_log_joint(X, weights, means, covariances), dim=1)


def mixture_elbo(X, resp, weights, means, covariances) -> torch.Tensor:
    """Average ELBO (1/N) sum_n sum_k r_nk [log pi_k + log N(x_n; mu_k, Sigma_k) - log r_nk], with 0 log 0 = 0.

    Equals :func:`log_likelihood` when ``resp`` (shape (N, K), rows summing to 1) is the exact
    posterior, and falls short of it by the average KL(r_n || p(c | x_n)) otherwise.
    """
    log_joint = component_log_joint(X, weights, means, covariances)
    resp = float_tensor(resp, "resp", ndim=2).to(dtype=log_joint.dtype, device=log_joint.device)
    if resp.shape != log_joint.shape:
        raise ValueError(f"resp must have shape (N, K) = {tuple(log_joint.shape)}, got {tuple(resp.shape)}")
    if torch.any(resp < 0) or not torch.allclose(resp.sum(1), torch.ones_like(resp[:, 0]), rtol=0, atol=1e-6):
        raise ValueError("resp must hold one distribution per row: entries >= 0 and each row summing to 1")
    return (resp * log_joint + torch.special.entr(resp)).sum(1).mean()


class GaussianMixtureEM:
    """K-component Gaussian mixture with full covariances, fitted by EM from a given init.

    Parameters
    ----------
    n_components : int
        The number of components K, >= 1.
    reg_covar : float
        Added to every covariance diagonal in the M-step (>= 0), exactly as scikit-learn does.

    Attributes
    ----------
    Set by :meth:`fit`; ``weights_``, ``means_`` and ``covariances_`` are None before it.

    weights_, means_, covariances_ : tensors, shapes (K,), (K, D), (K, D, D)
        The parameters theta_T after the last iteration.
    log_likelihood_ : list of float, length n_iter_ + 1
        [L(theta_0), ..., L(theta_T)]: the average log-likelihood of the init, then after each iteration.
    history_ : list of (weights, means, covariances), length n_iter_ + 1
        theta_0, ..., theta_T as detached tensors.
    n_iter_ : int
        The number of iterations T run.
    converged_ : bool
        Whether an iteration improved L by less than ``tol`` before ``max_iter``.
    """

    def __init__(self, n_components: int, reg_covar: float = 1e-6):
        self.n_components = positive_int(n_components, "n_components")
        self.reg_covar = _reg_covar(reg_covar)
        self.weights_ = self.means_ = self.covariances_ = None

    def fit(self, X, weights_init, means_init, covariances_init, max_iter: int = 100,
            tol: float = 1e-8) -> "GaussianMixtureEM":
        """Run EM from theta_0 = the init on ``X`` (shape (N, D)); returns ``self``.

        Iteration t: the E-step with theta_{t-1} gives r_nk = p(c = k | x_n); the M-step gives
        N_k = sum_n r_nk, pi_k = N_k / N, mu_k = sum_n r_nk x_n / N_k and
        Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar I. EM stops when
        L(theta_t) - L(theta_{t-1}) < ``tol`` or after ``max_iter`` iterations.
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
        """Responsibilities p(c = k | x_n) under the fitted parameters, shape (N, K)."""
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

    Unconstrained parameters: pi = softmax(a), mu free, Sigma_k = L_k L_k^T + reg_covar I with
    L_k lower-triangular with diagonal exp(b_k). They start at a = log pi_init and
    L_k = cholesky(Sigma_init_k - reg_covar I), which reproduce the init exactly.

    Returns
    -------
    weights, means, covariances : tensors, shapes (K,), (K, D), (K, D, D), detached
    history : list of float, length steps + 1
        L(init), then L after each Adam step.
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
    """log pi_k + log N(x_n; mu_k, L_k L_k^T) for every row and component, shape (N, K)."""
    gaussians = MultivariateNormal(means, scale_tril=chol, validate_args=False)
    return torch.log(weights) + gaussians.log_prob(X[:, None, :])


def _e_step(X, weights, means, chol):
    """Responsibilities p(c | x_n), shape (N, K), and the average log p(x_n) as a float."""
    log_joint = _log_joint(X, weights, means, chol)
    log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
    return torch.exp(log_joint - log_px), log_px.mean().item()


def _m_step(X, resp, reg_covar):
    """The closed-form maximiser (pi, mu, Sigma) of the ELBO for fixed responsibilities (see fit)."""
    n_k = resp.sum(0)
    if torch.any(n_k == 0):
        k = torch.nonzero(n_k == 0)[0, 0].item()
        raise ValueError(f"component {k} has no responsibility left (N_k = 0), so its mean would be 0 / 0; "
                         f"start means_init[{k}] nearer the data or use fewer components")
    means = resp.T @ X / n_k[:, None]
    diff = X - means[:, None, :]  # (K, N, D)
    covariances = (resp.T[:, :, None] * diff).mT @ diff / n_k[:, None, None]
    return n_k / X.shape[0], means, covariances + reg_covar * torch.eye(X.shape[1], dtype=X.dtype, device=X.device)


def _cholesky(covariances, message):
    """Lower Cholesky factors of a (K, D, D) stack; ValueError(message.format(k=...)) for the first not SPD.

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
            raise ValueError(f"{name} must have shape {shape} to match {names[0]} (K = {k}) and X (D = {d}), "
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

    ``elbo[t]`` is (1/N) sum_n ELBO(q_n, theta_t) right after the E-step on theta_t, and
    ``log_marginal[t]`` is (1/N) sum_n log p(x_n; theta_t), for the same theta_t (t = 0 is the
    initialisation). Their difference is the average KL(q_n || p(z | x_n)) left by the family.
    """

    model: LinearGaussianLVM
    q: MultivariateNormal
    elbo: list
    log_marginal: list


def best_q_in_family(model: LinearGaussianLVM, x, family: str) -> MultivariateNormal:
    """The variational E-step: argmax over q_n in the family of ELBO(q_n, theta), for every row of x.

    ``"full"``: the exact posterior N(m_n, S), so the bound becomes tight (plain EM).
    ``"diagonal"`` (mean field): N(m_n, diag(1 / Lambda_ii)) with Lambda = S^{-1}, the reverse-KL
    optimum of chapter 2: the right means, too-small variances.
    """
    if not isinstance(model, LinearGaussianLVM):
        raise TypeError(f"model must be a vitools.lvm.LinearGaussianLVM, got {type(model).__name__}")
    one_of(family, "family", FAMILIES)
    posterior = model.posterior(x)
    if family == "full":
        return posterior
    conditional_variances = 1 / torch.diagonal(posterior.precision_matrix, dim1=-2, dim2=-1)
    return MultivariateNormal(posterior.mean, torch.diag_embed(conditional_variances))


def _lvm_m_step(x, q: MultivariateNormal) -> LinearGaussianLVM:
    """argmax over (W, b, sigma) of sum_n E_{q_n}[log p(x_n | z)]: least squares on u = (z, 1).

    With A = sum_n E[u u^T] and B = sum_n x_n E[u]^T: [W b] = B A^{-1}, and
    sigma^2 = (sum_n |x_n|^2 - 2 tr([W b]^T B) + tr([W b] A [W b]^T)) / (N D).
    """
    n, dim = x.shape
    m = q.mean
    S = q.covariance_matrix.expand(n, -1, -1)
    mean_u = torch.cat([m, torch.ones_like(m[:, :1])], dim=1)                     # E[u], (N, L + 1)
    second_u = mean_u[:, :, None] * mean_u[:, None, :]                              # E[u] E[u]^T
    second_u[:, :-1, :-1] += S                                                      # + Cov[z] in the z block
    A, B = second_u.sum(0), x.T @ mean_u
    W_aug = torch.linalg.solve(A, B.T).T
    sigma2 = ((x**2).sum() - 2 * (W_aug * B).sum() + torch.einsum("dl,lk,dk->", W_aug, A, W_aug)) / (n * dim)
    return LinearGaussianLVM(W_aug[:, :-1], W_aug[:, -1], sigma2.sqrt().item())


def ppca_maximum_likelihood(x, z_dim: int) -> LinearGaussianLVM:
    """The maximum-likelihood linear-Gaussian model in closed form (probabilistic PCA).

    With C the covariance of x (divided by N), eigenvalues l_1 >= ... >= l_D and eigenvectors U:
    b = mean(x), sigma^2 = mean(l_{L+1}, ..., l_D), W = U_L (diag(l_1..l_L) - sigma^2 I)^{1/2},
    unique up to a rotation W -> W R (Tipping and Bishop, 1999).
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
                   init: LinearGaussianLVM | None = None) -> VariationalEMResult:
    """Variational EM for the linear-Gaussian model: coordinate ascent on (1/N) sum_n ELBO(q_n, theta).

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
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        W = 0.1 * torch.randn(x.shape[1], z_dim, generator=gen, dtype=torch.float64).to(x.device)
        model = LinearGaussianLVM(W, x.mean(0), x.std().item())
    elif not isinstance(init, LinearGaussianLVM) or (init.x_dim, init.z_dim) != (x.shape[1], z_dim):
        raise ValueError(f"init must be a LinearGaussianLVM with x_dim = {x.shape[1]} and z_dim = {z_dim}")
    else:
        model = init
    elbo, log_marginal = [], []
    for t in range(n_iter + 1):
        q = best_q_in_family(model, x, family)
        elbo.append(model.elbo_terms(x, q)["elbo"].mean().item())
        log_marginal.append(model.log_marginal(x).mean().item())
        if t < n_iter:
            model = _lvm_m_step(x, q)
    return VariationalEMResult(model, q, elbo, log_marginal)
