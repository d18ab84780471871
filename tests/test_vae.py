import copy
import math

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal

from vitools.bounds import iwae_bound
from vitools.examples import digit_style, independent_pixels_log_marginal
from vitools.exercises import exercise
from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood
from vitools.results import Fit
from vitools.vae import CVAE, MIN_STD, VAE, LinearVAE, gap_estimates, refine_posterior, train

pytestmark = pytest.mark.usefixtures("one_thread")   # small networks run fastest, and steadiest, on one thread


@pytest.fixture(scope="module")
def trained(digits):
    """A small VAE trained twice from the same initialisation and seed."""
    x_train, _, x_test, _ = digits
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = VAE(64, 2, hidden=(64,))
        runs.append((model, train(model, x_train, n_epochs=12, lr=3e-3, seed=0, x_test=x_test)))
    return runs


@pytest.fixture(scope="module")
def linear():
    """A LinearVAE trained on data from a linear-Gaussian model (full batch, so the ELBO converges)."""
    torch.manual_seed(0)
    x = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=0).sample(500)[0].float()
    model = LinearVAE(5, 2)
    train(model, x, n_epochs=600, batch_size=500, lr=0.05, seed=0)
    return model, x


def _encoder_elbo(model, x, n_samples=1, y=None):
    return model.elbo(x, model.encoder(x, y=y), n_samples=n_samples, y=y)


@pytest.mark.parametrize("hidden, n_classes", [((32, 16), 0), ((), 0), ((20,), 10)])
@pytest.mark.parametrize("beta, pixel_weight", [(1.0, 1.0), (2.5, 1 / 64), (0.0, 1.0)])
def test_hand_written_gradients_are_autograds_of_the_distributions_elbo(digits, hidden, n_classes, beta, pixel_weight):
    # train's hot path writes the gradients by hand; the reference is autograd through torch.distributions
    x, y = digits[0][:37], (digits[1][:37] if n_classes else None)
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=hidden, n_classes=n_classes)
    torch.manual_seed(1)                         # the same eps in both: rsample draws it as randn_like does
    q = model.encoder(x, y=y)
    z = q.rsample()
    log_likelihood = Independent(Bernoulli(logits=model.decoder(z, y=y).base_dist.logits), 1).log_prob(x)
    kl = torch.distributions.kl_divergence(q, Independent(Normal(torch.zeros(3), torch.ones(3)), 1))
    loss = (beta * kl - pixel_weight * log_likelihood).mean()
    expected = torch.autograd.grad(loss, list(model.parameters()))
    torch.manual_seed(1)
    elbo_sum = model._loss_gradients(x, y, beta, pixel_weight)
    for (name, p), g in zip(model.named_parameters(), expected):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(elbo_sum, (log_likelihood - kl).sum().detach(), rtol=1e-6, atol=1e-3)


def test_plain_tensor_likelihoods_are_the_decoders_log_prob(digits):
    # the hot path's log p(x | z) against torch.distributions, for the Bernoulli and the linear-Gaussian decoder
    torch.manual_seed(0)
    for model, x in ((VAE(64, 3, hidden=(8,)), digits[0][:20]), (LinearVAE(5, 2), torch.randn(20, 5))):
        z = torch.randn(4, 20, model.z_dim)
        torch.testing.assert_close(model._log_likelihood(x, z, None), model.decoder(z).log_prob(x), rtol=1e-6, atol=1e-5)
        mean, std = model._encode(x, None)
        q = model.encoder(x)
        torch.testing.assert_close((mean, std), (q.base_dist.loc, q.base_dist.scale))


def test_train_leaves_frozen_parameters_alone(digits):
    # a frozen decoder: the hand-written route steps aside for autograd, which leaves it untouched
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(16,))
    model.decoder_net.requires_grad_(False)
    before = copy.deepcopy(model.decoder_net.state_dict())
    encoder_before = copy.deepcopy(model.encoder_net.state_dict())
    train(model, digits[0][:64], n_epochs=1, batch_size=32, seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.decoder_net.state_dict().items())
    assert not all(torch.equal(encoder_before[k], v) for k, v in model.encoder_net.state_dict().items())


