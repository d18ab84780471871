"""Numerical extremes: scales 1e-6 .. 1e6, logits +-100, K = 5000, 1-D and 100-D latents.

Every result must be finite wherever the true value is finite, and correct: each is held against an
independent reference (torch.distributions, a closed form, or the closed form in 50-digit decimal
arithmetic). The linear-Gaussian model is checked with a dense W = R [diag(s) | 0] P^T built from
random rotations R and P: in the rotated coordinates everything factorises into 1-D Gaussians, which
gives exact answers without forming W W^T + sigma^2 I (the very computation that loses the small
eigenvalues when sigma is tiny).
"""

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, MultivariateNormal, Normal

from vitools.divergences import entropy, fit_gaussian, gaussian_entropy, kl_discrete, kl_gaussian, kl_gaussian_target
from vitools.examples import two_mode_target
from vitools.bounds import elbo_monte_carlo, iwae_bound, log_importance_weights, log_mean_exp
from vitools.gaussian_mixture import GaussianMixture, GaussianMixtureEM
from vitools.estimators import reparam_grad, score_function_grad
from vitools.lvm import LinearGaussianLVM
from vitools.bernoulli_mixture import BernoulliMixture
from vitools.vae import MIN_STD, VAE, LinearVAE

SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e6]
DTYPES = [torch.float32, torch.float64]
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def _decimal(x):
    return Decimal(float(x))   # exact: every float is a finite decimal


def _kl_normal_reference(mu_q, std_q, mu_p, std_p) -> float:
    """KL(N(mu_q, std_q^2) || N(mu_p, std_p^2)) in 50-digit arithmetic, from the (rounded) inputs."""
    with localcontext() as ctx:
        ctx.prec = 50
        mq, sq, mp, sp = map(_decimal, (mu_q, std_q, mu_p, std_p))
        return float((sp / sq).ln() + (sq * sq + (mq - mp) ** 2) / (2 * sp * sp) - Decimal("0.5"))


def _assert_finite(*tensors):
    for t in tensors:
        assert torch.all(torch.isfinite(torch.as_tensor(t))), t


