import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from vitools.em import (GaussianMixtureEM, component_log_joint, fit_by_gradient_ascent, log_likelihood,
                        mixture_elbo, responsibilities)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These tensors are tiny: with several intra-op threads on a loaded machine torch spends its time
    synchronising them (a 150-iteration variational EM run went from 0.4 s to 20 s). One thread is faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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


def sklearn_fit(x, init, max_iter, tol):
    weights, means, covariances = init
    return GaussianMixture(len(weights), covariance_type="full", weights_init=weights, means_init=means,
                           precisions_init=np.linalg.inv(covariances), reg_covar=1e-6, tol=tol,
                           max_iter=max_iter, random_state=0).fit(x)


def assert_same_parameters(em, gm, atol):
    np.testing.assert_allclose(em.weights_.numpy(), gm.weights_, rtol=0, atol=atol)
    np.testing.assert_allclose(em.means_.numpy(), gm.means_, rtol=0, atol=atol)
    np.testing.assert_allclose(em.covariances_.numpy(), gm.covariances_, rtol=0, atol=atol)


def test_converged_fit_matches_sklearn(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, *init, max_iter=500, tol=1e-10)
    gm = sklearn_fit(x, init, max_iter=500, tol=1e-10)
    assert em.converged_ and gm.converged_
    # sklearn's iteration t tests L(theta_{t-1}) - L(theta_{t-2}), the change our iteration t - 1
    # tests, and then it has already made its M-step to theta_t: it always runs one more iteration.
    assert gm.n_iter_ == em.n_iter_ + 1
    # that last M-step still moves the covariances by ~1e-6 (L changes only quadratically)
    assert_same_parameters(em, gm, atol=1e-5)
    assert em.score(x) == pytest.approx(gm.score(x), abs=1e-9)
    # run ours for sklearn's number of iterations and the parameters agree to rounding
    assert_same_parameters(GaussianMixtureEM(3).fit(x, *init, max_iter=gm.n_iter_, tol=0), gm, atol=1e-10)


@pytest.mark.parametrize("data, k, n_iter", [("blobs", 3, 2), ("hard", 4, 5)])
def test_sklearn_lower_bound_is_the_log_likelihood_before_the_last_m_step(data, k, n_iter, request):
    x, init = request.getfixturevalue(data)
    em = GaussianMixtureEM(k).fit(x, *init, max_iter=n_iter, tol=0)
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
    em = GaussianMixtureEM(3).fit(x, *init, max_iter=4, tol=0)
    assert len(em.history_) == len(em.log_likelihood_) == em.n_iter_ + 1 == 5
    for (weights, means, covariances), value in zip(em.history_, em.log_likelihood_):
        assert log_likelihood(x, weights, means, covariances).item() == pytest.approx(value, abs=1e-12)
        assert not (weights.requires_grad or means.requires_grad or covariances.requires_grad)
    for recorded, given in zip(em.history_[0], init):
        np.testing.assert_array_equal(recorded.numpy(), given)
    for recorded, fitted in zip(em.history_[-1], (em.weights_, em.means_, em.covariances_)):
        assert torch.equal(recorded, fitted)


@pytest.mark.parametrize("data, k", [("blobs", 3), ("hard", 4)])
def test_log_likelihood_never_decreases(data, k, request):
    x, init = request.getfixturevalue(data)
    em = GaussianMixtureEM(k).fit(x, *init, max_iter=200, tol=0)
    steps = np.diff(em.log_likelihood_)
    assert em.n_iter_ >= 10 and steps.min() >= -1e-10
    assert em.log_likelihood_[-1] > em.log_likelihood_[0] + 0.5


def average_kl(resp, posterior):
    return np.mean([stats.entropy(r, p) for r, p in zip(resp.numpy(), posterior.numpy())])