@pytest.mark.parametrize("n_classes", [0, 10])
def test_train_steps_are_adams_on_the_autograd_loss(digits, n_classes):
    # two epochs of train against the same loop written with autograd and torch.optim.Adam's defaults
    x, y = digits[0][:100], (digits[1][:100] if n_classes else None)
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(16,), n_classes=n_classes)
    reference = copy.deepcopy(model)
    history = train(model, x, n_epochs=2, batch_size=32, lr=1e-2, seed=3, y_train=y).history
    torch.manual_seed(3)
    shuffle = torch.Generator().manual_seed(3)
    optimiser = torch.optim.Adam(reference.parameters(), lr=1e-2)
    elbo_sums = []
    for _ in range(2):
        elbo_sums.append(0.0)
        for batch in torch.randperm(100, generator=shuffle).split(32):
            yb = None if y is None else y[batch]
            terms = reference.elbo_terms(x[batch], reference.encoder(x[batch], y=yb), y=yb)
            optimiser.zero_grad()
            (-terms["elbo"].mean()).backward()
            optimiser.step()
            elbo_sums[-1] += terms["elbo"].sum().item()
    for p, r in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(p, r, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history["train_elbo"], np.array(elbo_sums) / 100, rtol=1e-5)


def test_elbo_terms_add_up_both_ways_and_match_closed_forms(digits):
    x = digits[0][:50]
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(16,))
    q = model.encoder(x)
    terms = model.elbo_terms(x, q, n_samples=4)
    assert set(terms) == {"expected_log_likelihood", "kl_to_prior", "elbo", "expected_log_prior", "entropy",
                          "expected_log_joint"}
    assert all(value.shape == (50,) for value in terms.values())
    torch.testing.assert_close(terms["expected_log_likelihood"] + terms["expected_log_prior"] + terms["entropy"],
                               terms["elbo"], rtol=0, atol=1e-5)
    torch.testing.assert_close(terms["expected_log_likelihood"] - terms["kl_to_prior"], terms["elbo"], rtol=0,
                               atol=1e-5)
    torch.testing.assert_close(terms["expected_log_joint"] + terms["entropy"], terms["elbo"], rtol=0, atol=1e-5)
    m, s = q.base_dist.loc, q.base_dist.scale                  # the chapter's closed forms, typed out here
    torch.testing.assert_close(terms["kl_to_prior"], 0.5 * (m**2 + s**2 - 1 - 2 * s.log()).sum(-1), rtol=0, atol=1e-5)
    torch.testing.assert_close(terms["entropy"], 0.5 * (math.log(2 * math.pi * math.e) + 2 * s.log()).sum(-1),
                               rtol=0, atol=1e-5)
    z = q.sample((20000,))
    log_prior = model.prior.log_prob(z)
    stderr = log_prior.std(0) / math.sqrt(20000)
    assert torch.all((log_prior.mean(0) - terms["expected_log_prior"]).abs() < 5 * stderr + 1e-4)
    torch.manual_seed(1)
    elbo = model.elbo(x, q, n_samples=4)
    torch.manual_seed(1)
    torch.testing.assert_close(elbo, model.elbo_terms(x, q, n_samples=4)["elbo"])   # elbo is the "elbo" key


def test_elbo_of_one_q_for_all_rows_and_its_gradient(digits):
    """A q with batch shape () serves every row; the ELBO is differentiable in q's parameters (reparameterised)."""
    x = digits[0][:5]
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(8,))
    loc = torch.zeros(2, requires_grad=True)
    q = Independent(Normal(loc, torch.ones(2)), 1)
    terms = model.elbo_terms(x, q, n_samples=3)
    assert all(value.shape == (5,) for value in terms.values())
    torch.testing.assert_close(terms["kl_to_prior"], torch.zeros(5))            # q is the prior
    torch.testing.assert_close(terms["entropy"], model.prior.entropy().expand(5))
    grad, = torch.autograd.grad(terms["elbo"].sum(), loc)
    assert grad.shape == (2,) and torch.all(torch.isfinite(grad)) and grad.abs().sum() > 0