# ------------------------------------------------------------------------------------- divergences


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", SCALES)
def test_gaussian_entropy_at_extreme_scales(dtype, scale):
    std = torch.tensor([scale], dtype=dtype)
    expected = Normal(torch.zeros(1, dtype=torch.float64), std.double()).entropy().sum()
    got = gaussian_entropy(std)
    _assert_finite(got)
    assert got.dtype == dtype
    torch.testing.assert_close(got.double(), expected, rtol=RTOL[dtype], atol=1e-6 if dtype == torch.float32 else 1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_entropy_and_kl_in_100_dimensions_spanning_1e_minus_6_to_1e6(dtype):
    gen = torch.Generator().manual_seed(0)
    std_q, std_p = (10 ** (12 * torch.rand(100, generator=gen, dtype=torch.float64) - 6) for _ in range(2))
    mu_q, mu_p = (1e3 * torch.randn(100, generator=gen, dtype=torch.float64) for _ in range(2))
    args = [t.to(dtype) for t in (mu_q, std_q, mu_p, std_p)]
    entropy_expected = Normal(0.0, args[1].double()).entropy().sum()
    torch.testing.assert_close(gaussian_entropy(args[1]).double(), entropy_expected, rtol=RTOL[dtype], atol=0)
    kl = kl_gaussian(*args)
    expected = sum(_kl_normal_reference(*(a[d].item() for a in args)) for d in range(100))
    _assert_finite(kl)
    assert math.isclose(kl.item(), expected, rel_tol=10 * RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("std_p", SCALES)
@pytest.mark.parametrize("std_q", SCALES)
def test_kl_gaussian_at_extreme_scales(dtype, std_q, std_p):
    for mu_q, mu_p in [(0.0, 0.0), (0.0, 1.0), (1e3, -1e3)]:
        args = [torch.tensor([v], dtype=dtype) for v in (mu_q, std_q, mu_p, std_p)]
        got = kl_gaussian(*args)
        expected = _kl_normal_reference(*(a.item() for a in args))
        _assert_finite(got)
        assert got.item() >= 0
        # float32: the reference uses the same rounded inputs; 1e-5 relative, or 1e-6 absolute near 0
        abs_tol = 1e-6 if dtype == torch.float32 else 1e-15
        assert math.isclose(got.item(), expected, rel_tol=RTOL[dtype], abs_tol=abs_tol), \
            (mu_q, std_q, mu_p, std_p, got.item(), expected)


def test_kl_gaussian_matches_torch_distributions_at_extreme_scales():
    grid = torch.tensor(SCALES, dtype=torch.float64)
    std_q, std_p = torch.meshgrid(grid, grid, indexing="ij")
    mu_q, mu_p = torch.zeros_like(std_q), torch.full_like(std_p, 3.0)
    ours = kl_gaussian(mu_q[..., None], std_q[..., None], mu_p[..., None], std_p[..., None])
    theirs = torch.distributions.kl_divergence(Normal(mu_q, std_q), Normal(mu_p, std_p))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)


def test_kl_discrete_and_entropy_with_tiny_probabilities():
    half = np.array([0.5, 0.5])
    cases = [  # (p, q, exact KL(p || q)), exact values in 50-digit arithmetic from the same floats
        (np.array([1e-300, 1.0]), half), (half, np.array([1e-300, 1.0])), (half, np.array([5e-324, 1.0])),
        (np.array([0.0, 1.0]), np.array([1e-300, 1.0])), (np.array([1e-100, 1.0]), np.array([1e-200, 1.0])),
    ]
    for p, q in cases:
        with localcontext() as ctx:
            ctx.prec = 50
            exact = float(sum(_decimal(a) * (_decimal(a) / _decimal(b)).ln() for a, b in zip(p, q) if a > 0))
        got = kl_discrete(p, q)
        assert np.isfinite(got) and got >= 0, (p, q, got)
        assert math.isclose(got, exact, rel_tol=1e-12, abs_tol=1e-300), (p, q, got, exact)
    assert kl_discrete(half, np.array([0.0, 1.0])) == np.inf                     # the true value is infinite
    # 1000 outcomes whose probabilities span 1e-300 .. 1
    p = np.geomspace(1e-300, 1, 1000)
    p /= p.sum()
    q = p[::-1].copy()
    assert np.isfinite(kl_discrete(p, q)) and kl_discrete(p, q) > 0 and kl_discrete(p, p) == 0
    h = entropy(np.array([1e-300, 1.0]))
    assert np.isfinite(h) and math.isclose(h, 1e-300 * math.log(1e300), rel_tol=1e-12)
    assert entropy(np.array([5e-324, 1.0])) >= 0


@pytest.mark.parametrize("distance", [100.0, 1e3, 1e4, 1e6])
def test_forward_and_reverse_kl_to_far_apart_modes(distance):
    # when the modes barely overlap, H(p) = log 2 + H(N(0, 1)) and p's variance is 1 + d^2 / 4, so the forward
    # KL to q = N(m, s^2) has a closed form; the reverse KL from q = N(d / 2, 1) is log 2
    target = two_mode_target(distance)
    variance = 1 + distance**2 / 4
    h_p = 0.5 * math.log(2 * math.pi * math.e) + math.log(2)
    for m, s in [(0.0, math.sqrt(variance)), (distance / 4, distance), (-distance, 0.5 * distance)]:
        exact = -h_p + 0.5 * math.log(2 * math.pi * s * s) + (variance + m * m) / (2 * s * s)
        got = kl_gaussian_target(target, m, s, direction="forward").item()
        assert math.isclose(got, exact, rel_tol=1e-9), (m, s, got, exact)
    assert math.isclose(kl_gaussian_target(target, distance / 2, 1.0, direction="reverse").item(), math.log(2),
                        rel_tol=1e-9)
    # a needle-thin q on a mode: KL = -H(q) - E_q[log p] = -1/2 log(2 pi e s^2) + log 2 + 1/2 log(2 pi) + s^2 / 2
    needle = kl_gaussian_target(target, distance / 2, 1e-6, direction="reverse").item()
    assert math.isclose(needle, -0.5 - math.log(1e-6) + math.log(2) + 0.5e-12, rel_tol=1e-9)
    _assert_finite(kl_gaussian_target(target, 0.0, 1e6, direction="reverse"),
                   kl_gaussian_target(target, 0.0, 1e-6, direction="forward"))


@pytest.mark.parametrize("distance", [100.0, 1e4])
def test_fits_to_far_apart_modes(distance):
    target = two_mode_target(distance)
    forward = fit_gaussian(target, "forward", init=(1.0, 1.0))     # moment matching: mean 0, variance 1 + d^2 / 4
    assert abs(forward.q.mean.item()) < 1e-3 * forward.q.stddev.item()    # within 0.001 of q's standard deviations
    assert math.isclose(forward.q.stddev.item(), math.sqrt(1 + distance**2 / 4), rel_tol=1e-6)
    reverse = fit_gaussian(target, "reverse", init=(distance / 2 - 0.5, 2.0))   # mode seeking: N(d / 2, 1)
    assert math.isclose(reverse.q.mean.item(), distance / 2, rel_tol=0, abs_tol=1e-5)
    assert math.isclose(reverse.q.stddev.item(), 1.0, rel_tol=1e-5)


# ---------------------------------------------------------------------------------------- marginal


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("level", [-1e30, -1e4, 0.0, 1e4, 1e30])
def test_log_mean_exp_with_huge_and_tiny_log_weights(dtype, level):
    k = 5000
    constant = torch.full((k, 3), level, dtype=dtype)
    got = log_mean_exp(constant, dim=0)
    _assert_finite(got)
    torch.testing.assert_close(got, torch.full((3,), level, dtype=dtype), rtol=RTOL[dtype], atol=1e-3)
    # one sample dominates by e^1e4: the mean is that weight / K
    spread = torch.full((k,), level - 1e4, dtype=torch.float64)
    spread[17] = level
    expected = torch.tensor(level - math.log(k), dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(spread.to(dtype)).double(), expected, rtol=RTOL[dtype], atol=1e-3)
    # impossible samples (weight 0) are allowed: log-weights of -inf
    with_zero = torch.tensor([level, -math.inf], dtype=dtype)
    torch.testing.assert_close(log_mean_exp(with_zero).double(), torch.tensor(level - math.log(2), dtype=torch.float64),
                               rtol=RTOL[dtype], atol=1e-3)


def test_log_mean_exp_of_all_zero_weights_is_minus_infinity():
    assert log_mean_exp(torch.full((5000,), -math.inf)).item() == -math.inf   # the mean of zeros is 0: log 0


# ---------------------------------------------------------------------------- linear-Gaussian model


def rotated_model(x_dim, z_dim, sigma, seed=0):
    """A dense W = R [diag(s) | 0] P^T (R, P random rotations, s in [0.5, 2]), b ~ N(0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    R = torch.linalg.qr(torch.randn(x_dim, x_dim, generator=gen, dtype=torch.float64))[0]
    P = torch.linalg.qr(torch.randn(z_dim, z_dim, generator=gen, dtype=torch.float64))[0]
    rank = min(x_dim, z_dim)
    s = 0.5 + 1.5 * torch.rand(rank, generator=gen, dtype=torch.float64)
    core = torch.zeros(x_dim, z_dim, dtype=torch.float64)
    core[range(rank), range(rank)] = s
    b = torch.randn(x_dim, generator=gen, dtype=torch.float64)
    return LinearGaussianLVM(R @ core @ P.T, b, sigma), (R, P, s)


def exact_answers(model, rotations, x, z):
    """log p(x), the posterior mean and log p(z | x), coordinate by coordinate in the rotated frame."""
    R, P, s = rotations
    rank, sigma = s.shape[0], model.sigma
    x_rot = (x - model.b) @ R                                   # R^T (x - b)
    variance = torch.full((model.x_dim,), sigma**2, dtype=torch.float64)
    variance[:rank] += s**2
    log_px = Normal(0.0, variance.sqrt()).log_prob(x_rot).sum(-1)
    mean_rot = torch.zeros(*x.shape[:-1], model.z_dim, dtype=torch.float64)
    mean_rot[..., :rank] = s * x_rot[..., :rank] / (s**2 + sigma**2)
    sd_rot = torch.ones(model.z_dim, dtype=torch.float64)
    sd_rot[:rank] = sigma / (s**2 + sigma**2).sqrt()
    log_post = Normal(mean_rot, sd_rot).log_prob(z @ P).sum(-1)
    return log_px, mean_rot @ P.T, log_post


def _close(got, expected, rtol):
    scale = 1 + expected.abs()
    assert torch.all((got - expected).abs() <= rtol * scale), ((got - expected).abs() / scale).max().item()


@pytest.mark.parametrize("sigma", SCALES)
@pytest.mark.parametrize("dims", [(1, 1), (3, 1), (120, 100), (20, 100)], ids=lambda d: f"D{d[0]}-L{d[1]}")
def test_linear_gaussian_model_is_exact_from_tiny_to_huge_noise(dims, sigma):
    model, rotations = rotated_model(*dims, sigma)
    torch.manual_seed(0)
    x, z_true = model.sample(3)
    _assert_finite(x, z_true)
    post = model.posterior(x)
    z = torch.cat([post.sample((2,)), z_true[None]])             # near the posterior, and from the prior
    log_px, mean, log_post = exact_answers(model, rotations, x, z)
    _close(model.log_marginal(x), log_px, 1e-8)
    _close(model.marginal().log_prob(x), log_px, 1e-8)
    _close(post.mean, mean, 1e-8)
    _close(post.log_prob(z), log_post, 1e-8)
    _close(model.elbo_terms(x, post)["elbo"], log_px, 1e-8)                  # ELBO(exact posterior) = log p(x)
    _close(model.log_joint(x, z) - post.log_prob(z), log_px.expand(3, -1), 1e-8)   # Bayes' rule
    # importance sampling with the exact posterior: every log-weight is log p(x), however large or small
    _close(iwae_bound(model, x, post, n_samples=50), log_px, 1e-8)
    _close(elbo_monte_carlo(model, x, post, n_samples=5), log_px, 1e-8)


@pytest.mark.parametrize("sigma", [1e-6, 1e-3])
def test_importance_weights_of_a_far_away_point_are_huge_and_stay_exact(sigma):
    # x far off the model's subspace: log p(x) ~ -|x|^2 / (2 sigma^2) ~ -5e13 .. -5e19
    model, rotations = rotated_model(3, 1, sigma)
    x = model.b + 1e4 * rotations[0][:, 2]                          # along a direction W cannot reach
    x = x[None]
    post = model.posterior(x)
    log_px, _, _ = exact_answers(model, rotations, x, post.mean)
    assert log_px.item() < -1e13
    torch.manual_seed(0)
    log_w = log_importance_weights(model, x, post, n_samples=5000)
    _assert_finite(log_w)
    _close(log_mean_exp(log_w, dim=0), log_px, 1e-10)
    _close(iwae_bound(model, x, post, n_samples=5000), log_px, 1e-10)
    naive = iwae_bound(model, x, model.prior, n_samples=5000)                     # prior samples: finite, and below log p(x)
    _assert_finite(naive)
    assert naive.item() <= log_px.item() * (1 - 1e-12)


def test_iwae_bound_with_k_5000_in_100_dimensions_and_tiny_noise():
    model, rotations = rotated_model(120, 100, 1e-6)
    torch.manual_seed(1)
    x, _ = model.sample(2)
    post = model.posterior(x)
    log_px, _, _ = exact_answers(model, rotations, x, post.mean)
    bound = iwae_bound(model, x, post, n_samples=5000)
    _close(bound, log_px, 1e-8)
    # a proposal twice as wide as the posterior: finite, and below log p(x) (K = 5000 cannot close a 100-D gap)
    wide = MultivariateNormal(post.mean, scale_tril=2 * post.scale_tril)
    estimate = iwae_bound(model, x, wide, n_samples=5000)
    _assert_finite(estimate)
    assert torch.all(estimate < log_px)


# -------------------------------------------------------------------------------------- estimators


@pytest.mark.parametrize("dtype", DTYPES)
def test_score_function_gradients_with_bernoulli_logits_of_plus_minus_100(dtype):
    logits = torch.tensor([100.0, -100.0, 0.0, 30.0], dtype=dtype, requires_grad=True)
    torch.manual_seed(0)
    n = 20_000
    grads = score_function_grad(lambda z: z.sum(-1), Bernoulli(logits=logits), n_samples=n, baseline="leave-one-out")["logits"]
    _assert_finite(grads)
    # d/dl E[z] = sigmoid(l) sigmoid(-l): about 4e-44 at |l| = 100 (0 in float32), 0.25 at l = 0
    exact = (torch.sigmoid(logits) * torch.sigmoid(-logits)).detach()
    standard_error = grads.std(0) / math.sqrt(n)
    assert torch.all((grads.mean(0) - exact).abs() <= 5 * standard_error + 1e-12), (grads.mean(0), exact)
    log_q = Bernoulli(logits=logits).log_prob(torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=dtype))
    _assert_finite(log_q)
    torch.testing.assert_close(log_q.detach().double(), torch.tensor([-100.0, -100.0, -math.log(2), -30.0],
                                                                     dtype=torch.float64), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_gradient_estimators_at_extreme_scales(scale):
    # f(z) = z^2 under N(mu, s^2): E f = mu^2 + s^2, gradients 2 mu and 2 s
    mu = 1.0

    def q():
        return Normal(torch.tensor([mu], dtype=torch.float64, requires_grad=True),
                      torch.tensor([scale], dtype=torch.float64, requires_grad=True))

    n = 20_000
    torch.manual_seed(0)
    for grads in (reparam_grad(lambda z: (z**2).sum(-1), q(), n_samples=n),
                  score_function_grad(lambda z: (z**2).sum(-1), q(), n_samples=n, baseline="leave-one-out")):
        for name, exact in [("loc", 2 * mu), ("scale", 2 * scale)]:
            g = grads[name]
            _assert_finite(g)
            assert abs(g.mean().item() - exact) <= 5 * g.std().item() / math.sqrt(n) + 1e-9 * abs(exact), (name, scale)


# --------------------------------------------------------------------------------------------- VAE


@torch.no_grad()
def vae_iwae_bound(model, x, *, n_samples, chunk=None):
    """L_K with the VAE's encoder as the proposal, as chapter 6 scores a VAE."""
    from vitools import bounds
    return bounds.iwae_bound(model, x, model.encoder(x), n_samples=n_samples, chunk=chunk)


def _constant_decoder_vae(logits):
    """A VAE whose decoder ignores z (logits fixed) and whose encoder is exactly the prior N(0, I)."""
    model = VAE(x_dim=len(logits), z_dim=2, hidden=())
    with torch.no_grad():
        decoder, encoder = model.decoder_net[-1], model.encoder_net[-1]
        decoder.weight.zero_()
        decoder.bias.copy_(torch.tensor(logits))
        encoder.weight.zero_()
        encoder.bias.zero_()
        encoder.bias[2:] = math.log(math.expm1(1 - MIN_STD))    # softplus(r) + MIN_STD = 1
    return model


def test_bernoulli_decoder_with_logits_of_plus_minus_100_gives_finite_exact_log_likelihoods():
    model = _constant_decoder_vae([100.0, -100.0, 100.0, -100.0])
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    exact = torch.tensor([0.0, -400.0, -200.0])                     # each wrong pixel costs log sigmoid(-100)
    torch.manual_seed(0)
    z = model.encoder(x).sample((7,))
    torch.testing.assert_close(model.decoder(z).log_prob(x), exact.expand(7, 3), rtol=1e-6, atol=1e-5)
    terms = model.elbo_terms(x, model.encoder(x), n_samples=3)
    _assert_finite(*terms.values())
    torch.testing.assert_close(terms["expected_log_likelihood"], exact, rtol=1e-6, atol=1e-5)
    loss = model.loss(x)
    loss.backward()
    _assert_finite(loss, *(p.grad for p in model.parameters()))
    # q = p(z) and p(x | z) = p(x): every importance weight is p(x), so K = 5000 gives log p(x) exactly
    with torch.no_grad():
        estimate = vae_iwae_bound(model, x, n_samples=5000, chunk=700)
    _assert_finite(estimate)
    torch.testing.assert_close(estimate, exact, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("sigma", [1e-3, 1.0, 1e3])
def test_vae_iwae_bound_with_k_5000_is_exact_when_the_encoder_is_the_posterior(sigma):
    # a LinearVAE whose decoder has orthogonal columns (so the exact posterior is diagonal and independent
    # of x's direction) and whose encoder is set to that posterior: all weights equal p(x) exactly
    gen = torch.Generator().manual_seed(0)
    x_dim, z_dim = 5, 2
    columns = torch.linalg.qr(torch.randn(x_dim, z_dim, generator=gen, dtype=torch.float64))[0]
    d = torch.tensor([1.5, 0.7], dtype=torch.float64)
    W, b = columns * d, torch.randn(x_dim, generator=gen, dtype=torch.float64)
    post_var = sigma**2 / (d**2 + sigma**2)
    A = (W / (d**2 + sigma**2)).T                                    # m = Sigma_{z|x} W^T (x - b) / sigma^2
    model = LinearVAE(x_dim, z_dim).double()
    with torch.no_grad():
        model.W.copy_(W)
        model.b.copy_(b)
        model.log_sigma.fill_(math.log(sigma))
        model.A.copy_(A)
        model.g.copy_(-A @ b)
        model.raw_scale.copy_(torch.log(torch.expm1(post_var.sqrt() - MIN_STD)))
    lvm = LinearGaussianLVM(W, b, sigma)
    torch.manual_seed(0)
    x = torch.cat([lvm.sample(2)[0], (b + 50 * sigma)[None]])       # two typical points, one far out
    estimate = vae_iwae_bound(model, x, n_samples=5000)
    _assert_finite(estimate)
    _close(estimate, lvm.log_marginal(x), 1e-9)


def test_vae_iwae_bound_with_k_5000_on_digits_is_finite_and_above_the_elbo():
    from vitools.data import load_digits
    x = load_digits("test")[0][:4]
    torch.manual_seed(0)
    model = VAE(64, 8, hidden=(32,))
    estimate = vae_iwae_bound(model, x, n_samples=5000)
    _assert_finite(estimate)
    with torch.no_grad():
        elbo = model.elbo(x, model.encoder(x), n_samples=5000)
    assert torch.all(estimate >= elbo - 0.05)


# ---------------------------------------------------------------------------------------------- EM


def _two_clusters(separation, scale, n=40, dim=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    offset = torch.zeros(dim, dtype=torch.float64)
    offset[0] = separation / 2
    return torch.cat([scale * torch.randn(n, dim, generator=gen, dtype=torch.float64) - offset,
                      scale * torch.randn(n, dim, generator=gen, dtype=torch.float64) + offset])


@pytest.mark.parametrize("separation, scale", [(1e6, 1.0), (1e3, 1e-3), (1e6, 1e-3), (10.0, 1e6)])
def test_em_on_far_apart_and_tight_clusters(separation, scale):
    X = _two_clusters(separation, scale)
    n, dim = 40, 2
    weights = torch.full((2,), 0.5, dtype=torch.float64)
    means = X[[0, n]] + 0.1 * scale
    covariances = (scale**2 * torch.eye(dim, dtype=torch.float64)).expand(2, dim, dim)
    fit = GaussianMixtureEM(2, reg_covar=0.0).fit(X, weights_init=weights, means_init=means, covariances_init=covariances,
                                                  max_iter=200)
    history = fit.log_likelihood_
    assert all(math.isfinite(v) for v in history)
    assert all(after >= before - 1e-9 * abs(before) for before, after in zip(history, history[1:]))
    if separation / scale > 100:       # clusters that cannot overlap: EM separates them exactly
        halves = (X[:n], X[n:])
        torch.testing.assert_close(fit.weights_, weights, rtol=0, atol=1e-12)
        for k, half in enumerate(halves):
            torch.testing.assert_close(fit.means_[k], half.mean(0), rtol=1e-12, atol=1e-9 * scale)
            centred = half - half.mean(0)
            torch.testing.assert_close(fit.covariances_[k], centred.T @ centred / n, rtol=1e-7, atol=1e-9 * scale**2)
        proba = fit.predict_proba(X)
        _assert_finite(proba)
        assert torch.equal(proba.argmax(1), torch.arange(2 * n) // n)
    # the last recorded value is the exact average log-likelihood of the fitted parameters
    reference = torch.logsumexp(torch.stack([
        math.log(w) + MultivariateNormal(m, c).log_prob(X) for w, m, c in
        zip(fit.weights_.tolist(), fit.means_, fit.covariances_)]), dim=0).mean().item()
    assert math.isclose(fit.score(X), reference, rel_tol=1e-9, abs_tol=1e-9)


def test_em_with_zero_variance_clusters_is_held_up_by_reg_covar():
    # two points, each repeated 20 times: the maximum-likelihood covariances are 0; reg_covar keeps them at 1e-6 I
    X = torch.tensor([[0.0, 0.0], [1e3, -1e3]], dtype=torch.float64).repeat_interleave(20, dim=0)
    eye = torch.eye(2, dtype=torch.float64)
    fit = GaussianMixtureEM(2, reg_covar=1e-6).fit(X, weights_init=torch.tensor([0.5, 0.5], dtype=torch.float64),
                                                    means_init=X[[0, 20]] + 0.5, covariances_init=eye.expand(2, 2, 2),
                                                    max_iter=50)
    assert all(math.isfinite(v) for v in fit.log_likelihood_)
    torch.testing.assert_close(fit.covariances_, (1e-6 * eye).expand(2, 2, 2), rtol=1e-9, atol=1e-18)
    exact = math.log(0.5) - math.log(2 * math.pi * 1e-6)              # log 0.5 + log N(mu; mu, 1e-6 I)
    assert math.isclose(fit.log_likelihood_[-1], exact, rel_tol=1e-9)


def test_responsibilities_of_points_far_from_every_component_are_finite():
    X = torch.tensor([[1e6, 1e6], [-1e6, 3e5], [0.0, 0.0]], dtype=torch.float64)
    r = GaussianMixture(torch.tensor([0.3, 0.7], dtype=torch.float64),
                        torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64),
                        torch.eye(2, dtype=torch.float64).expand(2, 2, 2) * 1e-4).posterior(X).probs
    _assert_finite(r)
    torch.testing.assert_close(r.sum(1), torch.ones(3, dtype=torch.float64))
    assert r[0, 1] == 1.0 and r[1, 0] == 1.0             # log joints ~ -1e16 apart: hard assignments, no NaN


def test_bernoulli_mixture_with_probabilities_exactly_0_and_1():
    # alpha = 0 on data whose first pixel is always 0 gives mu_k0 = 0 exactly: log p is -inf only where it should be
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 8, generator=gen) < 0.5).double()
    x[:, 0] = 0.0
    model = BernoulliMixture(3, alpha=0.0).fit(x, max_iter=50, seed=0)
    assert torch.all(model.means_[:, 0] == 0)
    log_p = model.log_marginal(x)
    _assert_finite(log_p, *model.log_likelihood_)
    impossible = x[:2].clone()
    impossible[:, 0] = 1.0
    assert torch.all(model.log_marginal(impossible) == -math.inf)        # the true probability is 0
    hidden = torch.ones(8, dtype=torch.bool)
    hidden[0] = False                                                 # hide the impossible pixel: finite again
    _assert_finite(model.log_marginal(impossible, observed=hidden), model.complete_hidden(impossible, observed=hidden))
