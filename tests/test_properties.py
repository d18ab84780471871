"""Property tests (hypothesis): the inequalities the book is built on, for random inputs.

- KL(p || q) >= 0, with equality only for p = q (discrete tables and diagonal Gaussians);
- ELBO <= L_K <= log p(x) on the linear-Gaussian model, with equality for q = the exact posterior;
- E[L_K] non-decreasing in K;
- EM never lowers the log-likelihood (Gaussian mixture, mixture of Bernoullis);
- the score-function and pathwise gradient estimators agree in the mean.

Monte Carlo quantities are compared in expectation: R independent replicates give a mean and its
standard error, and an inequality "a <= b" is checked as mean(a - b) <= Z * standard error. Every example
seeds torch from a hypothesis-drawn seed, and ``derandomize=True`` fixes the examples, so a failure
reproduces exactly (hypothesis prints the falsifying arguments, the seed among them).
"""

import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from torch.distributions import Independent, MultivariateNormal, Normal

from vitools.divergences import kl_discrete, kl_gaussian
from vitools.bounds import elbo_closed_form_kl, elbo_monte_carlo, iwae_bound, log_importance_weights, log_mean_exp
from vitools.gaussian_mixture import GaussianMixtureEM
from vitools.estimators import reparam_grad, score_function_grad
from vitools.lvm import LinearGaussianLVM
from vitools.bernoulli_mixture import BernoulliMixture

# standard errors allowed in Monte Carlo comparisons: a false alarm has probability ~3e-7 per check, so the
# ~3000 checks below stay quiet even when another hypothesis version draws other examples
Z = 5.0
ROUNDING = 1e-12   # relative slack for rounding, where q = p(z | x) makes every sample give the same value


def _settings(n):
    # derandomize: the same examples every run; database=None: no example database written to the checkout
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


seeds = st.integers(0, 2**31 - 1)


@st.composite
def distributions(draw, n=None):
    """A probability vector of length n (2..8): positive weights, some of them tiny, normalised."""
    n = draw(st.integers(2, 8)) if n is None else n
    logs = draw(st.lists(st.floats(-30, 5), min_size=n, max_size=n))
    p = np.exp(np.array(logs) - max(logs))
    return p / p.sum()


# ------------------------------------------------------------------------------------------ KL >= 0


@_settings(200)
@given(data=st.data())
def test_kl_discrete_is_nonnegative_and_zero_only_for_equal_arguments(data):
    p = data.draw(distributions())
    q = data.draw(distributions(len(p)))
    kl = kl_discrete(p, q)
    assert kl >= 0
    assert kl_discrete(p, p) == 0 and kl_discrete(q, q) == 0
    total_variation = 0.5 * np.abs(p - q).sum()
    # Pinsker: KL >= 2 TV^2, so KL > 0 as soon as p and q differ by more than rounding (1e-15 slack)
    assert kl >= 2 * total_variation**2 - 1e-15
    if total_variation > 1e-7:
        assert kl > 0


@_settings(100)
@given(p=distributions(), relative=st.floats(-1e-12, 1e-12), index=st.integers(0, 7))
def test_kl_discrete_of_nearly_equal_tables_is_not_negative(p, relative, index):
    # p and q differ in the last few digits: the terms have both signs and cancel to ~0
    q = p.copy()
    q[index % len(p)] *= 1 + relative
    q /= q.sum()
    assert kl_discrete(p, q) >= 0 and kl_discrete(q, p) >= 0


means = st.floats(-10, 10)
log_stds = st.floats(-5, 5)


@_settings(200)
@given(dim=st.integers(1, 4), data=st.data())
def test_kl_gaussian_is_nonnegative_and_zero_only_for_equal_arguments(dim, data):
    vectors = st.lists(means, min_size=dim, max_size=dim)
    scales = st.lists(log_stds, min_size=dim, max_size=dim)
    mu_q, mu_p = (torch.tensor(data.draw(vectors), dtype=torch.float64) for _ in range(2))
    std_q, std_p = (torch.tensor(data.draw(scales), dtype=torch.float64).exp() for _ in range(2))
    kl = kl_gaussian(mu_q, std_q, mu_p, std_p).item()
    assert kl >= 0
    assert kl_gaussian(mu_q, std_q, mu_q, std_q).item() == 0
    exact = torch.distributions.kl_divergence(Normal(mu_q, std_q), Normal(mu_p, std_p)).sum().item()
    assert math.isclose(kl, exact, rel_tol=1e-9, abs_tol=1e-12)
    if not (torch.equal(mu_q, mu_p) and torch.equal(std_q, std_p)):
        # differing arguments (at least 1e-300 apart) give a strictly positive divergence
        gap = max((mu_q - mu_p).abs().max().item(), (std_q.log() - std_p.log()).abs().max().item())
        assert kl > 0 or gap < 1e-7


