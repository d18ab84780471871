import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from torch.distributions import Categorical

from vitools.gaussian_mixture import (BATCHED_ENTRIES, GaussianMixture, GaussianMixtureEM, _m_step,
                                      fit_by_gradient_ascent)
from vitools.results import Fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def blobs():
    """600 points from 3 well-separated 2-D Gaussians, and an init: 3 data points, I, equal weights."""
    rng = np.random.default_rng(0)
    centres, scales = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]]), (0.5, 1.0, 0.8)
    x = np.concatenate([rng.multivariate_normal(c, s * np.eye(2), 200) for c, s in zip(centres, scales)])
    x = x[rng.permutation(600)]
    return x, (np.full(3, 1 / 3), x[:3].copy(), np.stack([np.eye(2)] * 3))


@pytest.fixture(scope="module")
def hard():
    """750 points from 5 overlapping 3-D Gaussians and a bad 4-component init far from the data."""
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.multivariate_normal(c, rng.uniform(0.3, 1.5) * np.eye(3), 150)
                        for c in rng.normal(scale=2.0, size=(5, 3))])
    means = 20 + np.array([[0.0, 0, 0], [0, 0.5, 0], [1, 0, 0], [0, 0, 1]])
    return x, (np.array([0.7, 0.1, 0.1, 0.1]), means, np.stack([100 * np.eye(3)] * 4))


def init_kwargs(init):
    weights, means, covariances = init
    return dict(weights_init=weights, means_init=means, covariances_init=covariances)


def parameters(mixture):
    return mixture.weights, mixture.means, mixture.covariances


def sklearn_fit(x, init, max_iter, tol):
    weights, means, covariances = init
    return SklearnGaussianMixture(len(weights), covariance_type="full", weights_init=weights, means_init=means,
                                  precisions_init=np.linalg.inv(covariances), reg_covar=1e-6, tol=tol,
                                  max_iter=max_iter, random_state=0).fit(x)


def assert_same_parameters(em, gm, atol):
    np.testing.assert_allclose(em.weights_.numpy(), gm.weights_, rtol=0, atol=atol)
    np.testing.assert_allclose(em.means_.numpy(), gm.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(em.covariances_.numpy(), gm.covariances_, rtol=0, atol=atol)


def test_converged_fit_matches_sklearn(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=500, tol=1e-10)
    gm = sklearn_fit(x, init, max_iter=500, tol=1e-10)
    assert em.converged_ and gm.converged_
    # sklearn's iteration t tests L(theta_{t-1}) - L(theta_{t-2}), the change our iteration t - 1
    # tests, and then it has already made its M-step to theta_t: it always runs one more iteration.
    assert gm.n_iter_ == em.n_iter_ + 1
    # that last M-step still moves the covariances by ~1e-6 (L changes only quadratically)
    assert_same_parameters(em, gm, atol=1e-5)
    assert em.score(x) == pytest.approx(gm.score(x), abs=1e-9)
    # run ours for sklearn's number of iterations and the parameters agree to rounding
    assert_same_parameters(GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=gm.n_iter_, tol=0), gm, atol=1e-10)
    np.testing.assert_allclose(em.predict_proba(x).numpy(), gm.predict_proba(x), rtol=0, atol=1e-4)


@pytest.mark.parametrize("data, k, n_iter", [("blobs", 3, 2), ("hard", 4, 5)])
def test_sklearn_lower_bound_is_the_log_likelihood_before_the_last_m_step(data, k, n_iter, request):
    x, init = request.getfixturevalue(data)
    em = GaussianMixtureEM(k).fit(x, **init_kwargs(init), max_iter=n_iter, tol=0)
    with pytest.warns(ConvergenceWarning):
        gm = sklearn_fit(x, init, max_iter=n_iter, tol=0)
    assert em.n_iter_ == gm.n_iter_ == n_iter and not em.converged_
    # sklearn's iteration t is E-step at theta_{t-1}, M-step to theta_t, then lower_bound = the
    # log-likelihood from that E-step, L(theta_{t-1}). After T iterations it holds
    # L(theta_{T-1}) = log_likelihood_[n_iter_ - 1] = log_likelihood_[-2]; its score is L(theta_T).
    assert abs(em.log_likelihood_[-1] - em.log_likelihood_[-2]) > 1e-5  # so the index is pinned down
    assert gm.lower_bound_ == pytest.approx(em.log_likelihood_[em.n_iter_ - 1], abs=1e-8)
    assert gm.score(x) == pytest.approx(em.log_likelihood_[-1], abs=1e-8)
    assert_same_parameters(em, gm, atol=1e-10)


