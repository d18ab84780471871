"""vitools.meanfield: CAVI against scikit-learn step for step, the full ELBO against Monte Carlo, SVI's invariants."""

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch
from scipy.special import gammaln, multigammaln
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SklearnBGM
from torch.distributions import MultivariateNormal

from vitools.meanfield import BayesianGaussianMixture, random_from_data_resp

ATTRIBUTES = ["weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_"]
PRIORS = [  # (N, D, C, priors): scikit-learn's defaults, and priors away from them
    (500, 3, 6, {}),
    (300, 2, 4, {"weight_concentration_prior": 0.5, "mean_precision_prior": 2.5, "degrees_of_freedom_prior": 4.0}),
    (200, 4, 3, {"weight_concentration_prior": 3.0, "mean_precision_prior": 0.3, "degrees_of_freedom_prior": 6.5,
                 "scale": 1.7, "shift": 0.3}),
]


def _data(n, d, priors):
    X, _ = make_blobs(n, n_features=d, centers=3, random_state=d)
    priors = dict(priors)
    scale, shift = priors.pop("scale", None), priors.pop("shift", None)
    if scale is not None:
        priors.update(covariance_prior=scale * np.cov(X.T), mean_prior=X.mean(0) + shift)
    return X, priors


class _FromResp(SklearnBGM):
    """scikit-learn's estimator started from given responsibilities (its own _initialize does the global step)."""

    def _initialize_parameters(self, X, random_state, xp=None):
        self._initialize(X, self.resp_init)


def _sklearn(X, k, priors, max_iter, resp_init=None, seed=0):
    cls = SklearnBGM if resp_init is None else _FromResp
    model = cls(n_components=k, weight_concentration_prior_type="dirichlet_distribution", covariance_type="full",
                reg_covar=0.0, init_params="random", random_state=seed, max_iter=max_iter, tol=0.0, **priors)
    model.resp_init = resp_init
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X)


@pytest.mark.parametrize("n, d, k, priors", PRIORS)
@pytest.mark.parametrize("max_iter", [1, 4, 30])
def test_cavi_matches_scikit_learn_step_for_step(n, d, k, priors, max_iter):
    X, priors = _data(n, d, priors)
    resp = np.random.RandomState(7).dirichlet(np.ones(k), size=n)
    ours = BayesianGaussianMixture(k, **priors).fit(X, resp_init=resp, max_iter=max_iter, tol=-math.inf)
    theirs = _sklearn(X, k, priors, max_iter, resp_init=resp)
    assert ours.n_iter_ == theirs.n_iter_ == max_iter
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ours.weights_.numpy(), theirs.weights_, rtol=1e-8, atol=1e-10)


def test_default_init_is_scikit_learns_random_init():
    X, _ = _data(400, 2, {})
    ours = BayesianGaussianMixture(5).fit(X, max_iter=10, tol=-math.inf, seed=3)
    theirs = _sklearn(X, 5, {}, 10, seed=3)
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("n, d, k, priors", PRIORS)
def test_elbo_is_scikit_learns_lower_bound_plus_the_constants_it_drops(n, d, k, priors):
    """N ELBO = lower_bound_ - (N D / 2) log 2 pi - C log Z_W(V_0, omega_0) + log C(alpha_0) + (C D / 2) log upsilon_0
    + C D (D - 1) / 4 log pi, after every iteration (scikit-learn's Wishart normaliser leaves out Gamma_D's pi)."""
    X, priors = _data(n, d, priors)
    model = BayesianGaussianMixture(k, **priors)
    for max_iter in (1, 3, 12):
        ours = model.fit(X, max_iter=max_iter, tol=-math.inf, seed=1)
        theirs = _sklearn(X, k, priors, max_iter, seed=1)
        prior = ours._start(torch.as_tensor(X), None, 0)[0]
        a0, upsilon0, omega0 = prior.alpha[0].item(), prior.upsilon[0].item(), prior.omega[0].item()
        log_det_v0 = -np.linalg.slogdet(prior.scale_inv[0].numpy())[1]
        log_b0 = -omega0 / 2 * log_det_v0 - omega0 * d / 2 * math.log(2) - multigammaln(omega0 / 2, d)
        constant = (-n * d / 2 * math.log(2 * math.pi) + k * log_b0 + gammaln(k * a0) - k * gammaln(a0)
                    + k * d / 2 * math.log(upsilon0) + k * d * (d - 1) / 4 * math.log(math.pi))
        assert ours.elbo_[-1] * n == pytest.approx(theirs.lower_bound_ + constant, abs=1e-8 * n)


