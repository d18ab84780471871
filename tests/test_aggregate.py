"""vitools.aggregate: per-dimension KLs, active units, the aggregate posterior's density and the KL decomposition.

Every check sets what the module computes against a second route: torch.distributions or the closed form typed out
here, a brute-force float64 logsumexp over the mixture, encoders built by hand whose answer is known (one that
ignores x, one whose components never overlap), or the identity average KL = I_q(x; z) + KL(q(z) || p(z)).
"""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vitools import aggregate
from vitools.vae import MIN_STD, VAE, LinearVAE, train

pytestmark = pytest.mark.usefixtures("one_thread")   # small networks run fastest, and steadiest, on one thread

UNIT_SCALE = math.log(math.expm1(1 - MIN_STD))   # raw_scale u with s = softplus(u) + MIN_STD = 1 (exactly, in float32)
FLOOR_SCALE = -30.0                              # softplus(-30) ~ 1e-13: s is MIN_STD to float32 precision


def _linear_vae(x_dim, z_dim, *, A=None, g=None, raw_scale=None, seed=0):
    """A LinearVAE with its encoder q(z | x) = N(A x + g, diag(s^2)) set by hand (the decoder plays no part here)."""
    torch.manual_seed(seed)
    model = LinearVAE(x_dim, z_dim)
    with torch.no_grad():
        for parameter, value in ((model.A, A), (model.g, g), (model.raw_scale, raw_scale)):
            if value is not None:
                parameter.copy_(torch.as_tensor(value, dtype=torch.float32).expand_as(parameter))
    return model


def _closed_form_kl(model, x):
    """1/2 (m^2 + s^2 - 1 - log s^2) per image and dimension, from the encoder's mean and scale, in float64."""
    q = model.encoder(x).base_dist
    m, s = q.loc.detach().double(), q.scale.detach().double()
    return 0.5 * (m.square() + s.square() - 1 - s.square().log())


def _brute_log_aggregate(model, x, z):
    """log (1/N) sum_n q(z | x_n), every component's density by torch.distributions in float64, then logsumexp."""
    q = model.encoder(x).base_dist
    components = Independent(Normal(q.loc.detach().double(), q.scale.detach().double()), 1)   # batch (N,)
    return torch.logsumexp(components.log_prob(z.double()[:, None, :]), dim=1) - math.log(x.shape[0])


def _grid(k):
    """k * k points of the integer grid in the plane, centred on 0: a data set whose points are 1 apart."""
    axis = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    return torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)


@pytest.fixture(scope="module")
def trained(digits):
    """A small VAE after a few epochs on the training digits."""
    torch.manual_seed(0)
    model = VAE(64, 4, hidden=(32,))
    train(model, digits[0], n_epochs=8, lr=3e-3, seed=0)
    return model


# ---------------------------------------------------------------- kl_per_dimension and active_units

def test_kl_per_dimension_is_the_closed_form_and_torchs_kl(digits):
    torch.manual_seed(0)
    cases = [(VAE(64, 3, hidden=(16,)), digits[0][:40]), (_linear_vae(5, 2, raw_scale=[-1.0, 0.7]), torch.randn(30, 5))]
    for model, x in cases:
        kl = aggregate.kl_per_dimension(model, x)
        assert kl.shape == (x.shape[0], model.z_dim) and not kl.requires_grad
        torch.testing.assert_close(kl.double(), _closed_form_kl(model, x), rtol=1e-5, atol=1e-6)
        q = model.encoder(x).base_dist                       # torch's KL, one univariate Normal per entry
        by_torch = kl_divergence(Normal(q.loc, q.scale), Normal(torch.zeros(()), torch.ones(())))
        torch.testing.assert_close(kl, by_torch.detach(), rtol=1e-6, atol=1e-6)
        # summed over the L dimensions: the KL of the whole diagonal Gaussian q(z | x) from p(z)
        torch.testing.assert_close(kl.sum(1), kl_divergence(model.encoder(x), model.prior).detach(), rtol=1e-5,
                                   atol=1e-5)


def _units_model():
    """z_dim 6: rows 1 and 4 of A zero with g = 0 and s = 1 (q is the prior there), row 2 weak, rows 0, 3, 5 strong."""
    torch.manual_seed(1)
    A = torch.randn(6, 6)
    A[[1, 4]] = 0.0
    A[2] *= 0.01
    g = torch.tensor([0.3, 0.0, 0.0, -0.2, 0.0, 0.1])
    raw_scale = torch.tensor([-1.0, UNIT_SCALE, UNIT_SCALE, 0.0, UNIT_SCALE, -2.0])
    return _linear_vae(6, 6, A=A, g=g, raw_scale=raw_scale), torch.randn(200, 6)