def test_elbo_is_tight_at_the_exact_posterior_and_short_by_the_kl_elsewhere(blobs):
    x, init = blobs
    post = responsibilities(x, *init)
    exact = log_likelihood(x, *init).item()
    assert mixture_elbo(x, post, *init).item() == pytest.approx(exact, abs=1e-10)
    uniform = torch.full_like(post, 1 / 3)
    gap = exact - mixture_elbo(x, uniform, *init).item()
    assert gap > 0.1 and gap == pytest.approx(average_kl(uniform, post), abs=1e-10)


def test_m_step_raises_the_elbo_and_the_new_posterior_closes_the_gap(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, *init, max_iter=2, tol=0)
    old, new = em.history_[0], em.history_[1]
    resp = responsibilities(x, *old)  # the E-step that produced theta_1
    # EM's bound picture: L(theta_0) = ELBO(r, theta_0) <= ELBO(r, theta_1) < L(theta_1)
    lower, raised = mixture_elbo(x, resp, *old).item(), mixture_elbo(x, resp, *new).item()
    assert lower == pytest.approx(em.log_likelihood_[0], abs=1e-10)
    assert raised > lower + 0.1
    gap = em.log_likelihood_[1] - raised
    assert gap > 1e-3 and gap == pytest.approx(average_kl(resp, responsibilities(x, *new)), abs=1e-10)


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
    got = component_log_joint(x, weights, means, covariances)
    assert got.dtype == torch.float64 and got.shape == (50, 4)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(responsibilities(x, weights, means, covariances).sum(1).numpy(), 1, rtol=1e-12)


def test_log_likelihood_gradient_in_the_means_is_the_responsibility_weighted_score():
    # dL/dmu_k = (1/N) sum_n r_nk Sigma_k^{-1} (x_n - mu_k): autograd must agree with the E-step
    weights, means, covariances = (torch.as_tensor(p) for p in random_parameters(3, 2, seed=4))
    x = torch.as_tensor(np.random.default_rng(5).normal(size=(40, 2)))
    means.requires_grad_()
    (grad,) = torch.autograd.grad(log_likelihood(x, weights, means, covariances), means)
    resp = responsibilities(x, weights, means, covariances).detach()
    diff = x - means.detach()[:, None, :]  # (K, N, D)
    expected = torch.einsum("nk,kde,kne->kd", resp, torch.linalg.inv(covariances), diff) / len(x)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_gradient_ascent_reaches_the_em_fixed_point(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3).fit(x, *init, max_iter=500, tol=1e-10)
    weights, means, covariances, history = fit_by_gradient_ascent(x, *init, steps=300, lr=0.05)
    assert len(history) == 301
    assert history[0] == pytest.approx(log_likelihood(x, *init).item(), abs=1e-12)  # the init is reproduced
    assert history[-1] == pytest.approx(log_likelihood(x, weights, means, covariances).item(), abs=1e-12)
    assert history[-1] == pytest.approx(em.log_likelihood_[-1], abs=1e-3)
    np.testing.assert_allclose(means.numpy(), em.means_.numpy(), atol=1e-3)
    steps = np.diff(history)  # Adam overshoots now and then: the drops must be small, not absent
    assert -steps[steps < 0].sum() < 0.01 * (history[-1] - history[0])


def test_same_data_and_init_give_the_same_fit(blobs):
    x, init = blobs
    first = GaussianMixtureEM(3).fit(x, *init, max_iter=20)
    second = GaussianMixtureEM(3).fit(torch.as_tensor(x, dtype=torch.float64),
                                      *(torch.as_tensor(p) for p in init), max_iter=20)
    assert first.log_likelihood_ == second.log_likelihood_
    for a, b in zip((first.weights_, first.means_, first.covariances_),
                    (second.weights_, second.means_, second.covariances_)):
        assert a.dtype == torch.float64 and torch.equal(a, b)
    np.testing.assert_array_equal(first.predict_proba(x).numpy(), second.predict_proba(x).numpy())


