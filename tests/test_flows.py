"""vitools.flows: the planar transform against autograd's Jacobian and the change-of-variables formula typed out, the
flow density's normalisation, and FlowVAE against the diagonal Gaussian VAE it extends."""

import copy
import math

import pytest
import torch
from torch.distributions import Independent, Normal, TransformedDistribution
from torch.nn import functional as F

from vitools.bounds import iwae_bound
from vitools.flows import FlowVAE, PlanarTransform
from vitools.objectives import ELBO, IWAE
from vitools.vae import VAE, gap_estimates, refine_posterior, train

pytestmark = pytest.mark.usefixtures("one_thread")


def random_layer(L, *, batch=(), seed=0, contracting=False):
    """Random (u, v, v0) in float64; ``contracting`` makes v . u < -1 before the invertibility fix."""
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(*batch, L, generator=gen, dtype=torch.float64)
    u = torch.randn(*batch, L, generator=gen, dtype=torch.float64)
    v0 = torch.randn(tuple(batch), generator=gen, dtype=torch.float64)
    if contracting:                                    # u -> u - (v . u + 2 + noise) v / |v|^2: v . u < -2
        vu = (v * u).sum(-1, keepdim=True)
        u = u - (vu + 2 + torch.rand(*batch, 1, generator=gen, dtype=torch.float64)) * v / (v * v).sum(-1, keepdim=True)
        assert torch.all((v * u).sum(-1) < -1)
    return u, v, v0


def u_hat(u, v):
    """The invertible u of Rezende and Mohamed: u + (log(1 + e^{v.u}) - 1 - v.u) v / |v|^2, typed out."""
    vu = (v * u).sum(-1, keepdim=True)
    return u + (torch.log(1 + torch.exp(vu)) - 1 - vu) * v / (v * v).sum(-1, keepdim=True)


def hand_log_det(z, u, v, v0):
    """log |1 + (1 - tanh^2(v . z + v0)) v . u_hat|, the matrix determinant lemma for I + u_hat h' v^T."""
    return torch.log(torch.abs(1 + (1 - torch.tanh((v * z).sum(-1) + v0) ** 2) * (v * u_hat(u, v)).sum(-1)))


def hand_flow(z0, layers):
    """z_F and sum_l log |det| for planar layers (u, v, v0), everything typed out."""
    z, log_det = z0, torch.zeros(z0.shape[:-1], dtype=z0.dtype)
    for u, v, v0 in layers:
        log_det = log_det + hand_log_det(z, u, v, v0)
        z = z + u_hat(u, v) * torch.tanh((v * z).sum(-1) + v0).unsqueeze(-1)
    return z, log_det


# ---------------------------------------------------------------- PlanarTransform

