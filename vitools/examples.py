"""The book's own examples: targets, test functions, experiment set-ups, baselines and closed-form answers.

A quantity that only illustrates a point of the book lives here, one section per chapter, so that the
notebook, its exercises, the tests and the benchmarks import the same definition.
"""

import math

import torch
from torch.distributions import Bernoulli, Categorical, MixtureSameFamily, Normal

from vitools._validate import binary_tensor, finite_number, float_tensor, positive_int, torch_device

# ---- chapter 1


def proposal_second_moment(width: float, *, z_dim: int) -> float:
    """E_q[(p(z | x) / q(z))^2] = (kappa^2 / sqrt(2 kappa^2 - 1))^L for q = N(mu_{z|x}, kappa^2 Sigma_{z|x}).

    The second moment of the normalised importance weight w / p(x) = p(z | x) / q(z) of chapter 1, for a
    Gaussian posterior in L = ``z_dim`` dimensions and a proposal with its mean, its covariance scaled by
    kappa^2 (``width`` kappa > 0); Var[w / p(x)] is this minus 1. Each whitened coordinate contributes
    J(kappa) = int N(u; 0, 1)^2 / N(u; 0, kappa^2) du = kappa^2 / sqrt(2 kappa^2 - 1), which diverges for
    kappa^2 <= 1/2: there the result is ``math.inf``.
    """
    kappa = finite_number(width, "width", 0, strict=True, role="is q's standard deviation in posterior standard deviations")
    z_dim = positive_int(z_dim, "z_dim")
    if 2 * kappa**2 <= 1:
        return math.inf
    return (kappa**2 / math.sqrt(2 * kappa**2 - 1)) ** z_dim


def log_prior_second_moment(model, x) -> torch.Tensor:
    """log E_{p(z)}[p(x | z)^2] for the linear-Gaussian model, per row of ``x``: naive Monte Carlo's second moment.

    p(x | z)^2 = (4 pi sigma^2)^{-D/2} N(x; W z + b, sigma^2 / 2 I_D), so the second moment is
    (4 pi sigma^2)^{-D/2} times the marginal likelihood of the same model with the noise sigma / sqrt(2);
    Var[w / p(x)] = exp(this - 2 log p(x)) - 1 for the prior as proposal (chapter 1).
    """
    from vitools.lvm import LinearGaussianLVM
    if not isinstance(model, LinearGaussianLVM):
        raise TypeError(f"model must be a vitools.lvm.LinearGaussianLVM, got {type(model).__name__}")
    noise_halved = LinearGaussianLVM(model.W, model.b, model.sigma / math.sqrt(2))
    return noise_halved.log_marginal(x) - model.x_dim / 2 * math.log(4 * math.pi * model.sigma**2)


# ---- chapter 2


def two_mode_target(distance: float, weight_left: float = 0.5) -> MixtureSameFamily:
    """The book's two-mode target p(z) = pi_1 N(z; -Delta/2, 1) + (1 - pi_1) N(z; Delta/2, 1), in float64.

    ``distance`` is the gap Delta between the modes, ``weight_left`` the left mode's weight pi_1. Chapter 2
    fits one Gaussian to it by either direction of KL (``vitools.divergences.fit_gaussian``).
    """
    distance = finite_number(distance, "distance", 0, role="is the gap between the two modes")
    if not 0 < finite_number(weight_left, "weight_left") < 1:
        raise ValueError(f"weight_left is the left mode's probability and must lie in (0, 1), got {weight_left!r}")
    weights = torch.tensor([weight_left, 1 - weight_left], dtype=torch.float64)
    means = torch.tensor([-distance / 2, distance / 2], dtype=torch.float64)
    return MixtureSameFamily(Categorical(weights), Normal(means, torch.ones(2, dtype=torch.float64)))


# ---- chapter 4
# The running example: z ~ q = N(m, I_L) with every m_i = m ("loc"), f(z) = sum_i (z_i - v)^2 ("shift" v), the
# gradient with respect to m_1 from one sample; delta = m - v.