def test_init_arrays_are_copied_not_shared(blobs):
    x, (weights, means, covariances) = blobs
    means = means.copy()
    em = GaussianMixtureEM(3).fit(x, weights, means, covariances, max_iter=1)
    means[:] = 0
    assert em.history_[0][1].abs().sum() > 0


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
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        fit_by_gradient_ascent(X_OK, *init.values(), steps=0)
    with pytest.raises(ValueError, match="lr is Adam's step size"):
        fit_by_gradient_ascent(X_OK, *init.values(), lr=-0.1)
    with pytest.raises(ValueError, match="resp must have shape"):
        mixture_elbo(X_OK, np.full((30, 3), 1 / 3), *init.values())
    with pytest.raises(ValueError, match="resp must hold one distribution per row"):
        mixture_elbo(X_OK, np.full((30, 2), 0.6), *init.values())


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


# ---------------------------------------------------------------- variational EM (linear-Gaussian model)

from sklearn.decomposition import PCA  # noqa: E402
from torch.distributions import MultivariateNormal, Normal, kl_divergence  # noqa: E402

from vitools.em import best_q_in_family, ppca_maximum_likelihood, variational_em  # noqa: E402
from vitools.lvm import LinearGaussianLVM  # noqa: E402


@pytest.fixture(scope="module")
def linear_gaussian_data():
    truth = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=1)
    torch.manual_seed(0)
    x, _ = truth.sample(300)
    start = LinearGaussianLVM(truth.W @ torch.tensor([[1.0, 0.9], [0.0, 0.2]], dtype=torch.float64), x.mean(0), 1.0)
    return x, start


def test_full_family_is_em_and_reaches_the_ppca_maximum_likelihood(linear_gaussian_data):
    x, start = linear_gaussian_data
    run = variational_em(x, 2, "full", n_iter=600, init=start)
    assert len(run.elbo) == len(run.log_marginal) == 601
    np.testing.assert_allclose(run.elbo, run.log_marginal, atol=1e-10)            # E-step makes the bound tight
    assert np.diff(run.log_marginal).min() > -1e-10                                 # EM never goes down
    optimum = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item()            # closed form
    assert abs(run.log_marginal[-1] - optimum) < 1e-9


def test_ppca_closed_form_against_scikit_learn(linear_gaussian_data):
    x, _ = linear_gaussian_data
    ours, pca = ppca_maximum_likelihood(x, 2), PCA(n_components=2).fit(x.numpy())
    n = x.shape[0]
    # scikit-learn estimates from the (N - 1)-normalised covariance: the same model up to that factor
    assert ours.sigma**2 == pytest.approx(pca.noise_variance_ * (n - 1) / n, rel=1e-10)
    np.testing.assert_allclose((ours.W @ ours.W.T).numpy(), pca.get_covariance() * (n - 1) / n - ours.sigma**2 * np.eye(5),
                               atol=1e-10)
    # ... so its score is the likelihood of a slightly different, not quite optimal, model
    assert ours.log_marginal(x).mean().item() > pca.score(x.numpy())


def test_diagonal_family_gap_is_the_kl_to_the_posterior(linear_gaussian_data):
    x, start = linear_gaussian_data
    for n_iter in (1, 4):
        run = variational_em(x, 2, "diagonal", n_iter=n_iter, init=start)
        kl = kl_divergence(run.q, run.model.posterior(x)).mean().item()
        assert kl > 1e-3 and abs((run.log_marginal[-1] - run.elbo[-1]) - kl) < 1e-10
        assert np.diff(run.elbo).min() > -1e-10                                     # coordinate ascent


def test_mean_field_e_step_is_the_reverse_kl_optimum(linear_gaussian_data):
    x, start = linear_gaussian_data
    q = best_q_in_family(start, x[:3], "diagonal")
    post = start.posterior(x[:3])
    torch.testing.assert_close(q.mean, post.mean)
    base = kl_divergence(q, post)
    for scale in (0.9, 1.1):            # perturbing the variances only increases KL(q || posterior)
        other = MultivariateNormal(q.mean, q.covariance_matrix * scale)
        assert torch.all(kl_divergence(other, post) > base)