@pytest.mark.parametrize("contracting", [False, True], ids=["any-u", "v.u<-1"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_abs_det_jacobian_is_autograds_jacobian(seed, contracting):
    u, v, v0 = random_layer(3, seed=seed, contracting=contracting)
    transform = PlanarTransform(u, v, v0)
    v_dot_u_hat = (v * u_hat(u, v)).sum()
    assert v_dot_u_hat > -1                                                     # invertible after the fix ...
    torch.testing.assert_close(v_dot_u_hat, F.softplus((v * u).sum()) - 1)      # ... by the paper's formula
    gen = torch.Generator().manual_seed(10 + seed)
    points = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    points[0] = -v0 * v / (v * v).sum()              # v . z + v0 = 0: tanh' = 1, where the determinant is smallest
    for z in points:
        torch.testing.assert_close(transform(z), z + u_hat(u, v) * torch.tanh(v @ z + v0), rtol=1e-12, atol=1e-12)
        jacobian = torch.autograd.functional.jacobian(transform, z)
        sign, log_det = torch.linalg.slogdet(jacobian)
        assert sign > 0
        torch.testing.assert_close(transform.log_abs_det_jacobian(z, transform(z)), log_det, rtol=1e-10, atol=1e-12)


def test_batched_transform_is_the_per_row_transform():
    """Parameters (N, L), (N, L), (N,) and z of shape (S, N, L): row n uses layer n, for every sample s."""
    u, v, v0 = random_layer(2, batch=(4,), seed=3, contracting=False)
    transform = PlanarTransform(u, v, v0)
    z = torch.randn(5, 4, 2, dtype=torch.float64)
    y = transform(z)
    log_det = transform.log_abs_det_jacobian(z, y)
    assert y.shape == (5, 4, 2) and log_det.shape == (5, 4)
    for n in range(4):
        row = PlanarTransform(u[n], v[n], v0[n])
        torch.testing.assert_close(y[:, n], row(z[:, n]), rtol=1e-12, atol=1e-12)
        for s in range(5):
            jacobian = torch.autograd.functional.jacobian(row, z[s, n])
            torch.testing.assert_close(log_det[s, n], torch.linalg.slogdet(jacobian)[1], rtol=1e-10, atol=1e-12)


def test_the_inverse_is_only_the_cached_one():
    u, v, v0 = random_layer(3, seed=4)
    transform = PlanarTransform(u, v, v0)
    z = torch.randn(3, dtype=torch.float64)
    y = transform(z)
    assert transform.inv(y) is z                                                # the cached inverse of the last output
    with pytest.raises(NotImplementedError, match="no closed-form inverse.*rsample or sample"):
        transform.inv(y.clone())
    with pytest.raises(NotImplementedError, match="no closed-form inverse"):
        transform.inv(torch.zeros(3, dtype=torch.float64))


def flow_distribution(L=2, n_layers=3, seed=5, batch=()):
    gen = torch.Generator().manual_seed(seed)
    loc = torch.randn(*batch, L, generator=gen, dtype=torch.float64)
    scale = 0.5 + torch.rand(*batch, L, generator=gen, dtype=torch.float64)
    layers = [random_layer(L, batch=batch, seed=seed + 1 + j, contracting=j % 2 == 1) for j in range(n_layers)]
    base = Independent(Normal(loc, scale), 1)
    return TransformedDistribution(base, [PlanarTransform(*layer) for layer in layers]), base, layers


def test_log_prob_of_an_rsample_is_the_change_of_variables_formula():
    q, base, layers = flow_distribution(L=3, batch=(4,))
    torch.manual_seed(0)
    z = q.rsample((7,))
    log_q = q.log_prob(z)
    torch.manual_seed(0)                                                        # the same noise, by hand
    z0 = base.base_dist.loc + base.base_dist.scale * torch.randn(7, 4, 3, dtype=torch.float64)
    z_hand, log_det = hand_flow(z0, layers)
    torch.testing.assert_close(z, z_hand, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_q, base.log_prob(z0) - log_det, rtol=1e-12, atol=1e-10)
    assert log_q.shape == (7, 4)


def planar_inverse(y, u, v, v0, n_iter=60):
    """The inverse of one planar layer, numerically: a = v . z solves a + (v . u_hat) tanh(a + v0) = v . y, increasing
    in a (v . u_hat > -1), by bisection on [v . y - |v . u_hat| - 1, v . y + |v . u_hat| + 1]; z = y - u_hat tanh(a + v0)."""
    uh = u_hat(u, v)
    vu, target = (v * uh).sum(-1), (y * v).sum(-1)
    lo, hi = target - vu.abs() - 1, target + vu.abs() + 1
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        above = mid + vu * torch.tanh(mid + v0) > target
        hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
    return y - uh * torch.tanh((lo + hi) / 2 + v0).unsqueeze(-1)


def log_density_anywhere(base, layers, y):
    """log q(y) at any y, through the numerical inverse: log N(z_0) - sum_l log |det dg_l / dz_(l-1)|."""
    log_det = torch.zeros(y.shape[:-1], dtype=y.dtype)
    for u, v, v0 in reversed(layers):
        y = planar_inverse(y, u, v, v0)
        log_det = log_det + hand_log_det(y, u, v, v0)
    return base.log_prob(y) - log_det


def test_the_flow_density_integrates_to_one():
    """In 2-D, on a grid around the samples: the density, by numerical inversion, sums to one; at the flow's own
    samples it is TransformedDistribution.log_prob (which used the cached inverse)."""
    q, base, layers = flow_distribution(L=2, n_layers=3, seed=5)                # layer 2 had v . u < -1
    torch.manual_seed(0)
    with torch.no_grad():
        z = q.sample((2000,))
        torch.testing.assert_close(log_density_anywhere(base, layers, z), q.log_prob(z), rtol=0, atol=1e-10)
        lo, hi = z.min(0).values - 3, z.max(0).values + 3
        axes = [torch.linspace(lo[i], hi[i], 300, dtype=torch.float64) for i in range(2)]
        grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
        density = log_density_anywhere(base, layers, grid).exp()
        cell = (axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0])
        assert abs((density.sum() * cell).item() - 1) < 1e-5
        moved = (density - base.log_prob(grid).exp()).abs().sum() * cell      # the flow moved the mass
        assert moved > 0.2


# ---------------------------------------------------------------- FlowVAE

def test_flow_vae_shapes_and_parameter_count(digits):
    x = digits[0][:6]
    torch.manual_seed(0)
    model = FlowVAE(64, 3, hidden=(16,), n_flows=2)
    assert model.encoder_net[-1].out_features == 2 * 3 + 2 * (2 * 3 + 1)
    q = model.encoder(x)
    assert isinstance(q, TransformedDistribution) and len(q.transforms) == 2
    assert q.batch_shape == (6,) and q.event_shape == (3,)
    terms = model.elbo_terms(x, q, n_samples=4)
    assert all(value.shape == (6,) for value in terms.values())
    torch.testing.assert_close(terms["expected_log_likelihood"] - terms["kl_to_prior"], terms["elbo"])
    torch.testing.assert_close(terms["expected_log_joint"] + terms["entropy"], terms["elbo"], rtol=1e-6, atol=1e-4)
    with pytest.raises(NotImplementedError, match="not a diagonal Gaussian"):
        model._encode(x, None)


def test_flow_vae_without_flows_is_the_vae(digits):
    """n_flows = 0 with the VAE's weights: the same q; the KL estimated at samples averages to the closed form."""
    x = digits[0][:10]
    torch.manual_seed(0)
    vae = VAE(64, 2, hidden=(16,))
    flow = FlowVAE(64, 2, hidden=(16,), n_flows=0)
    flow.load_state_dict(vae.state_dict())
    q_vae, q_flow = vae.encoder(x), flow.encoder(x)
    torch.testing.assert_close(q_flow.base_dist.base_dist.loc, q_vae.base_dist.loc)
    torch.testing.assert_close(q_flow.base_dist.base_dist.scale, q_vae.base_dist.scale, rtol=1e-6, atol=1e-7)
    z = q_vae.sample((5,))
    torch.testing.assert_close(q_flow.log_prob(z), q_vae.log_prob(z), rtol=1e-6, atol=1e-5)
    n = 4000
    with torch.no_grad():
        torch.manual_seed(1)
        flow_terms = flow.elbo_terms(x, q_flow, n_samples=n)
        torch.manual_seed(1)
        vae_terms = vae.elbo_terms(x, q_vae, n_samples=n)
        z = q_vae.sample((n,))
        per_sample_kl = q_vae.log_prob(z) - vae.prior.log_prob(z)                # (n, N): the estimator's spread
    # the same noise, so the same reconstruction term; the KL: an estimate against the closed form
    torch.testing.assert_close(flow_terms["expected_log_likelihood"], vae_terms["expected_log_likelihood"],
                               rtol=1e-5, atol=1e-4)
    stderr = per_sample_kl.std(0) / math.sqrt(n)
    assert torch.all((flow_terms["kl_to_prior"] - vae_terms["kl_to_prior"]).abs() < 5 * stderr)
    assert torch.all((flow_terms["entropy"] - vae_terms["entropy"]).abs() < 5 * q_vae.log_prob(z).std(0) / math.sqrt(n))


def test_elbo_objective_on_a_flow_vae_is_its_elbo_for_the_same_random_numbers(digits):
    x = digits[0][:12]
    torch.manual_seed(0)
    model = FlowVAE(64, 2, hidden=(16,), n_flows=2)
    torch.manual_seed(3)
    _, bound = ELBO(4, "full").surrogate(model, x)
    torch.manual_seed(3)
    torch.testing.assert_close(bound, model.elbo(x, model.encoder(x), n_samples=4).detach(), rtol=1e-6, atol=1e-5)
    for objective in (ELBO(), ELBO(estimator="path_derivative"), IWAE(4, "dreg")):
        with pytest.raises(TypeError, match="use 'full' or 'path_derivative'|use estimator='full'"):
            objective.surrogate(model, x)
    value, bound = IWAE(4, "full").surrogate(model, x)
    assert value.requires_grad and bound.shape == (12,) and torch.all(torch.isfinite(bound))


@pytest.fixture(scope="module")
def trained_flow(digits):
    x_train, _, x_test, _ = digits
    torch.manual_seed(0)
    model = FlowVAE(64, 2, hidden=(32,), n_flows=2)
    fit = train(model, x_train[:512], n_epochs=6, batch_size=64, lr=1e-2, seed=0, x_test=x_test[:200])
    return model, fit.history


def test_training_a_flow_vae_raises_the_test_elbo(trained_flow):
    _, history = trained_flow
    assert len(history["test_elbo"]) == 6 and all(math.isfinite(v) for v in history["test_elbo"])
    assert history["test_elbo"][-1] > history["test_elbo"][0] + 3
    assert history["train_elbo"][-1] > history["train_elbo"][0] + 3


def test_training_a_flow_vae_with_an_iwae_objective(digits):
    x_train, _, x_test, _ = digits
    torch.manual_seed(0)
    model = FlowVAE(64, 2, hidden=(16,), n_flows=1)
    history = train(model, x_train[:256], n_epochs=3, batch_size=64, lr=3e-3, seed=0, x_test=x_test[:100],
                    objective=IWAE(3)).history
    assert history["train_elbo"][-1] > history["train_elbo"][0] + 1                  # L_3, while training
    assert history["test_elbo"][-1] > history["test_elbo"][0] + 1


def test_refine_posterior_raises_a_flow_vaes_elbo(trained_flow, digits):
    model, _ = trained_flow
    x = digits[2][:20]
    before = copy.deepcopy(model.state_dict())
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    torch.manual_seed(0)
    fit = refine_posterior(model, x, n_steps=150, lr=0.05, n_samples=8)
    q = fit.q
    assert isinstance(q, TransformedDistribution) and q.batch_shape == (20,) and q.event_shape == (2,)
    assert len(fit.history["elbo"]) == 150
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(g is None and p.grad is None or torch.equal(g, p.grad) for g, p in zip(grads, model.parameters()))
    with torch.no_grad():
        torch.manual_seed(1)
        encoder = model.elbo(x, model.encoder(x), n_samples=1000).mean().item()
        refined = model.elbo(x, q, n_samples=1000).mean().item()
        log_px = iwae_bound(model, x, model.encoder(x), n_samples=2000).mean().item()
    assert refined > encoder + 0.05
    assert max(encoder, refined) < log_px


def test_gap_estimates_on_a_flow_vae(trained_flow, digits):
    model, _ = trained_flow
    x = digits[2][:10]
    torch.manual_seed(0)
    g = gap_estimates(model, x, n_steps_grid=(0, 50), n_samples_grid=(1, 10, 100), n_eval=200, n_repeats=2)
    for key in ("elbo", "elbo_se", "log_px", "log_px_se", "log_px_step", "log_px_step_se"):
        assert torch.all(torch.isfinite(g[key])), key
    assert g["elbo"].shape == (2,) and g["log_px"].shape == (3,)
    assert g["elbo"][1] - g["elbo"][0] > 3 * g["elbo_diff_se"][1, 0]             # refinement helps, paired
    assert torch.all(g["log_px_step"] > 0)
    assert g["log_px"][-1] > g["elbo"][0]
    with torch.no_grad():                                                        # K = 1 is the encoder's ELBO
        torch.manual_seed(2)
        elbo = model.elbo(x, model.encoder(x), n_samples=2000).mean().item()
    assert abs(g["elbo"][0] - elbo) < 5 * g["elbo_se"][0] + 0.05
    assert abs(g["log_px"][0] - elbo) < 5 * g["log_px_se"][0] + 0.05


def test_iwae_bound_with_a_flow_encoder(trained_flow, digits):
    model, _ = trained_flow
    x = digits[2][:30]
    torch.manual_seed(0)
    with torch.no_grad():
        q = model.encoder(x)
        elbo = model.elbo(x, q, n_samples=500).mean().item()
        ones = torch.stack([iwae_bound(model, x, q, n_samples=1) for _ in range(40)]).mean(1)
        big = iwae_bound(model, x, q, n_samples=1000, chunk=128)
    assert abs(ones.mean().item() - elbo) < 5 * ones.std().item() / math.sqrt(40) + 0.02
    assert big.shape == (30,) and torch.all(torch.isfinite(big))
    assert big.mean().item() > elbo + 0.02


def test_the_elbo_at_fixed_noise_is_the_flows_elbo(trained_flow, digits):
    """gap_estimates' common-random-numbers ELBO (the flow applied to m + s * eps by hand, log-determinants
    subtracted) against model.elbo (TransformedDistribution's rsample and cached log_prob): equal in expectation."""
    model, _ = trained_flow
    x = digits[2][:6]
    torch.manual_seed(3)
    with torch.no_grad():
        q = model.encoder(x)
        by_noise = model._elbo_at_noise(x, q, torch.randn(4000, 6, model.z_dim), None).double()   # (S, N)
        by_library = torch.stack([model.elbo(x, q) for _ in range(4000)]).double()
    diff = by_noise.mean(0) - by_library.mean(0)
    se = ((by_noise.var(0) + by_library.var(0)) / 4000).sqrt()
    assert torch.all(diff.abs() < 4 * se), (diff, se)
