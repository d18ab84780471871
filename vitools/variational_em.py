"""Variational EM for the linear-Gaussian model: EM's coordinate ascent with q_n restricted to a family (chapter 3).

The data set's ELBO, one q_n per data point,

    ELBO(theta, q_{1:N}) = (1/N) sum_n ELBO(x_n; theta, q_n) = l(theta) - (1/N) sum_n KL(q_n || p_theta(z | x_n)),

is raised in turn over the q_n (the variational E-step, :func:`best_q_in_family`) and over theta = (W, b, sigma)
(the M-step, in closed form: least squares of x_n on z~ = (z, 1) with z's moments under q_n). With the
``"full"`` family the E-step is exact and this is EM; with the mean-field ``"diagonal"`` family a gap
remains after every E-step, the ELBO still never falls, and the likelihood l(theta) may.
"""

import numpy as np
import torch
from torch.distributions import MultivariateNormal

from vitools._validate import distribution_checks_off, float_tensor, integer, one_of, positive_int, tolerance
from vitools.device import threads_for
from vitools.lvm import LinearGaussianLVM
from vitools.results import Fit

FAMILIES = ("diagonal", "full")


def best_q_in_family(model: LinearGaussianLVM, x, *, family: str) -> MultivariateNormal:
    """The variational E-step: argmax over q_n in the family of ELBO(x_n; theta, q_n), for every row of x.

    ``"full"``: the exact posterior N(mu_{z|x_n}, Sigma_{z|x}), so the bound becomes tight (plain EM).
    ``"diagonal"`` (mean field): q_n = N(m_n, diag(s^2)) with m_n = mu_{z|x_n} and s_i^2 = 1 / Lambda_ii,
    Lambda = Sigma_{z|x}^{-1}: the reverse-KL optimum of chapter 2, the right means and too-small variances.
    Returns a MultivariateNormal of batch shape (N,).
    """
    if not isinstance(model, LinearGaussianLVM):
        raise TypeError(f"model must be a vitools.lvm.LinearGaussianLVM, got {type(model).__name__}")
    one_of(family, "family", FAMILIES)
    posterior = model.posterior(x)
    if family == "full":
        return posterior
    conditional_variances = 1 / torch.diagonal(posterior.precision_matrix, dim1=-2, dim2=-1)
    return MultivariateNormal(posterior.mean, torch.diag_embed(conditional_variances))


def _m_step(x, q: MultivariateNormal, W_zeros=None) -> LinearGaussianLVM:
    """argmax over (W, b, sigma) of sum_n E_{q_n}[log p(x_n | z)]: least squares on z~ = (z, 1).

    With M = sum_n E[z~ z~^T] and P = sum_n x_n E[z~]^T: [W b] = P M^{-1}, and
    sigma^2 = (sum_n |x_n|^2 - 2 tr([W b]^T P) + tr([W b] M [W b]^T)) / (N D).
    With ``W_zeros`` (boolean (D, L), True where W is held at 0), row d of [W b] solves the same
    normal equations restricted to its free columns F_d: [W b]_{d,F} = P_{d,F} (M_{F,F})^{-1}.
    """
    n, x_dim = x.shape
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
    sigma2 = ((x**2).sum() - 2 * (W_aug * P).sum() + torch.einsum("dl,lk,dk->", W_aug, M, W_aug)) / (n * x_dim)
    return LinearGaussianLVM(W_aug[:, :-1], W_aug[:, -1], sigma2.sqrt().item())


def variational_em(x, *, z_dim: int, family: str = "diagonal", max_iter: int = 50, tol: float = -float("inf"),
                   seed: int = 0, init: LinearGaussianLVM | None = None, W_zeros=None) -> Fit:
    """Variational EM for the linear-Gaussian model: coordinate ascent on ELBO(theta, q_{1:N}).

    Each iteration is a variational E-step (:func:`best_q_in_family`, one q_n per data point)
    and an M-step in closed form. With ``family="full"`` the E-step is exact and this is EM.

    Parameters
    ----------
    x : tensor, shape (N, D)
    z_dim : int
        Latent dimension L.
    family : {"diagonal", "full"}
    max_iter : int
        The most iterations (M-steps) to run.
    tol : float
        Stop early once an iteration raises the ELBO by less than ``tol``; the default, -inf, runs all
        ``max_iter`` iterations.
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
    Fit
        ``model``: the last theta_T; ``q``: its E-step, a MultivariateNormal of batch shape (N,);
        ``history["elbo"][t]``: ELBO(theta_t, q_{1:N}) right after the E-step on theta_t;
        ``history["log_likelihood"][t]``: l(theta_t) = (1/N) sum_n log p_theta_t(x_n) (t = 0 is the init, so
        both have T + 1 entries; their difference is the average KL(q_n || p_theta_t(z | x_n)) the family
        leaves); ``converged``: whether ``tol`` stopped the run before ``max_iter``.
    """
    x = float_tensor(x, "x", ndim=2).to(torch.float64)
    if x.shape[0] < 2:
        raise ValueError("x needs at least two rows (data points)")
    z_dim, max_iter = positive_int(z_dim, "z_dim"), positive_int(max_iter, "max_iter")
    tol, seed = tolerance(tol, "tol"), integer(seed, "seed")
    one_of(family, "family", FAMILIES)
    if init is not None and not isinstance(init, LinearGaussianLVM):
        raise TypeError(f"init must be a LinearGaussianLVM or None, got {type(init).__name__}")
    W_zeros = None if W_zeros is None else _as_W_zeros(W_zeros, x, z_dim)
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        W = 0.1 * torch.randn(x.shape[1], z_dim, generator=gen, dtype=torch.float64).to(x.device)
        if W_zeros is not None:
            W = W.masked_fill(W_zeros, 0.0)
        model = LinearGaussianLVM(W, x.mean(0), x.std().item())
    elif (init.x_dim, init.z_dim) != (x.shape[1], z_dim):
        raise ValueError(f"init must be a LinearGaussianLVM with x_dim = {x.shape[1]} and z_dim = {z_dim}")
    elif W_zeros is not None and torch.any(init.W.to(x.device)[W_zeros] != 0):
        raise ValueError("init.W must be 0 where W_zeros is True; set those entries of the initial W to 0")
    else:
        model = init
    history, converged = {"elbo": [], "log_likelihood": []}, False
    with distribution_checks_off(), threads_for(x.numel() * z_dim**2, x.device):   # x was checked above
        for t in range(max_iter + 1):
            q = best_q_in_family(model, x, family=family)
            history["elbo"].append(model.elbo_terms(x, q)["elbo"].mean().item())
            history["log_likelihood"].append(model.log_marginal(x).mean().item())
            if t > 0 and history["elbo"][-1] - history["elbo"][-2] < tol:
                converged = True
                break
            if t < max_iter:
                model = _m_step(x, q, W_zeros)
    return Fit(q=q, model=model, history=history, converged=converged)


def _as_W_zeros(W_zeros, x, z_dim) -> torch.Tensor:
    """``W_zeros`` as a boolean (D, L) tensor on x's device, with at least one free entry per row."""
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
    return W_zeros
