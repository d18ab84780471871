"""vitools.blackbox and data.load_breast_cancer: the model against torch.distributions and autograd, the quadrature
ELBO against scipy and Monte Carlo, every gradient estimator unbiased and their variances ordered, the Laplace MAP
against scikit-learn, importance sampling against a grid, the fits, and bad input."""

import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
import torch
from scipy import integrate
from torch.distributions import Bernoulli, Independent, Normal

from vitools import blackbox
from vitools.data import load_breast_cancer

pytestmark = pytest.mark.usefixtures("one_thread")

F64 = torch.float64
CHI2_LIMIT = scipy.stats.chi2.ppf(1 - 1e-4, df=31)      # 67.9: a false alarm once in 10,000 seeds


def hotelling(estimates, exact):
    """R d^T C^{-1} d for the mean error d of R independent estimates (rows) with sample covariance C: about
    chi-square with L degrees of freedom when they are unbiased. The coordinates' errors are strongly correlated (one
    draw of z moves all of them), so a per-coordinate test would be too loose or too strict."""
    d = estimates.mean(0) - exact
    cov = torch.cov(estimates.T)
    return (len(estimates) * d @ torch.linalg.solve(cov, d)).item()


def diag_q(loc, scale):
    loc = torch.as_tensor(loc, dtype=F64)
    return Independent(Normal(loc, torch.as_tensor(scale, dtype=F64).expand_as(loc)), 1)


@pytest.fixture(scope="module")
def model():
    x, y = load_breast_cancer(intercept=True)
    return blackbox.BayesianLogisticRegression(x, y, prior_scale=1.0)


@pytest.fixture(scope="module")
def laplace_fit(model):
    return blackbox.laplace(model)


@pytest.fixture(scope="module")
def q_laplace(model, laplace_fit):            # q at the Laplace mean, s = 0.1: the chapter's first fixed q
    return diag_q(laplace_fit.q.mean, 0.1)


@pytest.fixture(scope="module")
def q_start(model):                           # fit's starting q, N(0, 0.1^2 I): the chapter's second fixed q
    return diag_q(torch.zeros(model.z_dim), 0.1)


@pytest.fixture(scope="module")
def best(model):
    return blackbox.best_mean_field(model)


@pytest.fixture(scope="module")
def small():                                  # 40 rows, an intercept and one feature: a model a grid can integrate
    x, y = load_breast_cancer(intercept=True)
    return blackbox.BayesianLogisticRegression(x[::14, :2], y[::14], prior_scale=2.0)


# ---------------------------------------------------------------- the data


def test_breast_cancer_equals_scikit_learns_arrays():
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    bunch = datasets.load_breast_cancer()
    x_raw, y = load_breast_cancer(standardize=False)
    np.testing.assert_array_equal(x_raw.numpy(), bunch.data)
    np.testing.assert_array_equal(y.numpy(), bunch.target)
    x, y = load_breast_cancer()
    np.testing.assert_allclose(x.numpy(), StandardScaler().fit_transform(bunch.data), rtol=0, atol=1e-12)
    x1, _ = load_breast_cancer(intercept=True)
    assert x1.shape == (569, 31) and x1.dtype == F64 and y.dtype == torch.int64
    assert torch.equal(x1[:, 0], torch.ones(569, dtype=F64)) and torch.equal(x1[:, 1:], x)
    assert list(bunch.target_names) == ["malignant", "benign"] and int(y.sum()) == 357   # 1 = benign
    assert load_breast_cancer(dtype=torch.float32)[0].dtype == torch.float32