def test_reconstruction_is_an_unbiased_monte_carlo_average(digits):
    x = digits[0][:20]
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(16,))
    q = model.encoder(x)
    z = q.sample((20000,))
    log_lik = model.decoder(z).log_prob(x)
    with torch.no_grad():
        reconstruction = model.elbo_terms(x, q, n_samples=20000)["expected_log_likelihood"]
    stderr = log_lik.std(0) / math.sqrt(20000)
    assert torch.all((reconstruction - log_lik.mean(0)).abs() < 8 * stderr)   # two independent estimates


def test_log_joint_is_prior_plus_decoder_with_sample_dimensions(digits):
    x = digits[0][:7]
    torch.manual_seed(0)
    model = VAE(64, 3, hidden=(8, 8))
    for shape in [(7, 3), (5, 7, 3), (2, 4, 7, 3)]:
        z = torch.randn(shape)
        log_joint = model.log_joint(x, z)
        assert log_joint.shape == shape[:-1]
        expected = model.prior.log_prob(z) + Independent(Bernoulli(logits=model.decoder_net(z)), 1).log_prob(x)
        torch.testing.assert_close(log_joint, expected)


def test_encoder_and_decoder_distributions():
    torch.manual_seed(0)
    model = VAE(6, 3, hidden=())
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    q = model.encoder(x)
    assert q.batch_shape == (4,) and q.event_shape == (3,)
    assert torch.all(q.base_dist.scale >= 1e-4) and MIN_STD == 1e-4
    model.encoder_net[-1].bias.data[3:] = -200.0               # softplus(-200) underflows to 0: the floor takes over
    scale = model.encoder(x).base_dist.scale
    assert torch.all(scale == MIN_STD) and torch.all(torch.isfinite(_encoder_elbo(model, x)))
    p = model.decoder(torch.randn(2, 4, 3))
    assert p.batch_shape == (2, 4) and p.event_shape == (6,)
    assert model.prior.event_shape == (3,) and model.prior.mean.dtype == torch.float32
    means = model.sample_means(5)
    assert means.shape == (5, 6) and torch.all((means > 0) & (means < 1))   # Bernoulli means, not 0/1 draws
    draws, z = model.sample(5)
    assert draws.shape == (5, 6) and z.shape == (5, 3) and torch.all((draws == 0) | (draws == 1))
    torch.manual_seed(3)
    draws, z = model.sample(4000)
    torch.testing.assert_close(draws.mean(0), model.decoder(z).mean.mean(0), rtol=0, atol=0.05)   # x ~ p(x | z)


def test_cvae_needs_labels_and_broadcasts_them_over_sample_dimensions(digits):
    x, y = digits[0][:6], digits[1][:6]
    torch.manual_seed(0)
    model = CVAE(64, 2, n_classes=10, hidden=(16,))
    assert model.n_classes == 10
    with pytest.raises(ValueError, match="y is missing"):
        model.encoder(x)
    with pytest.raises(ValueError, match="y is missing"):
        model.elbo(x, model.prior)
    with pytest.raises(ValueError, match="y_train is missing"):
        train(model, x, n_epochs=1)
    z = torch.randn(3, 6, 2)
    logits = model.decoder(z, y=y).base_dist.logits
    assert logits.shape == (3, 6, 64)
    for s in range(3):
        torch.testing.assert_close(logits[s], model.decoder(z[s], y=y).base_dist.logits)
    other = model.decoder(z, y=(y + 1) % 10).base_dist.logits
    assert not torch.allclose(logits, other)   # the label matters
    assert model.sample_means(10, y=torch.arange(10)).shape == (10, 64)
    draws, z = model.sample(10, y=torch.arange(10))
    assert draws.shape == (10, 64) and z.shape == (10, 2)
    assert _encoder_elbo(model, x, n_samples=3, y=y).shape == (6,)
    assert iwae_bound(model, x, model.encoder(x, y=y), n_samples=5, y=y).shape == (6,)
    with pytest.raises(TypeError, match="y must be a LongTensor"):
        model.encoder(x, y=y.float())
    with pytest.raises(ValueError, match="labels in 0..9"):
        model.encoder(x, y=y + 10)