@_settings(100)
@given(mu=means, log_std=log_stds, d_mu=st.floats(-1e-12, 1e-12), d_log_std=st.floats(-1e-12, 1e-12))
def test_kl_gaussian_of_nearly_equal_gaussians_is_not_negative(mu, log_std, d_mu, d_log_std):
    mu_q, std_q = torch.tensor([mu], dtype=torch.float64), torch.tensor([math.exp(log_std)], dtype=torch.float64)
    mu_p, std_p = mu_q + d_mu, std_q * math.exp(d_log_std)
    assert kl_gaussian(mu_q, std_q, mu_p, std_p).item() >= 0
    assert kl_gaussian(mu_p, std_p, mu_q, std_q).item() >= 0


# ---------------------------------------------------------------------- ELBO <= L_K <= log p(x)


@st.composite
def lvm_problems(draw):
    """A random linear-Gaussian model, one observation x from it, and a random Gaussian q near the posterior."""
    x_dim, z_dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    model = LinearGaussianLVM.random(x_dim, z_dim, sigma=draw(st.floats(0.2, 2.0)), seed=draw(st.integers(0, 10_000)))
    seed = draw(seeds)
    torch.manual_seed(seed)
    x, _ = model.sample(1)
    post = model.posterior(x)
    post_sd = torch.diagonal(post.covariance_matrix[0]).sqrt()
    shift = torch.tensor(draw(st.lists(st.floats(-1, 1), min_size=z_dim, max_size=z_dim)), dtype=torch.float64)
    # widths >= 0.8 posterior sd: the importance weights keep a finite variance (it is infinite below 1/sqrt 2)
    width = torch.tensor(draw(st.lists(st.floats(0.8, 1.5), min_size=z_dim, max_size=z_dim)), dtype=torch.float64)
    q_mean, q_sd = post.mean[0] + shift * post_sd, width * post_sd      # a diagonal q, off the posterior
    return model, x, q_mean, q_sd, seed


def _diagonal(mean, sd):
    return MultivariateNormal(mean, torch.diag_embed(sd**2))


@_settings(100)
@given(problem=lvm_problems())
def test_elbo_below_iwae_bound_below_log_marginal(problem):
    model, x, q_mean, q_sd, seed = problem
    torch.manual_seed(seed)
    exact = model.log_marginal(x).item()
    elbo = model.elbo_terms(x, _diagonal(q_mean, q_sd))["elbo"].item()          # closed form
    assert elbo <= exact + 1e-12
    reps, k = 400, 16
    q = Independent(Normal(q_mean, q_sd), 1)
    q_rows = Independent(Normal(q_mean.expand(reps, -1), q_sd.expand(reps, -1)), 1)   # one q per row: independent draws
    # the two Monte Carlo ELBO estimators are unbiased for the closed form
    for estimate in (elbo_monte_carlo(model, x.expand(reps, -1), q_rows, n_samples=1),
                     elbo_closed_form_kl(model, x.expand(reps, -1), q_rows, n_samples=1)):
        assert abs(estimate.mean().item() - elbo) <= Z * estimate.std().item() / math.sqrt(reps) + \
            ROUNDING * (1 + abs(elbo))
    l_k = iwae_bound(model, x.expand(reps, -1), q, n_samples=k)          # (reps,) estimates of L_K
    slack = Z * l_k.std().item() / math.sqrt(reps) + ROUNDING * (1 + abs(exact))
    assert l_k.mean().item() >= elbo - slack                                # ELBO = E[L_1] <= E[L_K]
    assert l_k.mean().item() <= exact + slack                               # E[L_K] <= log p(x)


@_settings(100)
@given(problem=lvm_problems())
def test_bounds_are_tight_at_the_exact_posterior(problem):
    model, x, _, _, seed = problem
    torch.manual_seed(seed)
    exact = model.log_marginal(x)
    post = model.posterior(x)
    torch.testing.assert_close(model.elbo_terms(x, post)["elbo"], exact, rtol=0, atol=1e-10)
    # with q = p(z | x) every importance weight equals p(x): any K and any sample give log p(x)
    for k in (1, 7):
        torch.testing.assert_close(iwae_bound(model, x, post, n_samples=k), exact, rtol=0, atol=1e-9)
    torch.testing.assert_close(elbo_monte_carlo(model, x, post, n_samples=5), exact, rtol=0, atol=1e-9)


@_settings(100)
@given(problem=lvm_problems())
def test_iwae_bound_is_nondecreasing_in_k(problem):
    model, x, q_mean, q_sd, seed = problem
    torch.manual_seed(seed)
    reps, ks = 400, [1, 2, 4, 16, 64]
    log_w = log_importance_weights(model, x.expand(reps, -1), Independent(Normal(q_mean, q_sd), 1), n_samples=ks[-1])
    # L_K from the first K of the same 64 samples: E[L_K] is the same, and pairing cancels much of the noise
    l_k = [log_mean_exp(log_w[:k], dim=0) for k in ks]
    for small, large in zip(l_k, l_k[1:]):
        difference = large - small
        slack = Z * difference.std().item() / math.sqrt(reps) + ROUNDING * (1 + small.abs().max().item())
        assert difference.mean().item() >= -slack


