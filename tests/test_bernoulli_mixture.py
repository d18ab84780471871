import itertools

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily

from vitools.data import load_digits
from vitools.bernoulli_mixture import BernoulliMixture

WEIGHTS = torch.tensor([0.3, 0.7], dtype=torch.float64)
MEANS = torch.tensor([[0.9] * 5 + [0.1] * 5, [0.1] * 5 + [0.9] * 5], dtype=torch.float64)


def by_hand(weights, means):
    model = BernoulliMixture(len(weights))
    model.weights_ = torch.as_tensor(weights, dtype=torch.float64)
    model.means_ = torch.as_tensor(means, dtype=torch.float64)
    return model


def random_model(k, d, seed):
    gen = torch.Generator().manual_seed(seed)
    weights = torch.rand(k, generator=gen, dtype=torch.float64) + 0.1
    return by_hand(weights / weights.sum(), 0.05 + 0.9 * torch.rand(k, d, generator=gen, dtype=torch.float64))


def all_binary(d):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=d)), dtype=torch.float64)


@pytest.fixture(scope="module")
def known_data():
    return by_hand(WEIGHTS, MEANS).sample(2000, seed=1)


@pytest.fixture(scope="module")
def digits():
    return load_digits("train")[0], load_digits("test")[0]


@pytest.fixture(scope="module")
def fitted_small():
    x, _ = random_model(3, 16, seed=2).sample(300, seed=3)
    return BernoulliMixture(3).fit(x), x


@pytest.mark.parametrize("which", ["fitted", "by_hand"])
def test_log_marginal_with_hidden_pixels_matches_enumeration(which, fitted_small):
    model, x = fitted_small if which == "fitted" else (random_model(4, 16, seed=4), fitted_small[1])
    observed = torch.randperm(16, generator=torch.Generator().manual_seed(5)) < 6  # 10 hidden pixels
    exact = model.log_marginal(x[:20], observed=observed)
    assert torch.allclose(model.log_marginal_enumerate(x[:20], observed=observed), exact, rtol=0, atol=1e-9)


def test_hidden_values_are_ignored(fitted_small):
    model, x = fitted_small
    observed = torch.arange(16) < 8
    flipped = torch.where(observed, x, 1 - x)
    assert torch.equal(model.log_marginal(flipped, observed=observed), model.log_marginal(x, observed=observed))


def test_log_marginal_fully_observed_matches_torch_distributions(fitted_small):
    model, x = fitted_small
    reference = MixtureSameFamily(Categorical(probs=model.weights_), Independent(Bernoulli(probs=model.means_), 1))
    assert torch.allclose(model.log_marginal(x), reference.log_prob(x), rtol=0, atol=1e-9)


def test_probabilities_sum_to_one_and_marginalise():
    model = random_model(3, 4, seed=6)
    everything = all_binary(4)
    assert torch.exp(model.log_marginal(everything)).sum().item() == pytest.approx(1.0, abs=1e-12)
    # p(x_0, x_2) = sum over (x_1, x_3) of p(x), for every value of the observed pair
    observed = torch.tensor([True, False, True, False])
    for x_obs in all_binary(2):
        rows = everything[(everything[:, observed] == x_obs).all(1)]
        total = torch.exp(model.log_marginal(rows)).sum()
        assert torch.exp(model.log_marginal(rows[:1], observed=observed))[0].item() == pytest.approx(total.item(), abs=1e-12)


def test_per_row_mask_matches_one_mask_per_call(fitted_small):
    model, x = fitted_small
    masks = torch.rand(5, 16, generator=torch.Generator().manual_seed(7)) < 0.5
    one_by_one = torch.cat([model.log_marginal(x[i : i + 1], observed=masks[i]) for i in range(5)])
    assert torch.allclose(model.log_marginal(x[:5], observed=masks), one_by_one, rtol=0, atol=1e-12)


@pytest.mark.parametrize("data", ["known", "digits"])
def test_em_log_likelihood_never_decreases_without_smoothing(data, known_data, digits):
    x = known_data[0] if data == "known" else digits[0][:500]  # digits have pixels that are never on
    history = torch.tensor(BernoulliMixture(4, alpha=0.0).fit(x, max_iter=50).log_likelihood_, dtype=torch.float64)
    assert torch.isfinite(history).all()
    assert (history.diff() >= -1e-9).all()