def test_training_improves_the_elbo_beats_independent_pixels_and_repeats(digits, trained):
    x_train, _, x_test, _ = digits
    (model, fit), (_, repeat) = trained
    assert isinstance(fit, Fit) and fit.model is model and fit.q is None and fit.converged is None
    history, repeat = fit.history, repeat.history
    assert set(history) == {"train_elbo", "test_elbo", "seconds"}
    assert len(history["train_elbo"]) == len(history["test_elbo"]) == len(history["seconds"]) == 12
    assert all(isinstance(v, float) for v in history["train_elbo"] + history["test_elbo"])
    assert history["train_elbo"][-1] > history["train_elbo"][0] + 5
    baseline = independent_pixels_log_marginal(x_train, x_test).mean().item()
    assert history["test_elbo"][-1] > baseline + 0.5
    assert history["train_elbo"] == repeat["train_elbo"] and history["test_elbo"] == repeat["test_elbo"]


def test_train_progress_bar_and_conditional_training(digits, capsys):
    pytest.importorskip("tqdm")
    x_train, y_train, x_test, y_test = digits
    torch.manual_seed(0)
    model = CVAE(64, 2, hidden=(16,))
    history = train(model, x_train[:200], n_epochs=2, y_train=y_train[:200], x_test=x_test[:50],
                    y_test=y_test[:50], beta=0.5, progress=True).history
    assert len(history["test_elbo"]) == 2 and all(math.isfinite(v) for v in history["test_elbo"])
    assert "epochs" in capsys.readouterr().err


def test_importance_sampling_bounds_the_elbo_and_k1_is_the_elbo(trained, digits):
    model = trained[0][0]
    x = digits[2][:100]
    torch.manual_seed(0)
    with torch.no_grad():
        q = model.encoder(x)
        elbo = model.elbo(x, q, n_samples=200).mean().item()
        log_px = iwae_bound(model, x, q, n_samples=1000)
        one = torch.stack([iwae_bound(model, x, q, n_samples=1) for _ in range(50)])   # 50 one-sample ELBOs
    assert log_px.shape == (100,)
    assert log_px.mean().item() > elbo + 0.02
    stderr = one.mean(1).std().item() / math.sqrt(50)
    assert abs(one.mean().item() - elbo) < 4 * stderr + 0.01


def test_chunk_size_does_not_change_the_estimate(trained, digits):
    model = trained[0][0]
    x = digits[2][:60]
    torch.manual_seed(0)
    with torch.no_grad():
        q = model.encoder(x)
        big = iwae_bound(model, x, q, n_samples=3000, chunk=1500)   # two chunks
        small = iwae_bound(model, x, q, n_samples=3000, chunk=137)  # 22 chunks, the last one of 123 samples
    assert (big - small).abs().mean() < 0.1     # per image: Monte Carlo error of K = 3000 samples
    assert abs(big.mean() - small.mean()) < 0.02


def test_linear_vae_reaches_the_exact_and_maximum_likelihoods(linear):
    model, x = linear
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = _encoder_elbo(model, x, n_samples=200).mean().item()
        is_estimate = iwae_bound(model, x, model.encoder(x), n_samples=1000, chunk=300).mean().item()
    exact = model.as_lvm().log_marginal(x).mean().item()
    best = ppca_maximum_likelihood(x.double(), 2).log_marginal(x.double()).mean().item()
    assert 0 <= exact - elbo < 0.05
    assert 0 <= best - exact + 1e-5 < 0.05
    assert abs(is_estimate - exact) < 0.01 and is_estimate > elbo