def test_history_records_theta_0_to_theta_T(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=4, tol=0)
    assert len(em.history_) == len(em.log_likelihood_) == em.n_iter_ + 1 == 5
    for mixture, value in zip(em.history_, em.log_likelihood_):
        assert isinstance(mixture, GaussianMixture)
        assert mixture.log_marginal(x).mean().item() == pytest.approx(value, abs=1e-12)
        assert not any(p.requires_grad for p in parameters(mixture))
    for recorded, given in zip(parameters(em.history_[0]), init):
        np.testing.assert_array_equal(recorded.numpy(), given)
    assert em.history_[-1] is em.mixture_
    for recorded, fitted in zip(parameters(em.mixture_), (em.weights_, em.means_, em.covariances_)):
        assert torch.equal(recorded, fitted)


@pytest.mark.parametrize("data, k", [("blobs", 3), ("hard", 4)])
def test_log_likelihood_never_decreases(data, k, request):
    x, init = request.getfixturevalue(data)
    em = GaussianMixtureEM(k).fit(x, **init_kwargs(init), max_iter=200, tol=0)
    steps = np.diff(em.log_likelihood_)
    assert em.n_iter_ >= 10 and steps.min() >= -1e-10
    assert em.log_likelihood_[-1] > em.log_likelihood_[0] + 0.5


def average_kl(resp, posterior):
    return np.mean([stats.entropy(r, p) for r, p in zip(resp.numpy(), posterior.numpy())])


def test_elbo_is_tight_at_the_exact_posterior_and_short_by_the_kl_elsewhere(blobs):
    x, init = blobs
    model = GaussianMixture(*init)
    post = model.posterior(x)
    exact = model.log_marginal(x).mean().item()
    assert model.elbo(x, post).mean().item() == pytest.approx(exact, abs=1e-10)
    uniform = Categorical(probs=torch.full_like(post.probs, 1 / 3))
    gap = exact - model.elbo(x, uniform).mean().item()
    assert gap > 0.1 and gap == pytest.approx(average_kl(uniform.probs, post.probs), abs=1e-10)


def test_m_step_raises_the_elbo_and_the_new_posterior_closes_the_gap(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=2, tol=0)
    old, new = em.history_[0], em.history_[1]
    q = old.posterior(x)  # the E-step that produced theta_1
    # EM's bound picture: L(theta_0) = ELBO(r, theta_0) <= ELBO(r, theta_1) < L(theta_1)
    lower, raised = old.elbo(x, q).mean().item(), new.elbo(x, q).mean().item()
    assert lower == pytest.approx(em.log_likelihood_[0], abs=1e-10)
    assert raised > lower + 0.1
    gap = em.log_likelihood_[1] - raised
    assert gap > 1e-3 and gap == pytest.approx(average_kl(q.probs, new.posterior(x).probs), abs=1e-10)


def random_parameters(k, d, seed):
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.2, 1.0, k)
    a = rng.normal(size=(k, d, d))
    return weights / weights.sum(), rng.normal(size=(k, d)), a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)