def gaussian_q(loc: float = 1.0, scale: float = 1.0, *, z_dim: int | None = None, device=None) -> Normal:
    """q = N(m, s^2) in each coordinate, float64, with ``loc`` and ``scale`` tensors that require grad.

    The q whose parameters chapter 4's estimators differentiate (``vitools.estimators.score_function_grad``,
    ``reparam_grad``): a scalar latent for ``z_dim=None``, else L = ``z_dim`` independent coordinates
    (batch shape (L,)).
    """
    loc, scale = finite_number(loc, "loc"), finite_number(scale, "scale", 0, strict=True, role="is q's standard deviation")
    shape = () if z_dim is None else (positive_int(z_dim, "z_dim"),)
    device = None if device is None else torch_device(device, "device")
    return Normal(torch.full(shape, loc, dtype=torch.float64, device=device, requires_grad=True),
                  torch.full(shape, scale, dtype=torch.float64, device=device, requires_grad=True))


def _per_sample_sum(values: torch.Tensor) -> torch.Tensor:
    return values.reshape(values.shape[0], -1).sum(1) if values.dim() > 1 else values


def quadratic_test_function(shift: float = 3.0):
    """The test function f(z) = sum_i (z_i - v)^2, v = ``shift``, as a callable.

    ``f`` takes samples with a leading sample dimension and sums over the coordinates after it (a scalar
    latent's samples, shape (S,), give (z - v)^2 elementwise), one value per sample, as the estimators want.
    """
    shift = finite_number(shift, "shift")
    return lambda z: _per_sample_sum((z - shift) ** 2)


def linear_test_function(z) -> torch.Tensor:
    """The test function f(z) = sum_i z_i, one value per sample (summed over the coordinates after the first dimension)."""
    return _per_sample_sum(float_tensor(z, "z"))


def quadratic_mean_baseline(loc: float, shift: float) -> float:
    """The baseline a = E[f] = 1 + delta^2 for f(z) = (z - v)^2, z ~ N(m, 1), delta = m - v: the usual first guess."""
    return 1 + (finite_number(loc, "loc") - finite_number(shift, "shift")) ** 2


def quadratic_optimal_baseline(loc: float, shift: float) -> float:
    """The variance-minimising constant baseline a* = E[f h^2] / E[h^2] = 3 + delta^2 for f(z) = (z - v)^2, z ~ N(m, 1).

    With h = z - m = eps the score and f = (eps + delta)^2, delta = m - v: E[f eps^2] = E[eps^4] + delta^2 E[eps^2]
    = 3 + delta^2 and E[eps^2] = 1.
    """
    return 3 + (finite_number(loc, "loc") - finite_number(shift, "shift")) ** 2


def score_variance_quadratic(loc: float, shift: float, *, z_dim: int = 1, baseline: float = 0.0) -> float:
    """Exact per-sample variance of the score-function estimate of d/dm_1 E[f], f(z) = sum_i (z_i - v)^2.

    For z ~ N(m, I_L) with every m_i = ``loc``, v = ``shift`` and L = ``z_dim``, the estimate is (f(z) - a) eps_1
    with eps_1 = z_1 - m_1 and a = ``baseline``. Write delta = m - v and f = (eps_1 + delta)^2 + G, where
    G = sum_{i > 1} (z_i - v)^2 is independent of eps_1 with E[G] = (L - 1)(1 + delta^2) and
    Var[G] = (L - 1)(2 + 4 delta^2). With e = E[G] - a,

        Var = delta^4 + 14 delta^2 + 15 + 2 (3 + delta^2) e + Var[G] + e^2

    (chapter 4; for L = 1 this is (delta^4 + 18 delta^2 + 15) - 2a (3 + delta^2) + a^2 - 4 delta^2).
    """
    delta = finite_number(loc, "loc") - finite_number(shift, "shift")
    z_dim, baseline = positive_int(z_dim, "z_dim"), finite_number(baseline, "baseline")
    e = (z_dim - 1) * (1 + delta**2) - baseline
    return delta**4 + 14 * delta**2 + 15 + 2 * (3 + delta**2) * e + (z_dim - 1) * (2 + 4 * delta**2) + e**2