def test_map_objective_never_decreases_with_smoothing(known_data):
    x, alpha = known_data[0][:200], 5.0

    def objective(model):  # average log p(x_n) + log prior(mu) / N, up to a constant
        log_prior = alpha * (torch.log(model.means_) + torch.log1p(-model.means_)).sum()
        return (model.log_marginal(x).mean() + log_prior / x.shape[0]).item()

    values = [objective(BernoulliMixture(3, alpha=alpha).fit(x, max_iter=t, tol=-float("inf"))) for t in range(1, 16)]
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:]))


def test_fit_recovers_a_known_two_component_model(known_data):
    model = BernoulliMixture(2).fit(known_data[0], max_iter=200)
    order = torch.argsort(model.means_[:, 0], descending=True)  # component 0 has its first pixels on
    assert model.converged_
    assert torch.allclose(model.weights_[order], WEIGHTS, atol=0.05)
    assert torch.allclose(model.means_[order], MEANS, atol=0.05)


def test_same_seed_gives_the_same_fit(known_data):
    x = known_data[0][:300]
    a, b = BernoulliMixture(3).fit(x, seed=11), BernoulliMixture(3).fit(x, seed=11)
    assert torch.equal(a.means_, b.means_) and torch.equal(a.weights_, b.weights_)
    assert a.log_likelihood_ == b.log_likelihood_ and a.n_iter_ == b.n_iter_


def test_sample_is_seeded_and_follows_the_model():
    model = by_hand(WEIGHTS, MEANS)
    x, c = model.sample(4000, seed=8)
    assert x.shape == (4000, 10) and c.shape == (4000,) and c.dtype == torch.int64
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(model.sample(50, seed=8)[0], model.sample(50, seed=8)[0])
    assert (c == 1).double().mean().item() == pytest.approx(0.7, abs=0.03)
    assert torch.allclose(x[c == 0].mean(0), MEANS[0], atol=0.05)


def test_posterior_and_complete_hidden(fitted_small):
    model, x = fitted_small
    observed = torch.arange(16) < 8
    posterior = model.posterior(x, observed=observed)
    assert isinstance(posterior, Categorical) and posterior.batch_shape == (300,)
    post = posterior.probs
    assert post.shape == (300, 3) and (post >= 0).all()
    assert torch.allclose(post.sum(1), torch.ones(300, dtype=torch.float64), atol=1e-12)
    filled = model.complete_hidden(x, observed=observed)
    assert torch.equal(filled[:, observed], x[:, observed])
    assert ((filled >= 0) & (filled <= 1)).all()
    assert torch.allclose(filled[:, ~observed], post @ model.means_[:, ~observed])


def test_posterior_identifies_the_component_of_clean_data():
    model = by_hand(WEIGHTS, MEANS)
    x = MEANS.round()  # each row is its component's most likely image
    assert torch.equal(model.posterior(x).probs.argmax(1), torch.tensor([0, 1]))


def test_using_the_model_before_fit_raises():
    model = BernoulliMixture(2)
    with pytest.raises(RuntimeError, match="fit"):
        model.log_marginal(torch.zeros(1, 3))
    with pytest.raises(RuntimeError, match="fit"):
        model.sample(5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x: BernoulliMixture(0), "n_components"),
        (lambda m, x: BernoulliMixture(2, alpha=-1.0), "alpha"),
        (lambda m, x: BernoulliMixture(2).fit(x * 0.5), "binary"),
        (lambda m, x: BernoulliMixture(2).fit(x[0]), "x must have 2"),
        (lambda m, x: BernoulliMixture(50).fit(x[:10]), "at least n_components"),
        (lambda m, x: m.log_marginal(x[:, :5]), "columns"),
        (lambda m, x: m.log_marginal(x, observed=torch.ones(15, dtype=torch.bool)), "observed must have shape"),
        (lambda m, x: m.log_marginal(x, observed=torch.ones(16)), "observed must be a bool"),
        (lambda m, x: m.log_marginal_enumerate(x, observed=torch.ones(x.shape, dtype=torch.bool)),
         "observed must have shape"),
        (lambda m, x: m.complete_hidden(x, observed=torch.ones(16, 3, dtype=torch.bool)), "observed must have shape"),
    ],
)
def test_bad_input_raises(call, match, fitted_small):
    with pytest.raises(ValueError, match=match):
        call(*fitted_small)


def test_enumeration_refuses_too_many_hidden_pixels():
    model = random_model(2, 30, seed=9)
    with pytest.raises(ValueError, match=r"observed hides 25 pixels.*2\^25.*use log_marginal"):
        model.log_marginal_enumerate(torch.zeros(1, 30), observed=torch.arange(30) < 5)