def test_m_step_maximises_the_expected_log_likelihood(linear_gaussian_data):
    from vitools.em import _lvm_m_step

    x, start = linear_gaussian_data
    q = best_q_in_family(start, x, "diagonal")
    fitted = _lvm_m_step(x, q)
    best = fitted.elbo_terms(x, q)["expected_log_likelihood"].mean()
    g = torch.Generator().manual_seed(0)
    for _ in range(5):                  # any perturbation of (W, b, sigma) does worse
        other = LinearGaussianLVM(fitted.W + 0.01 * torch.randn(fitted.W.shape, generator=g, dtype=torch.float64),
                                  fitted.b + 0.01 * torch.randn(fitted.b.shape, generator=g, dtype=torch.float64),
                                  fitted.sigma * 1.01)
        assert other.elbo_terms(x, q)["expected_log_likelihood"].mean() < best


def test_variational_em_rejects_bad_input(linear_gaussian_data):
    x, start = linear_gaussian_data
    with pytest.raises(ValueError, match="family must be one of"):
        variational_em(x, 2, "banded")
    with pytest.raises(ValueError, match="z_dim must be"):
        variational_em(x, 0)
    with pytest.raises(ValueError, match="init must be a LinearGaussianLVM with x_dim = 5 and z_dim = 3"):
        variational_em(x, 3, init=start)
    with pytest.raises(ValueError, match="at least two rows"):
        variational_em(x[:1], 2)


# ---------------------------------------------------------------- Fisher's identity and EM's fixed points

from vitools.em import expected_complete_log_likelihood  # noqa: E402


def autograd_gradients(x, theta, theta_t):
    """Autograd of l and of Q(., theta_t) (responsibilities of theta_t written out, detached) at theta."""
    params = [torch.as_tensor(p, dtype=torch.float64).clone().requires_grad_() for p in theta]
    grad_l = torch.autograd.grad(log_likelihood(x, *params), params)
    resp = responsibilities(x, *theta_t).detach()
    grad_q = torch.autograd.grad((resp * component_log_joint(x, *params)).sum(1).mean(), params)
    return grad_l, grad_q


def test_fisher_identity_and_the_m_step_zero_of_q_not_of_l(blobs):
    x, init = blobs
    em = GaussianMixtureEM(3, reg_covar=0.0).fit(x, *init, max_iter=300, tol=1e-12)
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
    # the public helper is Q itself: Q(theta_0, theta_0) + average entropy of the responsibilities = l(theta_0)
    resp = responsibilities(x, *theta_0)
    entropy = torch.special.entr(resp).sum(1).mean()
    assert (expected_complete_log_likelihood(x, resp, *theta_0) + entropy).item() == pytest.approx(
        log_likelihood(x, *theta_0).item(), abs=1e-10)


def test_exercise_3_4_reference_is_autograd_and_not_zero_after_an_m_step():
    from vitools.exercises import exercise

    ex = exercise("3.4")
    for X, w, mu, S in ex.probes:
        means = torch.as_tensor(mu).clone().requires_grad_()
        (grad,) = torch.autograd.grad(log_likelihood(X, w, means, S), means)
        np.testing.assert_allclose(ex.reference(X, w, mu, S), grad.numpy(), rtol=1e-8, atol=1e-12)
    assert np.abs(ex.reference(*ex.probes[1])).max() > 1e-2    # the second probe is an M-step's output


# ---------------------------------------------------------------- closed forms against general-purpose optimisers

from scipy import optimize  # noqa: E402


def test_ppca_closed_form_matches_a_general_optimiser(linear_gaussian_data):
    x, _ = linear_gaussian_data
    closed = ppca_maximum_likelihood(x, 2)
    xbar, eye = x.mean(0), torch.eye(5, dtype=torch.float64)

    def negative_l(v):
        v = torch.as_tensor(v).requires_grad_()
        W = v[:10].reshape(5, 2)
        value = -MultivariateNormal(xbar, W @ W.T + v[10].exp() * eye).log_prob(x).mean()
        value.backward()
        return value.item(), v.grad.numpy()

    start = np.concatenate([np.random.default_rng(0).normal(size=10), [0.0]])       # a random start
    res = optimize.minimize(negative_l, start, jac=True, method="L-BFGS-B", options=dict(gtol=1e-10, ftol=1e-15, maxiter=3000))
    assert -res.fun == pytest.approx(closed.log_marginal(x).mean().item(), abs=1e-9)
    W = res.x[:10].reshape(5, 2)
    np.testing.assert_allclose(W @ W.T, (closed.W @ closed.W.T).numpy(), atol=1e-5)
    assert np.exp(res.x[10]) == pytest.approx(closed.sigma**2, rel=1e-5)