# ------------------------------------------------------------------------------ EM is monotone


@_settings(60)
@given(seed=seeds, n_components=st.integers(1, 3), dim=st.integers(1, 3), spread=st.floats(0.5, 5.0))
def test_gaussian_mixture_em_never_lowers_the_log_likelihood(seed, n_components, dim, spread):
    gen = torch.Generator().manual_seed(seed)
    centres = spread * torch.randn(n_components, dim, generator=gen, dtype=torch.float64)
    X = (centres[torch.arange(60) % n_components] + torch.randn(60, dim, generator=gen, dtype=torch.float64))
    means_init = X[torch.randperm(60, generator=gen)[:n_components]]
    covariances_init = torch.eye(dim, dtype=torch.float64).expand(n_components, dim, dim) * X.var(0).mean()
    weights_init = torch.full((n_components,), 1 / n_components, dtype=torch.float64)
    # reg_covar = 0: the M-step is then the exact maximiser, and EM's guarantee holds to rounding. A component
    # can then collapse onto D or fewer points (the likelihood is unbounded there): EM says so, and such a
    # run has no history to check (seed 500, 3 components in 3-D, spread 5 collapses within 40 iterations)
    try:
        fit = GaussianMixtureEM(n_components, reg_covar=0.0).fit(X, weights_init=weights_init, means_init=means_init,
                                                                covariances_init=covariances_init,
                                                                max_iter=40, tol=-math.inf)
    except ValueError as error:
        if "singular" not in str(error):
            raise
        reject()
    history = fit.log_likelihood_
    assert len(history) == 41 and all(math.isfinite(v) for v in history)
    for before, after in zip(history, history[1:]):
        assert after >= before - 1e-9 * max(1.0, abs(before)), (before, after)


@_settings(40)
@given(seed=seeds, n_components=st.integers(1, 4), on=st.floats(0.1, 0.9))
def test_bernoulli_mixture_em_never_lowers_the_log_likelihood(seed, n_components, on):
    gen = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(4, 12, generator=gen) < on).double()
    flips = (torch.rand(80, 12, generator=gen) < 0.15).double()
    x = (prototypes[torch.arange(80) % 4] + flips) % 2
    # alpha = 0: plain maximum-likelihood EM (with alpha > 0, MAP-EM raises the log-likelihood plus the
    # log prior, not the log-likelihood alone)
    fit = BernoulliMixture(n_components, alpha=0.0).fit(x, max_iter=30, tol=-math.inf, seed=seed % 1000)
    history = fit.log_likelihood_
    assert len(history) == 30 and all(math.isfinite(v) for v in history)
    for before, after in zip(history, history[1:]):
        assert after >= before - 1e-9 * max(1.0, abs(before)), (before, after)


# --------------------------------------------------- score function and pathwise agree in the mean


@_settings(60)
@given(seed=seeds, dim=st.integers(1, 3), data=st.data())
def test_score_function_and_pathwise_gradients_agree_in_the_mean(seed, dim, data):
    vector = st.lists(st.floats(-2, 2), min_size=dim, max_size=dim)
    loc = torch.tensor(data.draw(vector), dtype=torch.float64)
    scale = torch.tensor(data.draw(vector), dtype=torch.float64).exp() * 0.5
    a, c, b = (torch.tensor(data.draw(vector), dtype=torch.float64) for _ in range(3))

    def f(z):                                             # smooth, differentiable, not quadratic
        return (a * (z - c) ** 2 + b * torch.sin(z)).sum(-1)

    def q():
        return Normal(loc.clone().requires_grad_(), scale.clone().requires_grad_())

    n = 20_000
    torch.manual_seed(seed)
    score = score_function_grad(f, q(), n_samples=n, baseline="leave-one-out")
    pathwise = reparam_grad(f, q(), n_samples=n)
    # exact: E[a (z - c)^2 + b sin z] = a ((mu - c)^2 + s^2) + b sin(mu) exp(-s^2 / 2)
    damp = torch.exp(-scale**2 / 2)
    exact = {"loc": 2 * a * (loc - c) + b * torch.cos(loc) * damp,
             "scale": 2 * a * scale - b * torch.sin(loc) * scale * damp}
    for name in ("loc", "scale"):
        g_score, g_path = score[name], pathwise[name]
        se_score, se_path = g_score.std(0) / math.sqrt(n), g_path.std(0) / math.sqrt(n)
        gap = (g_score.mean(0) - g_path.mean(0)).abs()
        assert torch.all(gap <= Z * torch.sqrt(se_score**2 + se_path**2) + 1e-12), (name, gap, se_score, se_path)
        assert torch.all((g_path.mean(0) - exact[name]).abs() <= Z * se_path + 1e-12), name
        assert torch.all((g_score.mean(0) - exact[name]).abs() <= Z * se_score + 1e-12), name