@pytest.mark.parametrize("n, d, k, priors", PRIORS)
def test_full_elbo_agrees_with_monte_carlo(n, d, k, priors):
    X, priors = _data(n, d, priors)
    X = torch.as_tensor(X)
    model = BayesianGaussianMixture(k, **priors).fit(X, max_iter=5, tol=-math.inf)
    resp = model.predict_proba(X)       # r from the final global factors: the ELBO at (r, q) in closed form below
    closed = model.elbo(X, resp=resp)
    estimate, se = model.elbo_monte_carlo(X, resp=resp, n_samples=4000, seed=0)
    assert abs(estimate - closed) < 4 * se + 1e-9, (estimate, closed, se)
    assert se < 0.05


@pytest.mark.parametrize("seed", range(5))
def test_elbo_never_decreases(seed):
    X, _ = _data(300, 2, {})
    model = BayesianGaussianMixture(8, weight_concentration_prior=1e-3).fit(X, max_iter=200, tol=-math.inf, seed=seed)
    assert np.diff(model.elbo_).min() > -1e-10
    assert model.elbo_[-1] > model.elbo_[0] + 0.1


def test_log_predictive_is_a_mixture_of_student_t_densities():
    X, _ = _data(300, 3, {})
    model = BayesianGaussianMixture(4).fit(X, max_iter=50)
    q, d = model._q, 3
    points = np.random.RandomState(0).normal(size=(20, d)) * 3
    dof = (q.omega + 1 - d).numpy()
    shape = ((1 + q.upsilon) / (q.upsilon * (q.omega + 1 - d)))[:, None, None] * q.scale_inv
    components = np.stack([scipy.stats.multivariate_t(q.m[k].numpy(), shape[k].numpy(), df=dof[k]).logpdf(points)
                           for k in range(4)], 1)
    expected = scipy.special.logsumexp(components + np.log(model.weights_.numpy()), 1)
    np.testing.assert_allclose(model.log_predictive(points).numpy(), expected, rtol=1e-10)


def test_log_predictive_is_the_posterior_average_of_the_mixture_density():
    X, _ = _data(300, 2, {})
    model = BayesianGaussianMixture(3).fit(X, max_iter=50)
    draws = model.sample_posterior(20000, seed=1)
    points = torch.as_tensor(X[:5])
    log_lik = MultivariateNormal(draws["means"][:, None], precision_matrix=draws["precisions"][:, None]).log_prob(
        points[None, :, None, :])
    density = (draws["weights"][:, None, :] * log_lik.exp()).sum(-1)              # (S, 5)
    mean, se = density.mean(0), density.std(0) / math.sqrt(20000)
    exact = model.log_predictive(points).exp()
    assert torch.all((mean - exact).abs() < 4 * se), (mean, exact, se)


def test_surplus_components_are_switched_off():
    X, _ = make_blobs(500, centers=[[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]], random_state=0)   # three blobs
    model = BayesianGaussianMixture(10, weight_concentration_prior=1e-3).fit(X, max_iter=500, seed=0)
    assert model.converged_
    assert (model.weights_ > 0.01).sum().item() == 3


# ------------------------------------------------------------------------------------------------ stochastic VI


