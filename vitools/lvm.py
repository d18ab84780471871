"""The linear-Gaussian latent variable model: the book's model where everything is exact.

    p(z) = N(0, I_L),    p(x | z) = N(W z + b, sigma^2 I_D)

Integrating z out gives p(x) = N(b, W W^T + sigma^2 I_D), and Bayes' rule gives the Gaussian
posterior p(z | x) = N(mu_{z|x}, Sigma_{z|x}) with

    Sigma_{z|x} = (I_L + W^T W / sigma^2)^{-1},    mu_{z|x} = Sigma_{z|x} W^T (x - b) / sigma^2.

Its maximum-likelihood fit to data has a closed form too, probabilistic PCA (:func:`ppca_maximum_likelihood`).
"""

import math

import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vitools._validate import finite_number, float_tensor, integer, positive_int, torch_device
from vitools.bounds import kl_to_prior


class LinearGaussianLVM:
    """p(z) = N(0, I), p(x | z) = N(Wz + b, sigma^2 I), with exact marginal and posterior.

    Parameters
    ----------
    W : tensor, shape (D, L)
        Loading matrix from latent (L) to observed (D) space.
    b : tensor, shape (D,)
        Offset, the mean of x.
    sigma : float
        Observation noise standard deviation, > 0.

    All tensors the model returns live on ``W``'s device with ``W``'s dtype.
    """

    def __init__(self, W, b, sigma):
        W = float_tensor(W, "W", ndim=2)
        b = float_tensor(b, "b", ndim=1).to(dtype=W.dtype, device=W.device)
        if b.shape[0] != W.shape[0]:
            raise ValueError(f"b has length {b.shape[0]} but W has {W.shape[0]} rows; both must equal x's dimension D")
        sigma = finite_number(sigma, "sigma", 0, strict=True, role="is the noise standard deviation")
        self.W, self.b, self.sigma = W, b, sigma

    @classmethod
    def random(cls, x_dim: int, z_dim: int, sigma: float, *, seed: int = 0, dtype=torch.float64, device=None):
        """A model with W ~ N(0, 1) entries and b ~ N(0, 1), drawn from ``seed`` (global RNG untouched)."""
        x_dim, z_dim = positive_int(x_dim, "x_dim"), positive_int(z_dim, "z_dim")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype such as torch.float64, got {dtype!r}")
        device = None if device is None else torch_device(device, "device")
        gen = torch.Generator().manual_seed(integer(seed, "seed"))
        W = torch.randn(x_dim, z_dim, generator=gen, dtype=dtype)
        b = torch.randn(x_dim, generator=gen, dtype=dtype)
        return cls(W.to(device), b.to(device), sigma)

    @property
    def x_dim(self) -> int:
        return self.W.shape[0]

    @property
    def z_dim(self) -> int:
        return self.W.shape[1]

    @property
    def prior(self) -> Independent:
        """p(z) = N(0, I_L), event shape (L,)."""
        zeros = torch.zeros(self.z_dim, dtype=self.W.dtype, device=self.W.device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def decoder(self, z) -> Independent:
        """p(x | z) = N(Wz + b, sigma^2 I_D) for each row of ``z`` (shape (..., L))."""
        z = self._as_z(z)
        mean = z @ self.W.T + self.b
        return Independent(Normal(mean, torch.full_like(mean, self.sigma)), 1)

    def sample(self, n: int):
        """Ancestral sampling: z ~ p(z), then x ~ p(x | z). Returns ``(x, z)``, shapes (n, D), (n, L)."""
        z = self.prior.sample((positive_int(n, "n"),))
        return self.decoder(z).sample(), z

    def log_joint(self, x, z) -> torch.Tensor:
        """log p(x, z) = log p(z) + log p(x | z); ``z`` may carry leading sample dimensions."""
        x = self._as_x(x)
        z = self._as_z(z)
        return self.prior.log_prob(z) + self.decoder(z).log_prob(x)

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I_D).

        Its Cholesky factor comes from a QR factorisation of [W^T; sigma I_D] (C = B^T B), not from
        C itself: forming W W^T + sigma^2 I rounds the small eigenvalues sigma^2 away when sigma is tiny.
        """
        eye = torch.eye(self.x_dim, dtype=self.W.dtype, device=self.W.device)
        r = torch.linalg.qr(torch.cat([self.W.T, self.sigma * eye]), mode="r")[1]      # C = R^T R
        return MultivariateNormal(self.b, scale_tril=(r * torch.sign(torch.diagonal(r))[:, None]).mT)

    def log_marginal(self, x) -> torch.Tensor:
        """Exact log p(x) for each row of ``x`` (shape (N, D) -> (N,))."""
        return self.marginal().log_prob(self._as_x(x))

    def posterior(self, x) -> MultivariateNormal:
        """Exact p(z | x) = N(mu_{z|x}, Sigma_{z|x}), Sigma_{z|x} = (I + W^T W / sigma^2)^{-1},
        mu_{z|x} = Sigma_{z|x} W^T (x - b) / sigma^2.

        Batch shape (N,) for ``x`` of shape (N, D).
        """
        x = self._as_x(x)
        # Never form I + W^T W / sigma^2: for tiny sigma that rounds the I away. Instead a QR factorisation
        # B = Q R of B = [W / sigma; I_L] (so B^T B is the precision), with columns in reverse order J:
        # then Sigma_{z|x} = J R^{-1} R^{-T} J and J R^{-1} J is lower triangular (its Cholesky factor), and
        # mu_{z|x} = J R^{-1} Q^T [(x - b) / sigma; 0] is the least-squares solution, computed stably.
        eye = torch.eye(self.z_dim, dtype=self.W.dtype, device=self.W.device)
        q, r = torch.linalg.qr(torch.cat([self.W / self.sigma, eye]).flip(-1))
        sign = torch.sign(torch.diagonal(r))                      # make R's diagonal positive
        q, r = q * sign, r * sign[:, None]
        r_inv = torch.linalg.solve_triangular(r, eye, upper=True)
        m = (((x - self.b) @ q[: self.x_dim] / self.sigma) @ r_inv.mT).flip(-1)
        return MultivariateNormal(m, scale_tril=r_inv.flip(-2, -1).expand(*x.shape[:-1], -1, -1))

    def elbo_terms(self, x, q) -> dict:
        """Every term of ELBO(x; theta, q) in closed form, for Gaussian q(z) = N(m, Sigma_q), one per row of ``x``.

        (Sigma_q is q's covariance, diag(s^2) for a factorised q.)

        With r = x - W m - b:

        - ``expected_log_likelihood``: E_q[log p(x | z)] = -D/2 log(2 pi sigma^2) - (|r|^2 + tr(W Sigma_q W^T)) / (2 sigma^2)
        - ``expected_log_prior``:      E_q[log p(z)] = -L/2 log(2 pi) - (tr Sigma_q + |m|^2) / 2
        - ``entropy``:                 H(q) = 1/2 log det(2 pi e Sigma_q)
        - ``kl_to_prior``:             KL(q || p(z)) = (tr Sigma_q + |m|^2 - L - log det Sigma_q) / 2
          (torch's closed form for two ``MultivariateNormal``, via :func:`vitools.bounds.kl_to_prior`)
        - ``expected_log_joint``:      E_q[log p(x, z)], the sum of the first two
        - ``elbo``: E_q[log p(x | z)] - KL(q || p(z)) = E_q[log p(x, z)] + H(q)

        Parameters
        ----------
        x : tensor, shape (N, D)
        q : torch.distributions.MultivariateNormal or Independent(Normal, 1)
            Batch shape (N,) or (), event shape (L,); a factorised ``Independent(Normal, 1)`` is converted to
            the ``MultivariateNormal`` with covariance diag(s^2).

        Returns
        -------
        dict of tensors, shape (N,)
        """
        x = self._as_x(x)
        q = self._as_gaussian_q(q)
        if q.batch_shape not in (torch.Size(), x.shape[:-1]):
            raise ValueError(f"q must have batch shape () or {tuple(x.shape[:-1])}, one q per row of x; "
                             f"got {tuple(q.batch_shape)}")
        m, cov_q, T = q.mean, q.covariance_matrix, q.scale_tril        # Sigma_q = T T^T
        residual = x - m @ self.W.T - self.b
        trace_cov = torch.diagonal(cov_q, dim1=-2, dim2=-1).sum(-1)
        trace_W_cov_W = (self.W @ T).pow(2).sum((-2, -1))       # tr(W Sigma_q W^T) = |W T|_F^2: stays accurate for tiny sigma
        log_det_cov = 2 * torch.log(torch.diagonal(T, dim1=-2, dim2=-1)).sum(-1)
        D, L = self.x_dim, self.z_dim
        terms = {
            "expected_log_likelihood": -0.5 * D * math.log(2 * math.pi * self.sigma**2)
            - ((residual**2).sum(-1) + trace_W_cov_W) / (2 * self.sigma**2),
            "expected_log_prior": -0.5 * L * math.log(2 * math.pi) - 0.5 * (trace_cov + (m**2).sum(-1)),
            "entropy": 0.5 * (L * math.log(2 * math.pi * math.e) + log_det_cov),
            "kl_to_prior": kl_to_prior(q, self._prior_as_multivariate_normal()),
        }
        terms["expected_log_joint"] = terms["expected_log_likelihood"] + terms["expected_log_prior"]
        terms["elbo"] = terms["expected_log_likelihood"] - terms["kl_to_prior"]
        return {name: value.expand(x.shape[:-1]) for name, value in terms.items()}

    def elbo(self, x, q) -> torch.Tensor:
        """ELBO(x; theta, q) = E_q[log p(x | z)] - KL(q || p(z)) in closed form, per row of ``x``: ``elbo_terms(x, q)["elbo"]``."""
        return self.elbo_terms(x, q)["elbo"]

    def _prior_as_multivariate_normal(self) -> MultivariateNormal:
        eye = torch.eye(self.z_dim, dtype=self.W.dtype, device=self.W.device)
        return MultivariateNormal(torch.zeros(self.z_dim, dtype=self.W.dtype, device=self.W.device), scale_tril=eye)

    def _as_gaussian_q(self, q) -> MultivariateNormal:
        """``q`` as a MultivariateNormal over z on the model's dtype and device (an Independent(Normal, 1) converted)."""
        factorised = (isinstance(q, Independent) and isinstance(q.base_dist, Normal)
                      and q.reinterpreted_batch_ndims == 1)
        if not (isinstance(q, MultivariateNormal) or factorised) or q.event_shape != torch.Size([self.z_dim]):
            raise TypeError(f"q must be a torch.distributions.MultivariateNormal or Independent(Normal, 1) over z "
                            f"with event shape ({self.z_dim},), got {type(q).__name__} with event shape "
                            f"{tuple(getattr(q, 'event_shape', ()))}")
        if factorised:
            return MultivariateNormal(q.mean.to(self.W), scale_tril=torch.diag_embed(q.stddev.to(self.W)))
        return MultivariateNormal(q.mean.to(self.W), scale_tril=q.scale_tril.to(self.W))

    def _as_x(self, x) -> torch.Tensor:
        x = float_tensor(x, "x").to(dtype=self.W.dtype, device=self.W.device)
        if x.dim() < 1 or x.shape[-1] != self.x_dim:
            raise ValueError(f"x must have last dimension D = {self.x_dim}, got shape {tuple(x.shape)}")
        return x

    def _as_z(self, z) -> torch.Tensor:
        z = float_tensor(z, "z").to(dtype=self.W.dtype, device=self.W.device)
        if z.dim() < 1 or z.shape[-1] != self.z_dim:
            raise ValueError(f"z must have last dimension L = {self.z_dim}, got shape {tuple(z.shape)}")
        return z


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