def test_component_log_joint_matches_scipy():
    weights, means, covariances = random_parameters(4, 3, seed=2)
    x = np.random.default_rng(3).normal(size=(50, 3)) * 2
    expected = np.stack([np.log(w) + stats.multivariate_normal(m, c).logpdf(x)
                         for w, m, c in zip(weights, means, covariances)], axis=1)
    model = GaussianMixture(weights, means, covariances)
    got = model.component_log_joint(x)
    assert got.dtype == torch.float64 and got.shape == (50, 4)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(model.posterior(x).probs.sum(1).numpy(), 1, rtol=1e-12)
    # the decoder is the same Gaussian, one per index; log_joint reads the table at the given components
    c = torch.tensor([3, 0, 2])
    np.testing.assert_allclose(model.decoder(c).log_prob(torch.as_tensor(x[:3])).numpy(),
                               expected[np.arange(3), c.numpy()] - np.log(weights[c.numpy()]), rtol=1e-10)
    np.testing.assert_allclose(model.log_joint(x[:3], c).numpy(), expected[np.arange(3), c.numpy()], rtol=1e-12)


def test_a_changed_covariance_is_refactorised(blobs):
    # EM keeps each model's Cholesky factor; a covariance reassigned or edited in place must not use the old one
    x, (weights, means, covariances) = blobs
    em = GaussianMixtureEM(3).fit(x, weights_init=weights, means_init=means, covariances_init=covariances, max_iter=5)
    model = em.mixture_
    expected = lambda: np.mean(np.log(sum(w * stats.multivariate_normal(m, c).pdf(x) for w, m, c in   # noqa: E731
                                          zip(model.weights.numpy(), model.means.numpy(), model.covariances.numpy()))))
    assert em.score(x) == pytest.approx(expected(), rel=1e-10)
    model.covariances.mul_(2.0)                       # in place
    assert em.score(x) == pytest.approx(expected(), rel=1e-10)
    model.covariances = model.covariances * 0.25      # reassigned
    assert em.score(x) == pytest.approx(expected(), rel=1e-10)