def test_breast_cancer_is_read_without_importing_scikit_learn():
    code = ("import sys; from vitools.data import load_breast_cancer; x, y = load_breast_cancer(); "
            "print(x.shape[0], 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["569", "False"]


# ---------------------------------------------------------------- the model's densities


def test_log_joint_against_torch_distributions(model):
    z = torch.randn(5, model.z_dim, dtype=F64, generator=torch.Generator().manual_seed(0))
    log_lik = Bernoulli(logits=z @ model.x.T).log_prob(model.y).sum(-1)
    log_prior = Normal(torch.zeros(model.z_dim, dtype=F64), 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(model.log_likelihood(z), log_lik)
    torch.testing.assert_close(model.log_prior(z), log_prior)
    torch.testing.assert_close(model.log_joint(z), log_lik + log_prior)
    torch.testing.assert_close(model.prior.log_prob(z), log_prior)
    torch.testing.assert_close(model.log_joint(z[0]), model.log_joint(z)[0])


def test_minibatch_log_joint_is_scaled_by_n_over_b_and_unbiased(model):
    z = torch.randn(3, model.z_dim, dtype=F64, generator=torch.Generator().manual_seed(1))
    order = torch.randperm(model.n_data, generator=torch.Generator().manual_seed(2))
    batch = order[:40]
    full_rows = model.log_likelihood(z, batch=batch)
    # the factor N/|B| on the minibatch's likelihood, the prior once and unscaled
    torch.testing.assert_close(model.log_joint(z, batch=batch), 569 / 40 * full_rows + model.log_prior(z))
    torch.testing.assert_close(model.log_joint(z, batch=batch, batch_scale=1.0), full_rows + model.log_prior(z))
    # unbiased: averaged over the equal-sized batches of a partition of the rows, it is the full log joint exactly
    parts = order[:560].reshape(14, 40)
    sub = blackbox.BayesianLogisticRegression(model.x[order[:560]], model.y[order[:560]])
    parts = torch.arange(560).reshape(14, 40)
    mean = torch.stack([sub.log_joint(z, batch=p) for p in parts]).mean(0)
    torch.testing.assert_close(mean, sub.log_joint(z))
    # without the factor the average is far off (by (1 - |B|/N) times the log-likelihood)
    unscaled = torch.stack([sub.log_joint(z, batch=p, batch_scale=1.0) for p in parts]).mean(0)
    assert torch.all((unscaled - sub.log_joint(z)).abs() > 10)


def test_gradient_and_hessian_against_autograd(model):
    z = (0.3 * torch.randn(model.z_dim, dtype=F64, generator=torch.Generator().manual_seed(3))).requires_grad_()
    batch = torch.arange(0, 569, 7)
    for kwargs in ({}, {"batch": batch}, {"batch": batch, "batch_scale": 2.5}):
        auto = torch.autograd.grad(model.log_joint(z, **kwargs), z)[0]
        torch.testing.assert_close(model.grad_log_joint(z.detach(), **kwargs), auto)
    hess = torch.autograd.functional.hessian(lambda v: model.log_joint(v), z.detach())
    torch.testing.assert_close(model.hessian_log_joint(z.detach()), hess)


# ---------------------------------------------------------------- the ELBO


def test_quadrature_against_scipy(model, laplace_fit):
    for scale in (0.01, 0.3, 1.0):                           # 1.0: u_n has standard deviations up to 20
        loc, s = laplace_fit.q.mean, torch.full((model.z_dim,), scale, dtype=F64)
        rows = [0, 1, 100, 122, 400]                         # 122: a row with extreme feature values
        mean, sd = (model.x[rows] @ loc).numpy(), ((model.x[rows] ** 2) @ s**2).sqrt().numpy()
        ours = blackbox._expected_log_likelihood(model.x[rows], model.y[rows], loc, s).item()
        exact = 0.0
        for mu, sg, y in zip(mean, sd, model.y[rows].numpy()):
            density = lambda u, mu=mu, sg=sg: math.exp(-0.5 * ((u - mu) / sg) ** 2) / (sg * math.sqrt(2 * math.pi))
            softplus = integrate.quad(lambda u: np.logaddexp(0, u) * density(u), mu - 12 * sg, mu + 12 * sg,
                                      points=[0.0] if abs(mu) < 12 * sg else None, epsabs=1e-13, limit=400)[0]
            exact += y * mu - softplus
        assert abs(ours - exact) < 1e-9 * max(1.0, abs(exact)), (scale, ours, exact)


def test_elbo_terms_add_up_and_agree_with_monte_carlo(model, q_laplace):
    terms = model.elbo_terms(q_laplace)
    n = model.n_data
    assert abs(terms["elbo"] - (terms["expected_log_likelihood"] - terms["kl_to_prior"])) < 1e-12
    assert abs(terms["elbo"] - (terms["expected_log_joint"] + terms["entropy"])) < 1e-12
    assert abs(terms["entropy"] * n - q_laplace.entropy()) < 1e-10
    z = q_laplace.sample((20_000,))
    prior = model.log_prior(z)
    assert abs(terms["expected_log_prior"] * n - prior.mean()) < 4 * prior.std() / math.sqrt(len(z))
    log_lik = model.log_likelihood(z)
    assert abs(terms["expected_log_likelihood"] * n - log_lik.mean()) < 4 * log_lik.std() / math.sqrt(len(z))
    mc = model.elbo_terms(q_laplace, n_samples=20_000, seed=0)
    assert abs(mc["elbo"] - terms["elbo"]) * n < 4 * log_lik.std() / math.sqrt(20_000)
    assert mc["entropy"] == terms["entropy"] and mc["kl_to_prior"] == terms["kl_to_prior"]
    torch.testing.assert_close(model.elbo(q_laplace, n_samples=50, seed=3), model.elbo(q_laplace, n_samples=50, seed=3))


def test_exact_gradient_against_finite_differences_and_a_huge_pathwise_estimate(model, q_laplace):
    exact = blackbox.exact_elbo_gradient(model, q_laplace)
    m, s = q_laplace.base_dist.loc, q_laplace.base_dist.scale
    step = 1e-5
    for i in (0, 7, 30):
        e = torch.zeros(model.z_dim, dtype=F64)
        e[i] = step
        d_m = (model.elbo(diag_q(m + e, s)) - model.elbo(diag_q(m - e, s))) / (2 * step)
        d_log_s = (model.elbo(diag_q(m, s * torch.exp(e))) - model.elbo(diag_q(m, s * torch.exp(-e)))) / (2 * step)
        assert abs(d_m - exact["loc"][i]) < 1e-6 and abs(d_log_s - exact["log_scale"][i]) < 1e-6
    huge = blackbox.elbo_gradients(model, q_laplace, n_samples=40_000, estimators="reparam", seed=0)["reparam"]
    for key, g in huge.items():
        assert hotelling(g, exact[key]) < CHI2_LIMIT, key


# ---------------------------------------------------------------- the gradient estimators


def test_per_sample_formulas_against_autograd(model, q_laplace):
    """The score h = grad_phi log q at fixed z, the reparameterised gradient of log p(y, z(eps)) + H(q)."""
    out = blackbox.elbo_gradients(model, q_laplace, n_samples=4, estimators=("score", "reparam"), seed=5)
    eps = torch.randn((4, model.z_dim), dtype=F64, generator=torch.Generator().manual_seed(5))   # the same draws
    m = q_laplace.base_dist.loc.expand(4, -1).clone().requires_grad_()
    log_s = q_laplace.base_dist.scale.log().expand(4, -1).clone().requires_grad_()
    z = (m + log_s.exp() * eps).detach()
    log_q = Normal(m, log_s.exp()).log_prob(z).sum(-1)
    h_m, h_log_s = torch.autograd.grad(log_q.sum(), [m, log_s])
    f = (model.log_joint(z) - log_q).detach()[:, None]
    torch.testing.assert_close(out["score"]["loc"], f * h_m / model.n_data)
    torch.testing.assert_close(out["score"]["log_scale"], f * h_log_s / model.n_data)
    path = model.log_joint(m + log_s.exp() * eps) + Normal(m, log_s.exp()).entropy().sum(-1)
    g_m, g_log_s = torch.autograd.grad(path.sum(), [m, log_s])
    torch.testing.assert_close(out["reparam"]["loc"], g_m / model.n_data)
    torch.testing.assert_close(out["reparam"]["log_scale"], g_log_s / model.n_data)


def test_rao_blackwellised_weight_keeps_only_the_terms_of_its_coordinate(model, q_laplace):
    out = blackbox.elbo_gradients(model, q_laplace, n_samples=3, estimators=("score", "score_rb"), seed=6)
    eps = torch.randn((3, model.z_dim), dtype=F64, generator=torch.Generator().manual_seed(6))
    m, s = q_laplace.base_dist.loc, q_laplace.base_dist.scale
    z = m + s * eps
    terms = Normal(0.0, 1.0).log_prob(z) - Normal(m, s).log_prob(z)        # log p(z_i) - log q_i(z_i)
    f_i = model.log_likelihood(z)[:, None] + terms
    torch.testing.assert_close(out["score_rb"]["loc"], f_i * (eps / s) / model.n_data)
    torch.testing.assert_close(out["score_rb"]["log_scale"], f_i * (eps**2 - 1) / model.n_data)


def test_leave_one_out_baseline_is_the_optimal_constant_from_the_other_samples(model, q_laplace):
    out = blackbox.elbo_gradients(model, q_laplace, n_samples=5, estimators=("score", "score_cv"), seed=7)
    eps = torch.randn((5, model.z_dim), dtype=F64, generator=torch.Generator().manual_seed(7))
    plain, h = out["score"]["loc"], eps / q_laplace.base_dist.scale
    f = plain / h                                                           # f(z_j) / N, the same in every column
    for j in range(5):
        others = [k for k in range(5) if k != j]
        a = (f[others] * h[others] ** 2).sum(0) / (h[others] ** 2).sum(0)
        torch.testing.assert_close(out["score_cv"]["loc"][j], (f[j] - a) * h[j])


@pytest.mark.parametrize("which", ["laplace", "start"])
def test_every_estimator_is_unbiased(model, q_laplace, q_start, which):
    q = q_laplace if which == "laplace" else q_start
    exact = blackbox.exact_elbo_gradient(model, q)
    grads = blackbox.elbo_gradients(model, q, n_samples=8, n_repeats=3000, seed=11)
    for name, parts in grads.items():
        for key, g in parts.items():
            estimates = g.mean(1)                                           # (R, L): independent 8-sample estimates
            assert hotelling(estimates, exact[key]) < CHI2_LIMIT, (which, name, key)
    # the test sees a bias of the size a plug-in baseline (a-hat from the same 8 samples) would bring
    eps = torch.randn((3000, 8, model.z_dim), dtype=F64, generator=torch.Generator().manual_seed(11))  # same draws
    statistics = []
    for key, h in (("loc", eps / q.base_dist.scale), ("log_scale", eps**2 - 1)):
        f = grads["score"][key] / h
        plug_in = (f - (f * h**2).sum(1, keepdim=True) / (h**2).sum(1, keepdim=True)) * h
        statistics.append(hotelling(plug_in.mean(1), exact[key]))
    assert max(statistics) > 20 * CHI2_LIMIT, statistics                  # measured: 6663 and 1755


def test_minibatch_estimates_average_to_the_full_data_estimate(model, q_laplace):
    """With the same draws, the minibatch estimates averaged over a partition of the rows are the full-data ones
    (the estimators linear in log p(y, z)); the control-variate ones are unbiased but not linear."""
    sub = blackbox.BayesianLogisticRegression(model.x[:560], model.y[:560])
    names = ("score", "score_rb", "reparam")
    full = blackbox.elbo_gradients(sub, q_laplace, n_samples=6, estimators=names, seed=4)
    parts = [blackbox.elbo_gradients(sub, q_laplace, n_samples=6, estimators=names, seed=4, batch=b)
             for b in torch.arange(560).reshape(8, 70)]
    for name in names:
        for key in ("loc", "log_scale"):
            torch.testing.assert_close(torch.stack([p[name][key] for p in parts]).mean(0), full[name][key])


def test_variances_are_ordered_as_the_chapter_says(model, q_laplace, q_start):
    def mean_ratios(q):
        v = blackbox.gradient_variances(model, q, n_samples=16, n_repeats=400, seed=0)
        return {name: {key: (v[name][key].mean() / v["score"][key].mean()).item() for key in ("loc", "log_scale")}
                for name in blackbox.ESTIMATORS}

    at = mean_ratios(q_laplace)       # measured: cv 0.0019/0.0026, rb 0.12/0.12, rb+cv 0.0003/0.0008, reparam 5e-6/3e-6
    for key in ("loc", "log_scale"):
        assert at["reparam"][key] < 0.1 * at["score_rb_cv"][key]
        assert at["score_rb_cv"][key] < 0.5 * at["score_cv"][key]
        assert at["score_cv"][key] < 0.05 * at["score_rb"][key]
        assert 0.05 < at["score_rb"][key] < 0.25
    start = mean_ratios(q_start)      # measured: cv 0.037/0.044, rb 0.79/0.79, rb+cv as cv, reparam 5e-5/5e-4
    for key in ("loc", "log_scale"):
        assert start["reparam"][key] < 0.05 * start["score_cv"][key]
        assert start["score_cv"][key] < 0.1
        assert 0.6 < start["score_rb"][key] < 0.95
        assert abs(start["score_rb_cv"][key] / start["score_cv"][key] - 1) < 0.05


def test_seeded_draws_repeat_and_leave_the_global_rng_alone(model, q_laplace):
    state = torch.get_rng_state()
    a = blackbox.elbo_gradients(model, q_laplace, n_samples=4, seed=3)
    b = blackbox.elbo_gradients(model, q_laplace, n_samples=4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a[n][k], b[n][k]) for n in a for k in a[n])
    c = blackbox.elbo_gradients(model, q_laplace, n_samples=4, seed=4)
    assert not torch.equal(a["score"]["loc"], c["score"]["loc"])
    blackbox.importance_sampling(model, model.prior, n_samples=10, seed=1)
    assert torch.equal(torch.get_rng_state(), state)


# ---------------------------------------------------------------- the reference posterior


@pytest.mark.parametrize("prior_scale", [1.0, 0.5])
def test_laplace_map_matches_scikit_learn(model, prior_scale):
    from sklearn.linear_model import LogisticRegression

    m = blackbox.BayesianLogisticRegression(model.x, model.y, prior_scale=prior_scale)
    fit = blackbox.laplace(m)
    assert fit.converged and len(fit.history["newton_decrement"]) < 15
    assert all(b >= a for a, b in zip(fit.history["log_joint"], fit.history["log_joint"][1:]))
    # scikit-learn minimises C sum_n loss_n + |w|^2 / 2, i.e. maximises log p(y, z) when C = sigma_0^2. Its lbfgs
    # leaves an intercept unpenalised, so the intercept is a column of the design matrix (fit_intercept=False)
    sk = LogisticRegression(C=prior_scale**2, fit_intercept=False, tol=1e-12, max_iter=10_000).fit(m.x.numpy(),
                                                                                                   m.y.numpy())
    np.testing.assert_allclose(fit.q.mean.numpy(), sk.coef_[0], atol=1e-5)
    hess = torch.autograd.functional.hessian(lambda v: m.log_joint(v), fit.q.mean)
    torch.testing.assert_close(fit.q.precision_matrix, -hess)
    assert torch.autograd.functional.jacobian(lambda v: m.log_joint(v), fit.q.mean).abs().max() < 1e-8


def test_importance_sampling_against_a_grid(small):
    """Posterior means and variances of a 2-weight model by a 400 x 400 grid; IS with the Laplace proposal agrees."""
    proposal = blackbox.laplace(small).q
    centre, sd = proposal.mean, proposal.covariance_matrix.diagonal().sqrt()
    axes = [torch.linspace(-1, 1, 400, dtype=F64) * 9 * sd[i] + centre[i] for i in range(2)]   # +- 9 Laplace sds
    z = torch.cartesian_prod(*axes)
    w = torch.softmax(small.log_joint(z), 0)
    mean = w @ z
    var = w @ (z - mean) ** 2
    out = blackbox.importance_sampling(small, proposal, n_samples=40_000, seed=0)
    assert 0.5 * 40_000 < out["ess"] <= 40_000
    se = (var / out["ess"]).sqrt()
    assert torch.all((out["mean"] - mean).abs() < 4 * se), (out["mean"], mean, se)
    assert torch.all((out["variance"] / var - 1).abs() < 0.05)
    cell = (axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0])
    log_evidence = torch.logsumexp(small.log_joint(z), 0) + torch.log(cell)                   # the grid's integral
    assert abs(out["iwae_bound"] * small.n_data - log_evidence) < 0.01