def test_mixture_beats_independent_pixels_on_digits(digits):
    train, test = digits
    mixture = BernoulliMixture(10).fit(train)
    independent = BernoulliMixture(1).fit(train)
    assert mixture.log_likelihood_[-1] > independent.log_likelihood_[-1] + 3.0
    test_ll = mixture.log_marginal(test)
    assert torch.isfinite(test_ll).all()
    assert test_ll.mean() > independent.log_marginal(test).mean() + 3.0


def test_smoothing_keeps_pixel_probabilities_off_0_and_1():
    # pixel 0 is on in every row, pixel 2 in none: plain EM sets them to exactly 1 and 0
    x = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    smooth, plain = BernoulliMixture(2, alpha=1.0).fit(x), BernoulliMixture(2, alpha=0.0).fit(x)
    assert (smooth.means_ > 0).all() and (smooth.means_ < 1).all()
    assert (plain.means_[:, 2] == 0).all() and (plain.means_[:, 0] == 1).all()
    unusual = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    assert torch.isfinite(smooth.log_marginal(unusual)).all() and torch.isneginf(plain.log_marginal(unusual)).all()
    # one component: every responsibility is 1, so mu_d = (sum_n x_nd + alpha) / (N + 2 alpha) exactly
    one = BernoulliMixture(1, alpha=1.0).fit(x)
    torch.testing.assert_close(one.means_[0], (x.sum(0) + 1.0) / (4 + 2.0), rtol=0, atol=1e-15)


def test_map_em_stops_on_its_own_objective_not_the_likelihood(known_data):
    # MAP-EM raises log-likelihood + log-prior; the log-likelihood alone can fall (here by ~1e-3 at one step).
    # Convergence must be judged on the objective, or the fit stops at the first such fall.
    x, alpha, tol = known_data[0][:200], 1.0, 1e-6
    model = BernoulliMixture(3, alpha=alpha).fit(x, max_iter=200, tol=tol, seed=2)
    log_lik, objective = torch.tensor(model.log_likelihood_), torch.tensor(model.objective_)
    assert (log_lik.diff() < -1e-4).any()                      # the likelihood fell during the fit ...
    assert (objective.diff() >= -1e-12).all()                  # ... the objective never did
    assert model.converged_ and objective.diff()[-1] < tol and (objective.diff()[:-1] >= tol).all()
    assert len(model.objective_) == len(model.log_likelihood_) == model.n_iter_


def test_objective_is_log_likelihood_plus_beta_log_prior(known_data, digits):
    # independent side: scipy's Beta(1 + alpha, 1 + alpha) log-density, whose normaliser is the dropped constant
    from scipy import special, stats
    for x, alpha in [(known_data[0][:300], 2.0), (digits[0][:300], 1.0), (digits[0][:300], 0.0)]:
        model = BernoulliMixture(3, alpha=alpha).fit(x, max_iter=30)
        mu = model.means_.numpy()
        log_prior = stats.beta.logpdf(mu, 1 + alpha, 1 + alpha).sum() + mu.size * special.betaln(1 + alpha, 1 + alpha)
        expected = model.log_marginal(x).mean().item() + log_prior / x.shape[0]
        assert model.objective_[-1] == pytest.approx(expected, abs=1e-10)
        assert model.log_likelihood_[-1] == pytest.approx(model.log_marginal(x).mean().item(), abs=1e-12)


def test_plain_em_keeps_pixel_probabilities_in_0_1_so_the_model_can_sample(known_data):
    # with alpha = 0, sum_n r_nc x_nd / N_c for a pixel on in all of a component's points can round to 1 + 1e-16
    model = BernoulliMixture(10, alpha=0.0).fit(load_digits("train")[0], max_iter=60, seed=0)
    assert model.means_.max() == 1.0 and model.means_.min() == 0.0
    x, c = model.sample(100, seed=0)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.isfinite(model.log_marginal(x)).all()       # its own samples are possible
    torch.testing.assert_close(model.decoder(c).log_prob(x) + torch.log(model.weights_[c]), model.log_joint(x, c),
                               rtol=0, atol=1e-9)


def test_log_joint_reads_the_table_at_the_given_components(fitted_small):
    model, x = fitted_small
    table = model.component_log_joint(x)
    c = torch.randint(0, 3, (4, 300), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.log_joint(x, c), table[torch.arange(300), c], rtol=0, atol=0)
    torch.testing.assert_close(model.decoder(c).log_prob(x), (table - torch.log(model.weights_))[torch.arange(300), c])