def score_variance_linear(loc: float, *, z_dim: int = 1) -> float:
    """Exact per-sample variance of the score-function estimate of d/dm_1 E[f], f(z) = sum_i z_i, z ~ N(m, I_L).

    With every m_i = ``loc`` and L = ``z_dim``, f eps_1 = (m + eps_1) eps_1 + G eps_1 with G = sum_{i > 1} z_i, so
    Var = m^2 + 2 + (L - 1)(1 + (L - 1) m^2) + 2 (L - 1) m^2 (chapter 4).
    """
    m, z_dim = finite_number(loc, "loc"), positive_int(z_dim, "z_dim")
    return m**2 + 2 + (z_dim - 1) * (1 + (z_dim - 1) * m**2) + 2 * (z_dim - 1) * m**2


def cosine_gradient_variances(frequency: float, loc: float = 1.0) -> dict:
    """d/dm E[cos(omega z)] and the per-sample variances of its two estimators, z ~ N(m, 1), omega = ``frequency``.

    With z = m + eps and E[eps^2 e^{i t eps}] = (1 - t^2) e^{-t^2/2}: the gradient is
    g = -omega sin(omega m) e^{-omega^2/2}, and

        Var_path = omega^2 / 2 (1 - cos(2 omega m) e^{-2 omega^2}) - g^2     (pathwise, -omega sin(omega z))
        Var_SF   = 1/2 + (1 - 4 omega^2) cos(2 omega m) e^{-2 omega^2} / 2 - g^2   (score function, cos(omega z) eps)

    Returns
    -------
    dict: {"gradient": g, "pathwise": Var_path, "score_function": Var_SF}
    """
    omega, m = finite_number(frequency, "frequency"), finite_number(loc, "loc")
    g = -omega * math.sin(omega * m) * math.exp(-omega**2 / 2)
    damped = math.cos(2 * omega * m) * math.exp(-2 * omega**2)
    return {"gradient": g, "pathwise": omega**2 / 2 * (1 - damped) - g**2,
            "score_function": 0.5 + (1 - 4 * omega**2) * damped / 2 - g**2}


def elbo_gradient_variances(posterior_loc: float, *, posterior_precision: float, width: float) -> dict:
    """Exact per-sample variances of the three ``vitools.estimators.elbo_gradients`` estimators for a scalar latent.

    The model has prior p(z) = N(0, 1) and a Gaussian posterior N(mu, 1/lambda) (``posterior_loc`` mu,
    ``posterior_precision`` lambda), so log p(x, z) = const - lambda (z - mu)^2 / 2 and
    log p(x | z) = const - lambda (z - mu)^2 / 2 + z^2 / 2. q = N(mu, s^2) sits at the posterior mean with
    s = kappa / sqrt(lambda), kappa = ``width``. With z = mu + s eps the per-sample gradients are

    - full:            (-lambda s eps, 1 - kappa^2 eps^2)
    - closed-form KL:  (mu - (lambda - 1) s eps, mu s eps - (lambda - 1) s^2 eps^2) + the exact KL gradient
    - path derivative: eps (1/s - lambda s) (1, s eps)

    and E[eps^2] = 1, Var[eps^2] = 2, Cov(eps, eps^2) = 0 give the variances returned.

    Returns
    -------
    dict estimator name -> (variance of the m-gradient, variance of the log s-gradient)
    """
    mu = finite_number(posterior_loc, "posterior_loc")
    lam = finite_number(posterior_precision, "posterior_precision", 0, strict=True,
                        role="is the posterior precision 1/Var[z | x]")
    kappa = finite_number(width, "width", 0, strict=True, role="is q's standard deviation in posterior standard deviations")
    return {"full": (lam * kappa**2, 2 * kappa**4),
            "closed_form_kl": ((lam - 1) ** 2 * kappa**2 / lam,
                               mu**2 * kappa**2 / lam + 2 * (lam - 1) ** 2 * kappa**4 / lam**2),
            "path_derivative": (lam * (1 / kappa - kappa) ** 2, 2 * (1 - kappa**2) ** 2)}