def test_importance_sampling_weights_and_ess(model, laplace_fit):
    out = blackbox.importance_sampling(model, laplace_fit.q, n_samples=20_000, seed=0)
    assert 1 <= out["ess"] <= 20_000 and out["ess"] > 500       # measured 1363
    exact_q = blackbox.importance_sampling(model, model.prior, n_samples=5, seed=0)
    assert set(exact_q) == {"mean", "variance", "ess", "iwae_bound"}


# ---------------------------------------------------------------- fitting


def test_best_mean_field_is_a_stationary_point_above_the_fits(model, best, laplace_fit):
    assert best.converged
    g = blackbox.exact_elbo_gradient(model, best.q)
    assert max(g["loc"].abs().max(), g["log_scale"].abs().max()) < 1e-6
    start = diag_q(laplace_fit.q.mean, laplace_fit.q.precision_matrix.diagonal().rsqrt())
    assert model.elbo(best.q) > model.elbo(start) > model.elbo(diag_q(laplace_fit.q.mean, 0.1))
    assert abs(best.history["elbo"][-1] - model.elbo(best.q)) < 1e-12
    assert all(b >= a for a, b in zip(best.history["elbo"], best.history["elbo"][1:]))
    assert abs(best.history["elbo"][0] - model.elbo(start)) < 1e-12
    evidence = blackbox.importance_sampling(model, laplace_fit.q, n_samples=20_000, seed=0)["iwae_bound"]
    assert model.elbo(best.q) < evidence - 0.01        # ELBO <= log p(y | x): a KL of 0.02 nats per data point