def test_ppca_keeping_any_other_eigenvalues_is_a_worse_stationary_point():
    # steps 3-5 of the derivation: every L-subset of eigenvectors with nu_i > sigma^2 gives a stationary point;
    # the top L is the best. A spread-out spectrum (about 1, ..., 5) makes several subsets valid.
    from itertools import combinations

    x = torch.as_tensor(np.random.default_rng(0).normal(size=(400, 5)) * np.sqrt([1.0, 2.0, 3.0, 4.0, 5.0]))
    centred = x - x.mean(0)
    nu, U = torch.linalg.eigh(centred.T @ centred / len(x))
    best = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item()
    values = {}
    for kept in combinations(range(5), 2):
        discarded = [j for j in range(5) if j not in kept]
        sigma2 = nu[discarded].mean()
        if not torch.all(nu[list(kept)] > sigma2):
            continue
        W = (U[:, list(kept)] * (nu[list(kept)] - sigma2).sqrt()).requires_grad_()
        s2 = sigma2.clone().requires_grad_()
        value = MultivariateNormal(x.mean(0), W @ W.T + s2 * torch.eye(5, dtype=torch.float64)).log_prob(x).mean()
        grads = torch.autograd.grad(value, (W, s2))
        assert max(g.abs().max().item() for g in grads) < 1e-10               # a stationary point
        values[kept] = value.item()
    top = (3, 4)                                                              # eigh sorts ascending
    assert len(values) >= 3 and values[top] == pytest.approx(best, abs=1e-12)
    assert all(v < best - 1e-3 for k, v in values.items() if k != top)


def test_ppca_score_gap_to_scikit_learn_is_the_n_minus_one_rescaling(linear_gaussian_data):
    x, _ = linear_gaussian_data
    n, d = x.shape
    eta = n / (n - 1)
    drop = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item() - PCA(n_components=2).fit(x.numpy()).score(x.numpy())
    assert drop == pytest.approx(d / 2 * (np.log(eta) + 1 / eta - 1), abs=1e-11)


@pytest.mark.parametrize("constrained", [False, True])
def test_vem_m_step_matches_a_numerical_optimiser_of_the_elbo(linear_gaussian_data, constrained):
    from vitools.em import _lvm_m_step

    x, start = linear_gaussian_data
    zeros = torch.zeros(5, 2, dtype=torch.bool)
    zeros[0, 1] = constrained
    q = best_q_in_family(start, x, "diagonal")
    closed = _lvm_m_step(x, q, zeros)
    free = ~zeros.flatten()

    m, cov = q.mean, q.covariance_matrix

    def negative_elbo(v):   # -(1/N) sum_n E_{q_n}[log N(x_n; W z + b, sigma^2 I)], the part of the ELBO that depends on theta
        v = torch.as_tensor(v).requires_grad_()
        W = torch.zeros(10, dtype=torch.float64).masked_scatter(free, v[:int(free.sum())]).reshape(5, 2)
        b, sigma2 = v[-6:-1], v[-1].exp()
        log_density_at_mean = Normal(m @ W.T + b, sigma2.sqrt()).log_prob(x).sum(1)
        value = -(log_density_at_mean - torch.einsum("dl,nlk,dk->n", W, cov, W) / (2 * sigma2)).mean()
        value.backward()
        return value.item(), v.grad.numpy()

    v0 = np.concatenate([np.zeros(int(free.sum())), x.mean(0).numpy(), [0.0]])
    res = optimize.minimize(negative_elbo, v0, jac=True, method="L-BFGS-B", options=dict(gtol=1e-10, ftol=1e-15))
    assert -res.fun == pytest.approx(closed.elbo_terms(x, q)["expected_log_likelihood"].mean().item(), abs=1e-9)
    np.testing.assert_allclose(res.x[:int(free.sum())], closed.W.flatten()[free].numpy(), atol=1e-4)
    np.testing.assert_allclose(res.x[-6:-1], closed.b.numpy(), atol=1e-4)
    assert np.exp(res.x[-1] / 2) == pytest.approx(closed.sigma, rel=1e-5)
    assert (closed.W[zeros] == 0).all()