# ---- chapter 6 (the VAE)


def digit_style(images) -> torch.Tensor:
    """Three numbers that describe how a digit is drawn, from square grey-level images: centre, width, slant.

    With w_uv the image's intensity at row u (top to bottom) and column v, normalised to sum to one, and
    (U, V) a pixel position drawn with these probabilities:

    - centre = E[V], the horizontal centre of the ink;
    - width  = sd(V), its horizontal spread;
    - slant  = -Cov(U, V) / Var(U), minus the slope of the column against the row: positive when the
      ink leans forward, like "/".

    Chapter 6 measures with it how much of a digit's style a conditional VAE's z carries across labels.

    Parameters
    ----------
    images : tensor, shape (N, D) with D a square (64 for the 8x8 digits), values >= 0, each row with some ink

    Returns
    -------
    tensor, shape (N, 3)
        Columns centre, width, slant, in pixels (slant: pixels per row).
    """
    images = float_tensor(images, "images", ndim=2)
    side = math.isqrt(images.shape[1])
    if side * side != images.shape[1] or side < 2:
        raise ValueError(f"images must have shape (N, D) with D a square number >= 4 (64 for 8x8 digits), "
                         f"got {tuple(images.shape)}")
    if images.min() < 0:
        raise ValueError("images must have intensities >= 0 (pixel probabilities or grey levels)")
    mass = images.sum(1, keepdim=True)
    if torch.any(mass <= 0):
        raise ValueError("images has a row without ink (all zeros): the style of an empty image is undefined")
    w = (images / mass).reshape(-1, side, side)
    grid = torch.arange(side, dtype=w.dtype, device=w.device)
    u, v = grid.view(1, side, 1), grid.view(1, 1, side)
    mean_u, mean_v = (w * u).sum((1, 2)), (w * v).sum((1, 2))
    du, dv = u - mean_u.view(-1, 1, 1), v - mean_v.view(-1, 1, 1)
    var_u, var_v, cov = (w * du**2).sum((1, 2)), (w * dv**2).sum((1, 2)), (w * du * dv).sum((1, 2))
    return torch.stack([mean_v, var_v.sqrt(), -cov / var_u], dim=1)


def independent_pixels_log_marginal(x_train, x_test) -> torch.Tensor:
    """log p(x) per row of ``x_test`` under independent Bernoulli pixels fitted to ``x_train``: chapter 6's baseline.

        p(x) = prod_d p_d^{x_d} (1 - p_d)^{1 - x_d},    p_d = (count_d + 1) / (N + 2)

    with count_d the number of the N training images whose pixel d is on: each pixel's training frequency,
    smoothed by one pseudo-count each way (so no p_d is 0 or 1 and every log p(x) is finite). Its negative
    mean is the "independent pixels" row of chapter 6's table of nats per image (exercise
    ``independent-pixels-nll`` derives the formula).

    Parameters
    ----------
    x_train : tensor, shape (N, D), binary, N >= 1
    x_test : tensor, shape (M, D), binary

    Returns
    -------
    tensor, shape (M,)
        In nats, on ``x_test``'s device, in the dtype of ``x_train`` and ``x_test`` promoted.
    """
    x_train, x_test = binary_tensor(x_train, "x_train"), binary_tensor(x_test, "x_test")
    if x_train.shape[0] == 0:
        raise ValueError("x_train must have at least one row: the pixel frequencies are fitted to it")
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(f"x_test must have shape (M, {x_train.shape[1]}), the pixels of x_train, "
                         f"got {tuple(x_test.shape)}")
    dtype = torch.promote_types(x_train.dtype, x_test.dtype)
    p = (x_train.to(dtype).sum(0) + 1) / (x_train.shape[0] + 2)
    return Bernoulli(probs=p.to(x_test.device)).log_prob(x_test.to(dtype)).sum(1)
