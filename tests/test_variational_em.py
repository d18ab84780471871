import numpy as np
import pytest
import torch
from scipy import optimize
from sklearn.decomposition import PCA
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood
from vitools.results import Fit
from vitools.variational_em import _m_step, best_q_in_family, variational_em

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def linear_gaussian_data():
    truth = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=1)
    torch.manual_seed(0)
    x, _ = truth.sample(300)
    start = LinearGaussianLVM(truth.W @ torch.tensor([[1.0, 0.9], [0.0, 0.2]], dtype=torch.float64), x.mean(0), 1.0)
    return x, start


def test_full_family_is_em_and_reaches_the_ppca_maximum_likelihood(linear_gaussian_data):
    x, start = linear_gaussian_data
    run = variational_em(x, z_dim=2, family="full", max_iter=600, init=start)
    assert len(run.history["elbo"]) == len(run.history["log_likelihood"]) == 601
    np.testing.assert_allclose(run.history["elbo"], run.history["log_likelihood"], atol=1e-10)   # E-step: the bound is tight
    assert np.diff(run.history["log_likelihood"]).min() > -1e-10                                 # EM never goes down
    optimum = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item()            # closed form
    assert abs(run.history["log_likelihood"][-1] - optimum) < 1e-9


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
    for max_iter in (1, 4):
        run = variational_em(x, z_dim=2, family="diagonal", max_iter=max_iter, init=start)
        kl = kl_divergence(run.q, run.model.posterior(x)).mean().item()
        assert kl > 1e-3 and abs((run.history["log_likelihood"][-1] - run.history["elbo"][-1]) - kl) < 1e-10
        assert np.diff(run.history["elbo"]).min() > -1e-10                                     # coordinate ascent


def test_mean_field_e_step_is_the_reverse_kl_optimum(linear_gaussian_data):
    x, start = linear_gaussian_data
    q = best_q_in_family(start, x[:3], family="diagonal")
    post = start.posterior(x[:3])
    torch.testing.assert_close(q.mean, post.mean)
    base = kl_divergence(q, post)
    for scale in (0.9, 1.1):            # perturbing the variances only increases KL(q || posterior)
        other = MultivariateNormal(q.mean, q.covariance_matrix * scale)
        assert torch.all(kl_divergence(other, post) > base)


def test_m_step_maximises_the_expected_log_likelihood(linear_gaussian_data):
    x, start = linear_gaussian_data
    q = best_q_in_family(start, x, family="diagonal")
    fitted = _m_step(x, q)
    best = fitted.elbo_terms(x, q)["expected_log_likelihood"].mean()
    g = torch.Generator().manual_seed(0)
    for _ in range(5):                  # any perturbation of (W, b, sigma) does worse
        other = LinearGaussianLVM(fitted.W + 0.01 * torch.randn(fitted.W.shape, generator=g, dtype=torch.float64),
                                  fitted.b + 0.01 * torch.randn(fitted.b.shape, generator=g, dtype=torch.float64),
                                  fitted.sigma * 1.01)
        assert other.elbo_terms(x, q)["expected_log_likelihood"].mean() < best


def test_variational_em_returns_a_fit_and_stops_at_tol(linear_gaussian_data):
    x, start = linear_gaussian_data
    full = variational_em(x, z_dim=2, family="diagonal", max_iter=60, init=start)
    assert isinstance(full, Fit) and full.converged is False and len(full.history["elbo"]) == 61
    assert isinstance(full.q, MultivariateNormal) and full.q.batch_shape == (300,)
    torch.testing.assert_close(full.q.mean, best_q_in_family(full.model, x, family="diagonal").mean, rtol=0, atol=0)
    steps = np.diff(full.history["elbo"])
    tol = 3e-4                                             # the ELBO's steps dip below it at iteration 9
    stop = int(np.argmax(steps < tol)) + 1                 # the first iteration that raised the ELBO by < tol
    early = variational_em(x, z_dim=2, family="diagonal", max_iter=60, tol=tol, init=start)
    assert 1 < stop < 60 and early.converged is True and len(early.history["elbo"]) == stop + 1
    assert early.history["elbo"] == full.history["elbo"][:stop + 1]   # the same run, cut short
    torch.testing.assert_close(early.model.W, variational_em(x, z_dim=2, family="diagonal", max_iter=stop,
                                                             init=start).model.W, rtol=0, atol=0)


def test_variational_em_rejects_bad_input(linear_gaussian_data):
    x, start = linear_gaussian_data
    with pytest.raises(ValueError, match="family must be one of"):
        variational_em(x, z_dim=2, family="banded")
    with pytest.raises(ValueError, match="z_dim must be"):
        variational_em(x, z_dim=0)
    with pytest.raises(ValueError, match="init must be a LinearGaussianLVM with x_dim = 5 and z_dim = 3"):
        variational_em(x, z_dim=3, init=start)
    with pytest.raises(ValueError, match="at least two rows"):
        variational_em(x[:1], z_dim=2)




# ---------------------------------------------------------------- closed forms against general-purpose optimisers



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
    x, start = linear_gaussian_data
    zeros = torch.zeros(5, 2, dtype=torch.bool)
    zeros[0, 1] = constrained
    q = best_q_in_family(start, x, family="diagonal")
    closed = _m_step(x, q, zeros)
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
    exact = variational_em(x, z_dim=2, family="full", max_iter=150, W_zeros=zeros,
                           init=LinearGaussianLVM(start.W.masked_fill(zeros, 0), start.b, 1.0))
    assert exact.history["log_likelihood"][-1] == pytest.approx(optimum, abs=1e-6)      # the constraint removes no p(x)
    run = variational_em(x, z_dim=2, family="diagonal", max_iter=150, seed=0, W_zeros=zeros)   # a random start (not ch. 3's)
    longer = variational_em(x, z_dim=2, family="diagonal", max_iter=300, init=run.model, W_zeros=zeros)   # 300 more
    l_run, l_longer = run.history["log_likelihood"][-1], longer.history["log_likelihood"][-1]
    assert run.model.W[0, 1] == 0 and abs(l_longer - l_run) < 1e-6                   # converged
    assert optimum - l_longer > 0.01                    # (with W free it reaches the optimum: chapter 3)