@pytest.mark.parametrize("n", [50, 7000])     # both sides of BATCHED_ENTRIES: all components at once, one at a time
def test_e_and_m_steps_match_scipy_and_numpy_on_either_path(n):
    weights, means, covariances = random_parameters(4, 10, seed=5)
    x = np.random.default_rng(6).normal(size=(n, 10)) * 2
    assert (n * 4 * 10 > BATCHED_ENTRIES) == (n > 1000)
    model = GaussianMixture(weights, means, covariances)
    expected = np.stack([np.log(w) + stats.multivariate_normal(m, c).logpdf(x)
                         for w, m, c in zip(weights, means, covariances)], axis=1)
    np.testing.assert_allclose(model.component_log_joint(x).numpy(), expected, rtol=1e-10)
    resp = model.posterior(x).probs
    _, m_step_means, m_step_covariances = _m_step(torch.as_tensor(x), resp, 0.0)
    for c in range(4):                   # the weighted covariance, numpy's: sum_n r_nc (x_n - mu_c)(...)^T / N_c
        np.testing.assert_allclose(m_step_covariances[c].numpy(), np.cov(x.T, aweights=resp[:, c].numpy(), bias=True),
                                   rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(m_step_means[c].numpy(), np.average(x, axis=0, weights=resp[:, c].numpy()),
                                   rtol=1e-9, atol=1e-12)


def test_sample_is_seeded_and_follows_the_model():
    weights, means, covariances = np.array([0.3, 0.7]), np.array([[-5.0, 0.0], [5.0, 1.0]]), \
        np.stack([np.eye(2), np.array([[2.0, 0.5], [0.5, 1.0]])])
    model = GaussianMixture(weights, means, covariances)
    x, c = model.sample(20_000, seed=1)
    assert x.shape == (20_000, 2) and c.dtype == torch.int64
    assert torch.equal(model.sample(50, seed=1)[0], model.sample(50, seed=1)[0])
    assert (c == 1).double().mean().item() == pytest.approx(0.7, abs=0.02)
    np.testing.assert_allclose(torch.cov(x[c == 1].T).numpy(), covariances[1], atol=0.08)
    np.testing.assert_allclose(x[c == 0].mean(0).numpy(), means[0], atol=0.05)


def test_log_likelihood_gradient_in_the_means_is_the_responsibility_weighted_score():
    # dL/dmu_k = (1/N) sum_n r_nk Sigma_k^{-1} (x_n - mu_k): autograd must agree with the E-step
    weights, means, covariances = (torch.as_tensor(p) for p in random_parameters(3, 2, seed=4))
    x = torch.as_tensor(np.random.default_rng(5).normal(size=(40, 2)))
    means.requires_grad_()
    model = GaussianMixture(weights, means, covariances)
    (grad,) = torch.autograd.grad(model.log_marginal(x).mean(), means)
    resp = model.posterior(x).probs.detach()
    diff = x - means.detach()[:, None, :]  # (K, N, D)
    expected = torch.einsum("nk,kde,kne->kd", resp, torch.linalg.inv(covariances), diff) / len(x)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_gradient_ascent_reaches_the_em_fixed_point(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=500, tol=1e-10)
    fit = fit_by_gradient_ascent(x, **init_kwargs(init), n_steps=300, lr=0.05)
    history = fit.history["log_likelihood"]
    assert isinstance(fit, Fit) and isinstance(fit.model, GaussianMixture) and fit.converged is None and fit.q is None
    assert len(history) == 301 and not any(p.requires_grad for p in parameters(fit.model))
    assert history[0] == pytest.approx(GaussianMixture(*init).log_marginal(x).mean().item(), abs=1e-12)  # the init
    assert history[-1] == pytest.approx(fit.model.log_marginal(x).mean().item(), abs=1e-12)
    assert history[-1] == pytest.approx(em.log_likelihood_[-1], abs=1e-3)
    np.testing.assert_allclose(fit.model.means.numpy(), em.means_.numpy(), atol=1e-3)
    steps = np.diff(history)  # Adam overshoots now and then: the drops must be small, not absent
    assert -steps[steps < 0].sum() < 0.01 * (history[-1] - history[0])


def test_same_data_and_init_give_the_same_fit(blobs):
    x, init = blobs
    first = GaussianMixtureEM(3).fit(x, **init_kwargs(init), max_iter=20)
    second = GaussianMixtureEM(3).fit(torch.as_tensor(x, dtype=torch.float64),
                                      **init_kwargs([torch.as_tensor(p) for p in init]), max_iter=20)
    assert first.log_likelihood_ == second.log_likelihood_
    for a, b in zip((first.weights_, first.means_, first.covariances_),
                    (second.weights_, second.means_, second.covariances_)):
        assert a.dtype == torch.float64 and torch.equal(a, b)
    np.testing.assert_array_equal(first.predict_proba(x).numpy(), second.predict_proba(x).numpy())


def test_init_arrays_are_copied_not_shared(blobs):
    x, (weights, means, covariances) = blobs
    means = means.copy()
    em = GaussianMixtureEM(3).fit(x, weights_init=weights, means_init=means, covariances_init=covariances, max_iter=1)
    means[:] = 0
    assert em.history_[0].means.abs().sum() > 0


def bad(weights=None, means=None, covariances=None):
    """Keyword arguments for fit with one part of a valid 2-component, 2-D init replaced."""
    init = dict(weights_init=np.array([0.5, 0.5]), means_init=np.array([[0.0, 0.0], [1.0, 1.0]]),
                covariances_init=np.stack([np.eye(2)] * 2))
    for key, value in (("weights_init", weights), ("means_init", means), ("covariances_init", covariances)):
        init[key] = init[key] if value is None else value
    return init


X_OK = np.random.default_rng(6).normal(size=(30, 2))
NOT_PD = np.stack([np.eye(2), np.array([[1.0, 2.0], [2.0, 1.0]])])
ASYMMETRIC = np.stack([np.array([[1.0, 0.5], [0.0, 1.0]]), np.eye(2)])


@pytest.mark.parametrize("x, init, match", [
    (X_OK[:, 0], bad(), "X must have 2 dimension"),
    (np.where(np.arange(60).reshape(30, 2) == 7, np.nan, X_OK), bad(), "X contains NaN"),
    (X_OK, bad(means=np.zeros((2, 3))), r"means_init must have shape \(2, 2\)"),
    (X_OK, bad(covariances=np.stack([np.eye(3)] * 2)), r"covariances_init must have shape \(2, 2, 2\)"),
    (X_OK, bad(weights=np.array([0.5, 0.6])), "weights_init sums to 1.1, not 1"),
    (X_OK, bad(weights=np.array([1.5, -0.5])), "weights_init must be > 0"),
    (X_OK, bad(covariances=NOT_PD), r"covariances_init\[1\] is not symmetric positive definite"),
    (X_OK, bad(covariances=ASYMMETRIC), r"covariances_init\[0\] is not symmetric positive definite"),
    (X_OK, bad(weights=np.full(3, 1 / 3)), r"means_init must have shape \(3, 2\)"),
])
def test_fit_rejects_bad_input_naming_the_argument(x, init, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixtureEM(2).fit(x, **init)


def test_the_model_checks_its_parameters_naming_them():
    weights, means, covariances = bad().values()
    with pytest.raises(ValueError, match=r"covariances must have shape \(2, 2, 2\) to match weights \(C = 2\)"):
        GaussianMixture(weights, means, covariances[:, :1])
    with pytest.raises(ValueError, match=r"covariances\[1\] is not symmetric positive definite"):
        GaussianMixture(weights, means, NOT_PD)
    with pytest.raises(ValueError, match="weights sums to 1.1"):
        GaussianMixture([0.5, 0.6], means, covariances)
    with pytest.raises(ValueError, match="x has 3 columns but the mixture has D = 2"):
        GaussianMixture(weights, means, covariances).log_marginal(np.zeros((4, 3)))


def test_component_count_and_settings_are_checked():
    init = bad()
    with pytest.raises(ValueError, match="weights_init has 2 entries but n_components is 3"):
        GaussianMixtureEM(3).fit(X_OK, **init)
    with pytest.raises(ValueError, match="max_iter must be an integer >= 1"):
        GaussianMixtureEM(2).fit(X_OK, **init, max_iter=0)
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        GaussianMixtureEM(0)
    with pytest.raises(ValueError, match="reg_covar .* must be a finite number >= 0"):
        GaussianMixtureEM(2, reg_covar=-1e-3)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1"):
        fit_by_gradient_ascent(X_OK, **init, n_steps=0)
    with pytest.raises(ValueError, match="lr is Adam's step size"):
        fit_by_gradient_ascent(X_OK, **init, lr=-0.1)
    model = GaussianMixture(*init.values())
    with pytest.raises(ValueError, match="q has 3 categories but the mixture has C = 2"):
        model.elbo(X_OK, Categorical(probs=torch.full((30, 3), 1 / 3)))
    with pytest.raises(ValueError, match=r"q must have batch shape \(\) or \(30,\)"):
        model.elbo(X_OK, Categorical(probs=torch.full((29, 2), 0.5)))


def test_predict_proba_and_score_need_fit_first():
    with pytest.raises(RuntimeError, match=r"call fit\(.*\) first"):
        GaussianMixtureEM(2).predict_proba(X_OK)
    with pytest.raises(RuntimeError, match=r"call fit\(.*\) first"):
        GaussianMixtureEM(2).score(X_OK)


def test_degenerate_fits_raise_instead_of_returning_nan():
    x = np.concatenate([X_OK, [[100.0, 100.0]]])
    far = bad(means=np.array([[0.0, 0.0], [1e3, 1e3]]), covariances=np.stack([np.eye(2), 1e-3 * np.eye(2)]))
    with pytest.raises(ValueError, match=r"component 1 has no responsibility left .* means_init\[1\]"):
        GaussianMixtureEM(2).fit(x, **far)
    # a component that owns the single outlier alone has a zero covariance when reg_covar = 0
    alone = bad(means=np.array([[0.0, 0.0], [100.0, 100.0]]), covariances=np.stack([np.eye(2), 1e-2 * np.eye(2)]))
    with pytest.raises(ValueError, match="iteration 1 made covariance 1 singular; increase reg_covar"):
        GaussianMixtureEM(2, reg_covar=0).fit(x, **alone)
    assert GaussianMixtureEM(2).fit(x, **alone).covariances_[1].trace() < 1e-5


# ---------------------------------------------------------------- Fisher's identity and EM's fixed points


def autograd_gradients(x, theta, theta_t):
    """Autograd of l and of Q(., theta_t) (responsibilities of theta_t written out, detached) at theta."""
    params = [p.clone().requires_grad_() for p in parameters(theta)]
    model = GaussianMixture(*params)
    grad_l = torch.autograd.grad(model.log_marginal(x).mean(), params)
    resp = theta_t.posterior(x).probs.detach()
    grad_q = torch.autograd.grad((resp * model.component_log_joint(x)).sum(1).mean(), params)
    return grad_l, grad_q


def test_fisher_identity_and_the_m_step_zero_of_q_not_of_l(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3, reg_covar=0.0).fit(x, **init_kwargs(init), max_iter=300, tol=1e-12)
    theta_0, theta_1 = em.history_[0], em.history_[1]
    for theta in (theta_0, theta_1, em.history_[3]):           # grad l(theta_t) = grad Q(., theta_t) at theta_t
        for a, b in zip(*autograd_gradients(x, theta, theta)):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    grad_l, grad_q = autograd_gradients(x, theta_1, theta_0)
    # the closed-form M-step (gmm-m-step) is the stationary point of Q(., theta_0) in the means and covariances ...
    assert grad_q[1].abs().max() < 1e-12 and grad_q[2].abs().max() < 1e-10
    # ... but not of l: the responsibilities moved with theta
    assert grad_l[1].norm() > 1e-2 and grad_l[2].norm() > 1e-2
    # at convergence (a fixed point) l is stationary too
    grad_l_end, _ = autograd_gradients(x, em.history_[-1], em.history_[-1])
    assert em.converged_ and grad_l_end[1].norm() < 1e-5 and grad_l_end[2].norm() < 1e-5


def test_expected_log_joint_is_q_and_differentiates_theta_only(blobs):
    """elbo_terms(x, q_t)["expected_log_joint"], averaged, is EM's Q(theta, theta_t): Q(theta_0, theta_0) plus the
    responsibilities' average entropy is l(theta_0), and with q_t fixed its gradient is the written-out one."""
    x, init = blobs
    theta_0 = GaussianMixture(*init)
    q_0 = theta_0.posterior(x)
    terms = theta_0.elbo_terms(x, q_0)
    entropy = torch.special.entr(q_0.probs).sum(1)
    torch.testing.assert_close(terms["entropy"], entropy, rtol=0, atol=1e-12)
    assert (terms["expected_log_joint"] + entropy).mean().item() == pytest.approx(
        theta_0.log_marginal(x).mean().item(), abs=1e-10)
    means = torch.as_tensor(init[1]).clone().requires_grad_()
    moved = GaussianMixture(init[0], means + 0.3, init[2])
    (grad,) = torch.autograd.grad(moved.elbo_terms(x, q_0)["expected_log_joint"].mean(), means)
    (written_out,) = torch.autograd.grad((q_0.probs * moved.component_log_joint(x)).sum(1).mean(), means)
    torch.testing.assert_close(grad, written_out, rtol=1e-12, atol=1e-14)


def test_exercise_3_4_reference_is_autograd_and_not_zero_after_an_m_step():
    from vitools.exercises import exercise

    ex = exercise("fisher-identity-gradient")
    for X, w, mu, S in ex.probes:
        means = torch.as_tensor(mu).clone().requires_grad_()
        (grad,) = torch.autograd.grad(GaussianMixture(w, means, S).log_marginal(X).mean(), means)
        np.testing.assert_allclose(ex.reference(X, w, mu, S), grad.numpy(), rtol=1e-8, atol=1e-12)
    assert np.abs(ex.reference(*ex.probes[1])).max() > 1e-2    # the second probe is an M-step's output


# ---------------------------------------------------------------- chapter 3's exercises: the claims in their feedback

def test_exercise_3_1_dividing_by_c_gets_its_own_message():
    from vitools.exercises import exercise

    feedback = exercise("m-step-weights").check(lambda r: r.sum(0) / r.shape[1])          # N_c / C, written by a student
    assert not feedback.passed and "divided by C" in feedback.message and "evidence" not in feedback.message


def test_exercise_3_2_underflow_threshold_and_broadcast_mistake():
    from scipy import special

    from vitools.exercises import exercise

    naive = lambda lj: np.exp(lj) / np.exp(lj).sum(axis=1, keepdims=True)    # noqa: E731
    row = np.array([[-700.0, -702.0, -705.0]])
    np.testing.assert_allclose(naive(row), special.softmax(row, axis=1), rtol=1e-12)   # -700 is still fine
    assert np.exp(-745.0) > 0 and np.exp(-746.0) == 0                                  # float64's underflow
    ex = exercise("e-step-log-space")
    with np.errstate(all="ignore"):
        assert np.isnan(naive(ex.probes[0][0])).any()                                  # the first probe breaks it

    def forgot_keepdims(lj):
        s = lj - lj.max(axis=1)
        return np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)

    feedback = ex.check(forgot_keepdims)
    assert not feedback.passed and "keepdims=True" in feedback.message and "before exp" not in feedback.message


def test_exercise_3_3_mistakes_are_what_their_messages_say():
    from vitools.data import eye_colour_table
    from vitools.exercises import exercise
    from vitools.marginal import normalise

    table, colours, nationalities = eye_colour_table()
    assert colours[2] == "green" and len(nationalities) == 8
    joint = normalise(table)[2]
    q, posterior = np.full(8, 1 / 8), joint / joint.sum()
    ex = exercise("elbo-by-hand")
    values = {m.message.split(":")[0]: float(m.make()) for m in ex.mistakes}
    by_posterior = next(v for k, v in values.items() if "ELBO - log p(x)" in k)
    assert by_posterior == pytest.approx(np.sum(q * np.log(posterior / q)), abs=1e-12)   # posterior in the numerator
    assert by_posterior == pytest.approx(-stats.entropy(q, posterior), abs=1e-12)
    no_entropy = next(v for k, v in values.items() if "E_q[log p(x, z)] alone" in k)
    assert no_entropy == pytest.approx(np.sum(q * np.log(joint)), abs=1e-12)              # E_q log p(x, z)
    assert ex.expected() - no_entropy == pytest.approx(np.log(8), abs=1e-12)              # H(uniform) = log 8


def test_exercise_3_4_rejects_a_transposed_or_summed_answer():
    from vitools.exercises import exercise

    ex = exercise("fisher-identity-gradient")
    C, D = ex.probes[0][2].shape
    assert C != D
    assert "shape" in ex.check(lambda *a: ex.reference(*a).T).message
    feedback = ex.check(lambda X, *a: len(X) * ex.reference(X, *a))
    assert not feedback.passed and "summed over the data points" in feedback.message


def test_settings_past_the_data_are_keyword_only():
    from vitools.bernoulli_mixture import BernoulliMixture
    from vitools.variational_em import best_q_in_family, variational_em

    weights, means, covariances = bad().values()
    calls = [lambda: GaussianMixtureEM(2).fit(X_OK, weights, means, covariances),
             lambda: GaussianMixtureEM(2, 1e-6),
             lambda: fit_by_gradient_ascent(X_OK, weights, means, covariances),
             lambda: BernoulliMixture(2, 1.0),
             lambda: variational_em(X_OK, 1),
             lambda: best_q_in_family(None, X_OK, "full")]
    for call in calls:
        with pytest.raises(TypeError, match="positional"):
            call()