def test_svi_keeps_the_total_count_with_the_n_over_b_factor_and_loses_it_without():
    """With the factor N / B every step's sum_c alpha_c stays N + C alpha_0; without it, it falls towards B + C alpha_0:
    the posterior believes it saw one mini-batch."""
    X, _ = _data(1000, 2, {})
    right = BayesianGaussianMixture(4, weight_concentration_prior=0.1).fit_stochastic(X, batch_size=50, n_steps=30)
    assert right.weight_concentration_.sum().item() == pytest.approx(1000 + 0.4, rel=1e-10)
    wrong = BayesianGaussianMixture(4, weight_concentration_prior=0.1).fit_stochastic(
        X, batch_size=50, n_steps=30, batch_scale=1.0)
    eta = (np.arange(1, 31) + 1.0) ** -0.7
    expected = 50.4 + (1000 - 50) * np.prod(1 - eta)          # the start's N + C alpha_0 forgotten geometrically
    assert wrong.weight_concentration_.sum().item() == pytest.approx(expected, rel=1e-10)
    assert expected < 60


def test_svi_reaches_the_cavi_optimum():
    X, _ = make_blobs(2000, centers=[[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]], random_state=1)
    resp = random_from_data_resp(2000, 3, seed=0)
    cavi = BayesianGaussianMixture(3).fit(X, resp_init=resp, max_iter=300, tol=1e-10)
    svi = BayesianGaussianMixture(3).fit_stochastic(X, resp_init=resp, batch_size=200, n_steps=600, eval_every=50)
    assert svi.elbo_[-1] == pytest.approx(cavi.elbo_[-1], abs=0.01)
    order = lambda m: torch.argsort(m.means_[:, 0])                                # noqa: E731
    np.testing.assert_allclose(svi.means_[order(svi)].numpy(), cavi.means_[order(cavi)].numpy(), atol=0.05)


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("kwargs, match", [
    ({"weight_concentration_prior": 0.0}, "weight_concentration_prior"),
    ({"mean_precision_prior": -1.0}, "mean_precision_prior"),
    ({"degrees_of_freedom_prior": 0.5}, "degrees_of_freedom_prior"),
    ({"mean_prior": [0.0, 0.0, 0.0]}, "mean_prior"),
    ({"covariance_prior": [[1.0, 2.0], [2.0, 1.0]]}, "covariance_prior"),
    ({"covariance_prior": np.eye(3)}, "covariance_prior"),
])
def test_bad_priors_are_named(kwargs, match):
    X, _ = _data(100, 2, {})
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(3, **kwargs).fit(X)


@pytest.mark.parametrize("resp, match", [
    (np.ones((100, 2)) / 2, "resp_init has shape"),
    (np.ones((100, 3)), "sum to 1"),
    (np.full((100, 3), np.nan), "resp_init contains NaN"),
])
def test_bad_resp_init_is_named(resp, match):
    X, _ = _data(100, 2, {})
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(3).fit(X, resp_init=resp)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0, "n_steps": 5}, "batch_size"),
    ({"batch_size": 101, "n_steps": 5}, "batch_size"),
    ({"batch_size": 10, "n_steps": 0}, "n_steps"),
    ({"batch_size": 10, "n_steps": 5, "forgetting_rate": 0.5}, "forgetting_rate"),
    ({"batch_size": 10, "n_steps": 5, "forgetting_rate": 1.5}, "forgetting_rate"),
    ({"batch_size": 10, "n_steps": 5, "batch_scale": 0.0}, "batch_scale"),
])
def test_bad_svi_arguments_are_named(kwargs, match):
    X, _ = _data(100, 2, {})
    with pytest.raises(ValueError, match=match):
        BayesianGaussianMixture(3).fit_stochastic(X, **kwargs)