def test_active_units_counts_the_dimensions_that_are_not_the_prior():
    model, x = _units_model()
    mean_kl = _closed_form_kl(model, x).mean(0)
    assert torch.all(mean_kl[[1, 4]] == 0)                   # exactly the prior: m = 0, s = 1
    assert 0 < mean_kl[2] < 0.01 and torch.all(mean_kl[[0, 3, 5]] > 0.2)   # the test's premise
    assert aggregate.active_units(model, x) == 3             # the default threshold, 0.05 nats
    assert aggregate.active_units(model, x, threshold=0.0) == 4   # strictly above: the prior's dimensions never count
    assert aggregate.active_units(model, x, threshold=1e6) == 0
    assert aggregate.active_units(model, x, threshold=0.05) == int((mean_kl > 0.05).sum())


def test_active_units_threshold_is_strict_at_the_boundary():
    model, x = _units_model()
    values = aggregate.kl_per_dimension(model, x).mean(0)   # float32, as active_units averages them
    for value in values.unique():
        below = torch.nextafter(value, torch.tensor(-math.inf)).item()   # the next float32 down
        assert aggregate.active_units(model, x, threshold=value.item()) == int((values > value).sum())
        if below >= 0:
            assert aggregate.active_units(model, x, threshold=below) == int((values >= value).sum())
    closed_form = _closed_form_kl(model, x).mean(0)          # the count against the float64 closed form, off the boundary
    for threshold in (0.01, 0.1, 0.5):
        assert aggregate.active_units(model, x, threshold=threshold) == int((closed_form > threshold).sum())


# ---------------------------------------------------------------- log_aggregate_density

@pytest.mark.parametrize("raw_scale", [UNIT_SCALE, -2.0, -9.0, FLOOR_SCALE])
def test_log_aggregate_density_is_the_brute_force_log_mean_exp(raw_scale):
    torch.manual_seed(0)
    A = 3 * torch.randn(3, 5)                                # component means spread over several units
    model = _linear_vae(5, 3, A=A, g=[0.5, -1.0, 0.0], raw_scale=raw_scale)
    x = torch.randn(60, 5)
    q = model.encoder(x)
    torch.manual_seed(1)
    z = torch.cat([q.sample()[:25],                          # on top of a component (log q(z) ~ +20 when s = 1e-4)
                   q.base_dist.loc[:5] + 0.5,                # between components
                   torch.randn(20, 3),                       # from the prior
                   torch.tensor([[30.0, -30.0, 30.0], [-50.0, 0.0, 0.0], [0.0, 0.0, 80.0]])])   # far in the tails
    expected = _brute_log_aggregate(model, x, z)
    got = aggregate.log_aggregate_density(model, x, z)
    assert got.shape == (z.shape[0],) and got.dtype == torch.float64
    assert torch.all(torch.isfinite(got))
    # the square expanded in float64 stays accurate even at the scale floor, where it cancels terms of ~1e9
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_log_aggregate_density_of_a_vae_at_the_scale_floor(digits):
    x = digits[0][:80]
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(8,))
    with torch.no_grad():
        model.encoder_net[-1].bias[2:] = -200.0              # softplus(-200) = 0: every scale is MIN_STD
    q = model.encoder(x)
    assert torch.all(q.base_dist.scale == MIN_STD)
    torch.manual_seed(1)
    z = torch.cat([q.sample()[:40], 5 * torch.randn(10, 2)])
    torch.testing.assert_close(aggregate.log_aggregate_density(model, x, z), _brute_log_aggregate(model, x, z),
                               rtol=1e-6, atol=1e-6)