def test_fit_climbs_the_elbo_and_returns_a_diagonal_gaussian(model, best):
    fit = blackbox.fit(model, estimator="reparam", n_steps=1000, seed=0)
    assert isinstance(fit.q, Independent) and isinstance(fit.q.base_dist, Normal) and fit.q.event_shape == (31,)
    hist = fit.history
    assert hist["step"] == list(range(0, 1001, 50)) and len(hist["elbo"]) == len(hist["seconds"]) == 21
    assert hist["elbo"][0] == pytest.approx(model.elbo(diag_q(torch.zeros(31), 0.1)).item())
    assert hist["elbo"][-1] == pytest.approx(model.elbo(fit.q).item())
    assert best.history["elbo"][-1] - hist["elbo"][-1] < 0.002                       # measured 0.0003
    assert (fit.q.mean - best.q.mean).abs().mean() < 0.05
    assert ((fit.q.stddev / best.q.stddev).mean() - 1).abs() < 0.1
    again = blackbox.fit(model, estimator="reparam", n_steps=1000, seed=0)
    assert torch.equal(again.q.mean, fit.q.mean) and again.history["elbo"] == hist["elbo"]


def test_fit_with_the_score_function_and_control_variates_gets_close(model, best):
    fit = blackbox.fit(model, estimator="score_rb_cv", n_steps=1000, seed=0)
    assert best.history["elbo"][-1] - fit.history["elbo"][-1] < 0.005                # measured 0.0016
    plain = blackbox.fit(model, estimator="score", n_steps=1000, seed=0)
    assert plain.history["elbo"][-1] < fit.history["elbo"][-1] - 0.02              # measured -0.175 vs -0.120