def test_unfitted_model_and_wrong_columns_say_what_to_do():
    with pytest.raises(RuntimeError, match="call fit"):
        BayesianGaussianMixture(2).log_predictive(np.zeros((3, 2)))
    X, _ = _data(100, 2, {})
    model = BayesianGaussianMixture(2).fit(X, max_iter=3)
    with pytest.raises(ValueError, match="columns"):
        model.predict_proba(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="n_components"):
        BayesianGaussianMixture(0)


def test_monte_carlo_elbo_is_unbiased_with_mass_on_switched_off_components():
    """r spread over all C components, four of them with alpha_c ~ 1e-3: log pi_c ~ -1000 is drawn in log space."""
    X, _ = make_blobs(300, centers=[[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]], random_state=0)
    X = torch.as_tensor(X)
    model = BayesianGaussianMixture(6, weight_concentration_prior=1e-3).fit(X, max_iter=300, seed=0)
    assert (model.weight_concentration_ < 0.01).sum() == 3
    uniform = torch.full((300, 6), 1 / 6, dtype=torch.float64)
    estimate, se = model.elbo_monte_carlo(X, resp=uniform, n_samples=4000, seed=0)
    assert abs(estimate - model.elbo(X, resp=uniform)) < 4 * se, (estimate, model.elbo(X, resp=uniform), se)


def test_log_weights_have_the_dirichlet_expectations():
    X, _ = _data(200, 2, {})
    model = BayesianGaussianMixture(4, weight_concentration_prior=1e-3).fit(X, max_iter=100, seed=0)
    alpha = model.weight_concentration_
    log_pi = model.sample_posterior(40000, seed=3)["log_weights"]
    exact = torch.digamma(alpha) - torch.digamma(alpha.sum())
    se = log_pi.std(0) / math.sqrt(40000)
    assert torch.all((log_pi.mean(0) - exact).abs() < 4 * se + 1e-12), (log_pi.mean(0), exact, se)
    assert torch.isfinite(log_pi).all()


def test_svi_step_is_exact_far_from_the_origin():
    """The centred form of the natural-gradient step: data shifted by 1e7 give the same fit, shifted back."""
    X, _ = make_blobs(2000, centers=[[-6.0, 0.0], [0.0, 6.0], [6.0, 0.0]], random_state=1)
    resp = random_from_data_resp(2000, 3, seed=0)
    fits = [BayesianGaussianMixture(3).fit_stochastic(X + shift, resp_init=resp, batch_size=200, n_steps=50, seed=0)
            for shift in (0.0, 1e7)]
    np.testing.assert_allclose(fits[1].means_.numpy() - 1e7, fits[0].means_.numpy(), atol=1e-5)
    np.testing.assert_allclose(fits[1].covariances_.numpy(), fits[0].covariances_.numpy(), rtol=1e-5)
    assert fits[1].elbo_[-1] == pytest.approx(fits[0].elbo_[-1], abs=1e-6)


@pytest.mark.parametrize("resp, match", [
    (np.ones((100, 2)) / 2, "resp has shape"),
    (np.full((100, 3), 0.5), "sum to 1"),
])
def test_bad_resp_for_the_elbo_is_named(resp, match):
    X, _ = _data(100, 2, {})
    model = BayesianGaussianMixture(3).fit(X, max_iter=3)
    with pytest.raises(ValueError, match=match):
        model.elbo(X, resp=resp)
    with pytest.raises(ValueError, match=match):
        model.elbo_monte_carlo(X, resp=resp)
    with pytest.raises(ValueError, match="n_samples"):
        model.elbo_monte_carlo(X, n_samples=1)


def test_an_asymmetric_covariance_prior_is_refused_and_singular_data_named():
    X, _ = _data(100, 2, {})
    with pytest.raises(ValueError, match="covariance_prior must be symmetric"):
        BayesianGaussianMixture(2, covariance_prior=[[1.0, 100.0], [0.0, 1.0]]).fit(X)
    constant = np.column_stack([X[:, 0], np.ones(100)])
    with pytest.raises(ValueError, match="data's covariance matrix"):
        BayesianGaussianMixture(2).fit(constant)