def test_linear_vae_interface(linear):
    model, x = linear
    assert isinstance(model.as_lvm(), LinearGaussianLVM) and model.as_lvm().W.shape == (5, 2)
    z = torch.randn(3, 10, 2)
    torch.testing.assert_close(model.log_joint(x[:10], z), model.as_lvm().log_joint(x[:10], z))
    draws, z = model.sample(4)
    assert draws.shape == (4, 5) and z.shape == (4, 2)
    torch.manual_seed(5)
    means = model.sample_means(3)
    torch.manual_seed(5)
    torch.testing.assert_close(means, model.decoder(model.prior.sample((3,))).mean.detach())   # E[x | z], z ~ p(z)
    loss = model.loss(x[:10], beta=2.0)
    assert loss.dim() == 0 and loss.requires_grad
    with pytest.raises(ValueError, match="not conditional"):
        model.encoder(x, y=torch.zeros(500, dtype=torch.int64))


def test_refining_the_posterior_closes_part_of_the_amortisation_gap(trained, digits):
    model = trained[0][0]
    x = digits[2][:40]
    before = [(p.detach().clone(), None if p.grad is None else p.grad.clone()) for p in model.parameters()]
    torch.manual_seed(0)
    fit = refine_posterior(model, x, n_steps=100, lr=0.05, n_samples=8)
    assert isinstance(fit, Fit) and set(fit.history) == {"elbo"} and fit.model is None
    q, history = fit.q, fit.history["elbo"]
    assert len(history) == 100 and q.batch_shape == (40,) and q.event_shape == (2,)
    for (value, grad), p in zip(before, model.parameters()):   # the decoder (and encoder) stay frozen
        assert torch.equal(value, p) and (grad is None and p.grad is None or torch.equal(grad, p.grad))
    with torch.no_grad():
        encoder_elbo = _encoder_elbo(model, x, n_samples=500).mean().item()
        refined_elbo = model.elbo(x, q, n_samples=500).mean().item()
        log_px = iwae_bound(model, x, model.encoder(x), n_samples=2000).mean().item()
    assert refined_elbo > encoder_elbo - 0.02
    assert max(encoder_elbo, refined_elbo) < log_px