def test_hand_written_adam_is_torchs_adam():
    gen = torch.Generator().manual_seed(0)
    params = [torch.randn(5, dtype=F64, generator=gen), torch.randn(3, dtype=F64, generator=gen)]
    ours, theirs = [p.clone() for p in params], [p.clone().requires_grad_() for p in params]
    adam, reference = blackbox._Adam(ours, 0.05), torch.optim.Adam(theirs, lr=0.05)
    for _ in range(50):
        grads = [torch.randn(p.shape, dtype=F64, generator=gen) * 3 for p in params]
        adam.ascend(grads)
        for p, g in zip(theirs, grads):
            p.grad = -g                                             # torch minimises: the ascent direction negated
        reference.step()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b.detach())


def test_minibatch_fit_needs_the_factor(model, best):
    scaled = blackbox.fit(model, estimator="reparam", n_steps=1000, batch_size=32, seed=0)
    unscaled = blackbox.fit(model, estimator="reparam", n_steps=1000, batch_size=32, batch_scale=1.0, seed=0)
    assert best.history["elbo"][-1] - scaled.history["elbo"][-1] < 0.005
    assert ((scaled.q.stddev / best.q.stddev).mean() - 1).abs() < 0.15
    assert (unscaled.q.stddev / best.q.stddev).mean() > 1.5                        # too wide: the prior dominates
    assert unscaled.q.mean.norm() < 0.8 * best.q.mean.norm()                       # shrunk towards the prior mean 0
    assert unscaled.history["elbo"][-1] < scaled.history["elbo"][-1] - 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda():
    x, y = load_breast_cancer(intercept=True)
    m = blackbox.BayesianLogisticRegression(x.cuda(), y.cuda())
    q = diag_q(torch.zeros(31), 0.1)
    g = blackbox.elbo_gradients(m, q, n_samples=4, seed=0)
    assert g["score_rb_cv"]["loc"].device.type == "cuda"
    fit = blackbox.fit(m, n_steps=20, batch_size=50, seed=0)
    assert fit.q.mean.device.type == "cuda" and math.isfinite(fit.history["elbo"][-1])
    lap = blackbox.laplace(m)
    assert lap.q.mean.device.type == "cuda"
    assert blackbox.importance_sampling(m, lap.q, n_samples=100, seed=0)["mean"].device.type == "cuda"
    assert blackbox.best_mean_field(m, max_iter=5).q.mean.device.type == "cuda"
    cpu = blackbox.laplace(blackbox.BayesianLogisticRegression(x, y)).q.mean
    torch.testing.assert_close(lap.q.mean.cpu(), cpu)


# Bad input: blackbox's and data.load_breast_cancer's cases are in tests/test_bad_input.py, with every module's.
