"""The shared base of the mixtures (vitools.mixtures.Mixture), checked on both of the book's mixtures against
hand computations: the posterior is Bayes' rule, log p(x) is a logsumexp over the components, the ELBO's
terms are their finite sums, and the ELBO touches log p(x) exactly at the posterior."""

import math

import numpy as np
import pytest
import torch
from scipy import special
from torch.distributions import Categorical, Independent, Normal

from vitools.bernoulli_mixture import BernoulliMixture
from vitools.bounds import iwae_bound
from vitools.gaussian_mixture import GaussianMixture
from vitools.mixtures import Mixture


def gaussian():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 2, 2))
    covariances = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(2)
    model = GaussianMixture([0.2, 0.5, 0.3], rng.normal(scale=2, size=(3, 2)), covariances)
    return model, model.sample(40, seed=1)[0]


def bernoulli():
    gen = torch.Generator().manual_seed(2)
    model = BernoulliMixture(3)
    model.weights_ = torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    model.means_ = 0.05 + 0.9 * torch.rand(3, 6, generator=gen, dtype=torch.float64)
    return model, model.sample(40, seed=3)[0]


def by_hand(model, x):
    """log p(x_n | c) from the decoder, one component at a time, and log pi: numpy (N, C) and (C,)."""
    c = torch.arange(3)
    log_lik = torch.stack([model.decoder(k.expand(len(x))).log_prob(x) for k in c], dim=1)
    return log_lik.numpy(), np.log(model.prior.probs.numpy())


MODELS = {"gaussian": gaussian, "bernoulli": bernoulli}


@pytest.fixture(params=MODELS, scope="module")
def model_and_x(request):
    return MODELS[request.param]()


def test_both_mixtures_share_the_base(model_and_x):
    model, x = model_and_x
    assert isinstance(model, Mixture)
    assert isinstance(model.prior, Categorical) and model.prior.batch_shape == ()
    assert model.component_log_joint(x).shape == (40, 3)


def test_posterior_is_bayes_rule(model_and_x):
    model, x = model_and_x
    log_lik, log_pi = by_hand(model, x)
    joint = np.exp(log_pi + log_lik)                                   # pi_c p(x_n | c)
    posterior = model.posterior(x)
    assert isinstance(posterior, Categorical) and posterior.batch_shape == (40,)
    np.testing.assert_allclose(posterior.probs.numpy(), joint / joint.sum(1, keepdims=True), rtol=1e-9)


def test_log_marginal_is_the_logsumexp_over_components(model_and_x):
    model, x = model_and_x
    log_lik, log_pi = by_hand(model, x)
    np.testing.assert_allclose(model.component_log_joint(x).numpy(), log_pi + log_lik, rtol=1e-12)
    np.testing.assert_allclose(model.log_marginal(x).numpy(), special.logsumexp(log_pi + log_lik, axis=1), rtol=1e-12)
    # and the importance-weighted bound with the exact posterior as q is exact, with any number of samples
    torch.testing.assert_close(iwae_bound(model, x, model.posterior(x), n_samples=3), model.log_marginal(x))


def random_q(n, seed):
    gen = torch.Generator().manual_seed(seed)
    return Categorical(probs=torch.rand(n, 3, generator=gen, dtype=torch.float64) + 0.01)


def test_elbo_is_log_marginal_at_the_exact_posterior_and_below_it_elsewhere(model_and_x):
    model, x = model_and_x
    exact = model.log_marginal(x)
    torch.testing.assert_close(model.elbo(x, model.posterior(x)), exact, rtol=0, atol=1e-10)
    for seed in range(5):
        q = random_q(40, seed)
        gap = exact - model.elbo(x, q)
        kl = torch.distributions.kl_divergence(q, model.posterior(x))
        assert torch.all(gap > 0)
        torch.testing.assert_close(gap, kl, rtol=0, atol=1e-10)          # log p(x) = ELBO + KL(q || p(c | x))