@pytest.mark.parametrize("make, match", [
    (lambda: VAE(64, 0), "z_dim"),
    (lambda: VAE(0, 2), "x_dim"),
    (lambda: VAE(64, 2, n_classes=1), "n_classes"),
    (lambda: VAE(64, 2, hidden=(16, 0)), "hidden"),
    (lambda: CVAE(64, 2, n_classes=0), "n_classes"),
    (lambda: LinearVAE(5, 0), "z_dim"),
])
def test_bad_model_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_call_arguments(digits):
    x, y = digits[0][:10], digits[1][:10]
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(8,))
    with pytest.raises(TypeError, match="hidden"):
        VAE(64, 2, hidden=16)
    q = model.encoder(x)
    with pytest.raises(ValueError, match="x must have shape"):
        model.elbo(x[:, :60], q)
    with pytest.raises(ValueError, match="x_train must have shape"):
        train(model, x[:, :60], n_epochs=1)
    with pytest.raises(ValueError, match="n_epochs"):
        train(model, x, n_epochs=0)
    with pytest.raises(TypeError, match="n_epochs"):
        train(model, x)                                     # n_epochs has no default
    with pytest.raises(TypeError, match="positional"):
        train(model, x, 1)                                  # keyword-only past the data
    with pytest.raises(ValueError, match="batch_size"):
        train(model, x, n_epochs=1, batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        train(model, x, n_epochs=1, lr=0.0)
    with pytest.raises(ValueError, match="beta"):
        model.loss(x, beta=-1.0)
    with pytest.raises(ValueError, match="y was given"):
        model.elbo(x, q, y=y)
    with pytest.raises(ValueError, match="y_train was given"):
        train(model, x, n_epochs=1, y_train=y)
    with pytest.raises(ValueError, match="n_samples"):
        model.elbo(x, q, n_samples=0)
    with pytest.raises(TypeError, match="q must be a distribution over z"):
        model.elbo(x, None)
    with pytest.raises(TypeError, match=r"q must be .* batch shape \(10,\)"):
        model.elbo(x, model.encoder(digits[0][:3]))
    with pytest.raises(TypeError, match="q must have rsample"):
        model.elbo(x, Independent(Bernoulli(probs=torch.full((10, 2), 0.5)), 1))
    with pytest.raises(TypeError, match="no closed-form KL"):
        model.elbo(x, MultivariateNormal(torch.zeros(2), torch.eye(2)))
    with pytest.raises(ValueError, match="z must have shape"):
        model.decoder(torch.randn(10, 3))
    with pytest.raises(TypeError, match="model must be"):
        gap_estimates(LinearGaussianLVM.random(5, 2, 0.5), x)
    with pytest.raises(TypeError, match="model must be"):
        refine_posterior(LinearGaussianLVM.random(5, 2, 0.5), x)


def test_pixel_mean_loss_is_a_beta_d_vae_under_adam(digits):
    """-(1/D) log p(x|z) + KL = (1/D)(-log p(x|z) + D KL): Adam's steps ignore the factor 1/D (up to its eps)."""
    x = digits[0][:256]
    runs = {}
    for name, kwargs in {"mean": {"pixel_reduction": "mean"}, "beta": {"beta": 64.0}, "sum": {}}.items():
        torch.manual_seed(0)
        model = VAE(64, 3, hidden=(16,))
        history = train(model, x, n_epochs=3, seed=0, **kwargs).history
        runs[name] = (torch.cat([p.detach().flatten() for p in model.parameters()]), history["train_elbo"])
    assert (runs["mean"][0] - runs["beta"][0]).abs().max() < 1e-3
    assert max(abs(a - b) for a, b in zip(runs["mean"][1], runs["beta"][1])) < 1e-3
    assert (runs["mean"][0] - runs["sum"][0]).abs().max() > 1e-2        # and it is not the ELBO's training


def test_train_calls_the_callback_after_each_epoch(digits):
    torch.manual_seed(0)
    model = VAE(64, 2, hidden=(8,))
    seen = []
    history = train(model, digits[0][:100], n_epochs=3, callback=lambda epoch, vae: seen.append((epoch, vae))).history
    assert [epoch for epoch, _ in seen] == [1, 2, 3] and all(vae is model for _, vae in seen)
    assert len(history["train_elbo"]) == 3


def test_gap_estimates_on_a_linear_vae_with_known_gaps(linear):
    """On a rotated linear VAE both targets are exact: log p(x), and ELBO(q*) = log p(x) - (mean-field-gap).

    The rotation leaves the encoder's variances those of the unrotated posterior: an amortisation gap to close."""
    model, x = linear
    rotated = copy.deepcopy(model)
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    R = torch.tensor([[c, -s], [s, c]])
    rotated.W.data = rotated.W.data @ R                 # the same p(x), a posterior rotated by R: mean R^T mu
    rotated.A.data, rotated.g.data = R.T @ rotated.A.data, R.T @ rotated.g.data   # the encoder's mean follows
    lvm = rotated.as_lvm()
    x = x[:20].double()
    precision = torch.linalg.inv(LinearGaussianLVM(lvm.W.double(), lvm.b.double(), lvm.sigma).posterior(x[:1])
                                 .covariance_matrix[0])
    gap = 0.5 * (precision.diagonal().log().sum() - torch.logdet(precision)).item()   # KL(q* || posterior)
    log_px = lvm.log_marginal(x.float()).mean().item()
    torch.manual_seed(0)
    g = gap_estimates(rotated, x.float(), n_steps_grid=(0, 30, 300), n_samples_grid=(1, 10, 100), n_repeats=4,
                      n_eval=500)
    assert g["n_steps_grid"] == [0, 30, 300] and g["n_samples_grid"] == [1, 10, 100]
    assert g["elbo"].shape == (3,) and g["elbo_diff_se"].shape == (3, 3) and g["log_px_step"].shape == (2,)
    assert all(torch.is_tensor(v) and v.dtype == torch.float64 and v.device.type == "cpu"
               for k, v in g.items() if not k.endswith("_grid"))
    assert gap > 0.05
    assert torch.all(torch.diff(g["elbo"]) > 0) and torch.all(torch.diff(g["log_px"]) > 0)
    assert g["elbo"][-1] < log_px - gap + 3 * g["elbo_se"][-1]              # ELBO(q_T) <= ELBO(q*) ...
    assert g["elbo"][-1] > log_px - gap - 0.01                              # ... and close to it after 300 steps
    assert g["elbo"][0] < log_px - gap - 0.05                                # the encoder is far from q*: amortisation
    assert torch.all(g["log_px"] < log_px + 3 * g["log_px_se"])              # L_K <= log p(x) ...
    assert g["log_px"][-1] > log_px - 0.02 and g["log_px"][0] < log_px - 0.1 # ... rising towards it
    # the paired step L_{K_{a+1}} - L_{K_a}: the same mean as the unpaired difference, a much smaller standard error
    torch.testing.assert_close(g["log_px_step"], torch.diff(g["log_px"]), rtol=0, atol=1e-9)
    assert torch.all(g["log_px_step_se"] < torch.hypot(g["log_px_se"][:-1], g["log_px_se"][1:]))
    assert torch.all(g["log_px_step"] > 0)


def test_digit_style_against_weighted_moments():
    bar = torch.zeros(8, 8)
    bar[:, 3] = 1.0                                         # a vertical stroke in column 3
    slash = torch.zeros(8, 8)
    slash[torch.arange(8), 7 - torch.arange(8)] = 1.0       # "/": the column falls as the row rises
    style = digit_style(torch.stack([bar, slash]).reshape(2, 64))
    torch.testing.assert_close(style[0], torch.tensor([3.0, 0.0, 0.0]))
    torch.testing.assert_close(style[1], torch.tensor([3.5, math.sqrt(5.25), 1.0]))
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, 64))
    rows, cols = np.divmod(np.arange(64), 8)
    for image, (centre, width, slant) in zip(images, digit_style(torch.tensor(images)).numpy()):
        cov = np.cov(np.stack([rows, cols]), aweights=image, bias=True)       # numpy's weighted covariance
        assert abs(centre - np.average(cols, weights=image)) < 1e-10
        assert abs(width - math.sqrt(cov[1, 1])) < 1e-10 and abs(slant + cov[0, 1] / cov[0, 0]) < 1e-10


def test_independent_pixels_log_marginal_is_the_smoothed_frequency_model(digits):
    """p_d = (count_d + 1) / (N + 2), against exercise 6.4's reference (given p) and a hand count."""
    x_train, _, x_test, _ = digits
    log_px = independent_pixels_log_marginal(x_train, x_test)
    assert log_px.shape == (x_test.shape[0],) and torch.all(torch.isfinite(log_px)) and torch.all(log_px < 0)
    p = ((x_train.sum(0) + 1) / (x_train.shape[0] + 2)).double().numpy()
    np.testing.assert_allclose(-log_px.double().numpy(), exercise("independent-pixels-nll").reference(p, x_test.double().numpy()),
                               rtol=1e-5)
    assert 25 < -log_px.mean().item() < 64 * math.log(2)       # better than uniform pixels, worse than the VAE
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])   # counts 3 and 1 of N = 3: p = (4/5, 2/5)
    expected = torch.tensor([math.log(4 / 5 * 3 / 5), math.log(4 / 5 * 2 / 5)], dtype=torch.float64)
    torch.testing.assert_close(independent_pixels_log_marginal(x.double(), x[1:].double()), expected)