def test_without_the_rotation_symmetry_variational_em_loses_likelihood(linear_gaussian_data):
    x, start = linear_gaussian_data
    zeros = torch.zeros(5, 2, dtype=torch.bool)
    zeros[0, 1] = True
    optimum = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item()
    exact = variational_em(x, 2, "full", n_iter=150, init=LinearGaussianLVM(start.W.masked_fill(zeros, 0), start.b, 1.0),
                           W_zeros=zeros)
    assert exact.log_marginal[-1] == pytest.approx(optimum, abs=1e-6)      # the constraint removes no p(x)
    run = variational_em(x, 2, "diagonal", n_iter=150, seed=0, W_zeros=zeros)   # a random start (chapter 3 uses another)
    longer = variational_em(x, 2, "diagonal", n_iter=300, init=run.model, W_zeros=zeros)   # 300 more iterations
    assert run.model.W[0, 1] == 0 and abs(longer.log_marginal[-1] - run.log_marginal[-1]) < 1e-6   # converged
    assert optimum - longer.log_marginal[-1] > 0.01                    # (with W free it reaches the optimum: chapter 3)


# ---------------------------------------------------------------- chapter 3's exercises: the claims in their feedback

def test_exercise_3_1_dividing_by_c_gets_its_own_message():
    from vitools.exercises import exercise

    feedback = exercise("3.1").check(lambda r: r.sum(0) / r.shape[1])          # N_c / C, written by a student
    assert not feedback.passed and "divided by C" in feedback.message and "evidence" not in feedback.message


def test_exercise_3_2_underflow_threshold_and_broadcast_mistake():
    from scipy import special

    from vitools.exercises import exercise

    naive = lambda lj: np.exp(lj) / np.exp(lj).sum(axis=1, keepdims=True)    # noqa: E731
    row = np.array([[-700.0, -702.0, -705.0]])
    np.testing.assert_allclose(naive(row), special.softmax(row, axis=1), rtol=1e-12)   # -700 is still fine
    assert np.exp(-745.0) > 0 and np.exp(-746.0) == 0                                  # float64's underflow
    ex = exercise("3.2")
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
    ex = exercise("3.3")
    values = {m.message.split(":")[0]: float(m.make()) for m in ex.mistakes}
    by_posterior = next(v for k, v in values.items() if "ELBO - log p(x)" in k)
    assert by_posterior == pytest.approx(np.sum(q * np.log(posterior / q)), abs=1e-12)   # posterior in the numerator
    assert by_posterior == pytest.approx(-stats.entropy(q, posterior), abs=1e-12)
    no_entropy = next(v for k, v in values.items() if "E_q[log p(x, z)] alone" in k)
    assert no_entropy == pytest.approx(np.sum(q * np.log(joint)), abs=1e-12)              # E_q log p(x, z)
    assert ex.expected() - no_entropy == pytest.approx(np.log(8), abs=1e-12)              # H(uniform) = log 8


def test_exercise_3_4_rejects_a_transposed_or_summed_answer():
    from vitools.exercises import exercise

    ex = exercise("3.4")
    C, D = ex.probes[0][2].shape
    assert C != D
    assert "shape" in ex.check(lambda *a: ex.reference(*a).T).message
    feedback = ex.check(lambda X, *a: len(X) * ex.reference(X, *a))
    assert not feedback.passed and "summed over the data points" in feedback.message