def test_log_aggregate_density_of_one_data_point_is_its_encoder_density():
    model = _linear_vae(4, 3, raw_scale=[-1.0, 0.0, 2.0])
    x = torch.randn(1, 4)
    z = 2 * torch.randn(30, 3)
    expected = model.encoder(x).log_prob(z[:, None, :])[:, 0].detach()   # float32, N = 1: the mixture is q(z | x)
    torch.testing.assert_close(aggregate.log_aggregate_density(model, x, z).float(), expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- decomposition

@pytest.mark.parametrize("which", ["vae", "linear"])
def test_decomposition_terms_add_up_to_the_closed_form_average_kl(digits, which):
    torch.manual_seed(0)
    if which == "vae":
        model, x = VAE(64, 3, hidden=(16,)), digits[0][:150]
    else:
        model, x = _linear_vae(5, 2, A=torch.randn(2, 5), raw_scale=[-1.5, -0.5]), torch.randn(120, 5)
    d = aggregate.decomposition(model, x, n_samples=16, seed=0)
    assert set(d) == {"average_kl", "mutual_information", "mutual_information_se", "marginal_kl", "marginal_kl_se",
                      "sum_se", "log_n"}
    assert all(isinstance(value, float) and math.isfinite(value) for value in d.values())
    assert d["log_n"] == math.log(x.shape[0])
    assert d["average_kl"] == pytest.approx(_closed_form_kl(model, x).sum(1).mean().item(), rel=1e-6)
    assert 0 < d["sum_se"] and 0 < d["mutual_information_se"] and 0 < d["marginal_kl_se"]
    assert abs(d["mutual_information"] + d["marginal_kl"] - d["average_kl"]) < 4 * d["sum_se"]
    assert 0 <= d["mutual_information"] <= d["log_n"]


def test_an_encoder_that_ignores_x_has_no_mutual_information():
    # A = 0: every q(z | x_n) is the same Gaussian, so q(z) is that Gaussian, I_q = 0 and KL(q(z) || p) = KL(q || p)
    model = _linear_vae(5, 2, A=0.0, g=[0.7, -1.2], raw_scale=[-1.0, 0.5])
    x = torch.randn(50, 5)
    d = aggregate.decomposition(model, x, n_samples=200, seed=0)
    assert abs(d["mutual_information"]) < 1e-9                # log q(z | x_n) - log q(z) cancels draw by draw
    kl = kl_divergence(model.encoder(x[:1]), model.prior).item()   # the closed form, one component
    assert d["average_kl"] == pytest.approx(kl, rel=1e-6)
    assert abs(d["marginal_kl"] - kl) < 4 * d["marginal_kl_se"]
    assert d["marginal_kl_se"] < 0.02                          # 10,000 draws: the comparison has teeth


def test_an_encoder_with_separated_narrow_components_has_mutual_information_log_n():
    x = _grid(5)                                               # 25 points, 1 apart
    model = _linear_vae(2, 2, A=torch.eye(2), g=0.0, raw_scale=FLOOR_SCALE)   # q(z | x_n) = N(x_n, 1e-8 I)
    d = aggregate.decomposition(model, x, n_samples=16, seed=0)
    assert d["log_n"] == math.log(25)
    assert abs(d["mutual_information"] - d["log_n"]) < 1e-3
    # each term log q(z | x_n) - log q(z) is at most log N; here the others' densities underflow to 0, so the
    # estimate is log N up to float64 rounding (the expanded square's, ~1e-9 here)
    assert d["mutual_information"] <= d["log_n"] + 1e-7
    assert abs(d["mutual_information"] + d["marginal_kl"] - d["average_kl"]) < 4 * d["sum_se"]
    overlapping = _linear_vae(2, 2, A=torch.eye(2), g=0.0, raw_scale=-1.0)   # s = 0.31: neighbours overlap
    d = aggregate.decomposition(overlapping, x, n_samples=16, seed=0)
    assert 0 < d["mutual_information"] < d["log_n"] - 0.1     # never above log N, and below it once they overlap


def test_decomposition_repeats_with_its_seed_and_leaves_the_global_generator_alone(digits):
    torch.manual_seed(0)
    model, x = VAE(64, 2, hidden=(8,)), digits[0][:60]
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = aggregate.decomposition(model, x, n_samples=3, seed=7)
    after_call = torch.rand(5)
    torch.random.set_rng_state(state)
    assert torch.equal(after_call, torch.rand(5))             # the caller's stream continues as if never called
    torch.manual_seed(999)                                    # a different global state: the same result
    assert aggregate.decomposition(model, x, n_samples=3, seed=7) == first
    other = aggregate.decomposition(model, x, n_samples=3, seed=8)
    assert other["mutual_information"] != first["mutual_information"]
    assert other["average_kl"] == first["average_kl"]         # the closed form does not sample


def test_one_sample_has_no_standard_errors():
    model, x = _linear_vae(3, 2, raw_scale=-1.0), torch.randn(20, 3)
    d = aggregate.decomposition(model, x, n_samples=1)
    assert all(math.isnan(d[key]) for key in ("mutual_information_se", "marginal_kl_se", "sum_se"))
    assert all(math.isfinite(d[key]) for key in ("average_kl", "mutual_information", "marginal_kl", "log_n"))


# ---------------------------------------------------------------- a trained VAE

def test_decomposition_of_a_trained_vae(trained, digits):
    x = digits[0]
    d = aggregate.decomposition(trained, x, n_samples=4, seed=0)
    assert d["log_n"] == math.log(x.shape[0])
    assert abs(d["mutual_information"] + d["marginal_kl"] - d["average_kl"]) < 4 * d["sum_se"]
    assert 0 <= d["mutual_information"] <= d["log_n"]
    assert d["mutual_information"] > 0.5                      # a trained encoder tells the digits apart (1.75)
    assert d["marginal_kl"] >= -3 * d["marginal_kl_se"]
    kl = aggregate.kl_per_dimension(trained, x)               # per dimension, summed: the same average KL
    assert kl.sum(1).mean().item() == pytest.approx(d["average_kl"], rel=1e-5)
    assert aggregate.active_units(trained, x) == int((_closed_form_kl(trained, x).mean(0) > 0.05).sum())
    q = trained.encoder(x)
    torch.manual_seed(0)
    z = torch.cat([q.sample()[:50], torch.randn(50, 4)])
    torch.testing.assert_close(aggregate.log_aggregate_density(trained, x, z), _brute_log_aggregate(trained, x, z),
                               rtol=1e-6, atol=1e-6)