def test_elbo_terms_against_hand_formulas(model_and_x):
    model, x = model_and_x
    log_lik, log_pi = by_hand(model, x)
    q = random_q(40, seed=7)
    r = q.probs.numpy()
    terms = model.elbo_terms(x, q)
    assert set(terms) == {"expected_log_likelihood", "kl_to_prior", "expected_log_prior", "entropy",
                          "expected_log_joint", "elbo"}
    expected = {"expected_log_likelihood": (r * log_lik).sum(1),
                "kl_to_prior": (r * (np.log(r) - log_pi)).sum(1),           # sum_c q(c) log(q(c) / pi_c)
                "expected_log_prior": (r * log_pi).sum(1),
                "entropy": -(r * np.log(r)).sum(1),
                "expected_log_joint": (r * (log_pi + log_lik)).sum(1)}
    for name, value in expected.items():
        np.testing.assert_allclose(terms[name].numpy(), value, rtol=1e-10, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(terms["elbo"].numpy(), expected["expected_log_likelihood"] - expected["kl_to_prior"],
                               rtol=1e-10)
    torch.testing.assert_close(terms["elbo"], terms["expected_log_joint"] + terms["entropy"], rtol=0, atol=1e-10)


def test_one_q_for_every_row_and_q_equal_to_the_prior(model_and_x):
    model, x = model_and_x
    shared = Categorical(probs=torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64))
    per_row = Categorical(probs=shared.probs.expand(40, 3))
    for name, value in model.elbo_terms(x, shared).items():
        torch.testing.assert_close(value, model.elbo_terms(x, per_row)[name], rtol=0, atol=1e-12)
        assert value.shape == (40,)
    assert torch.all(model.elbo_terms(x, model.prior)["kl_to_prior"].abs() < 1e-12)


def test_a_component_with_no_mass_in_q_counts_zero_even_where_it_is_impossible():
    model = BernoulliMixture(2, alpha=0.0)
    model.weights_ = torch.tensor([0.5, 0.5], dtype=torch.float64)
    model.means_ = torch.tensor([[1.0, 0.5], [0.0, 0.5]], dtype=torch.float64)      # component 1 never has pixel 0 on
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert torch.isneginf(model.component_log_joint(x)[0, 1])
    q = model.posterior(x)
    assert q.probs[0, 1] == 0
    probs = q.probs.clone().requires_grad_()
    elbo = model.elbo(x, Categorical(probs=probs))
    assert elbo.item() == pytest.approx(model.log_marginal(x).item(), abs=1e-12) == math.log(0.25)
    (grad,) = torch.autograd.grad(elbo.sum(), probs)
    assert torch.isfinite(grad[0, 0])


def test_q_must_be_a_categorical_over_the_components(model_and_x):
    model, x = model_and_x
    with pytest.raises(TypeError, match="q must be a torch.distributions.Categorical over the C = 3 components"):
        model.elbo(x, Independent(Normal(torch.zeros(40, 3), 1.0), 1))
    with pytest.raises(ValueError, match="q has 2 categories"):
        model.elbo_terms(x, Categorical(probs=torch.full((40, 2), 0.5)))
    with pytest.raises(ValueError, match=r"c must hold component indices 0 \.\. 2"):
        model.log_joint(x, torch.full((40,), 3))
    with pytest.raises(TypeError, match="c must be a LongTensor"):
        model.decoder(torch.zeros(40))
    with pytest.raises(ValueError, match=r"c must have shape \(\.\.\., N\)"):
        model.log_joint(x, torch.zeros(39, dtype=torch.long))


def test_sample_draws_from_the_global_rng_unless_given_a_seed(model_and_x):
    model, _ = model_and_x
    torch.manual_seed(0)
    first, second = model.sample(30)[0], model.sample(30)[0]
    torch.manual_seed(0)
    assert torch.equal(model.sample(30)[0], first) and not torch.equal(first, second)   # seeded globally
    state = torch.get_rng_state()
    assert torch.equal(model.sample(30, seed=4)[0], model.sample(30, seed=4)[0])       # a private generator ...
    assert torch.equal(torch.get_rng_state(), state)                                    # ... leaves the global RNG alone
