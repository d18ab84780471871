"""Repeatability: the same seed (vitools.device.seed_everything) gives bit-identical numbers twice, on CPU.

Each random part of vitools runs twice from the same seed, in this process, and every number it returns is
compared for exact equality (``torch.equal``, ``==``), not closeness. A second seed must give different numbers,
so a part that ignored its randomness (or its seed) would be caught too. One test also runs the whole
workload in a fresh interpreter (another PYTHONHASHSEED) and compares a digest of every number with this
process's: the way two runs of a notebook see it.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal

from vitools import bounds, data, divergences, estimators, vae
from vitools.bernoulli_mixture import BernoulliMixture
from vitools.device import seed_everything
from vitools.examples import two_mode_target
from vitools.gaussian_mixture import GaussianMixtureEM, fit_by_gradient_ascent
from vitools.lvm import LinearGaussianLVM
from vitools.variational_em import variational_em

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-identical results need the same thread count in both runs; one thread is also fastest here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model():
    return LinearGaussianLVM.random(x_dim=4, z_dim=2, sigma=0.5, seed=3)


def sampling():
    model = _model()
    x, z = model.sample(20)
    post = model.posterior(x)
    q = Independent(Normal(torch.zeros(20, 2, dtype=torch.float64), torch.ones(20, 2, dtype=torch.float64)), 1)
    return {"x": x, "z": z, "posterior draws": post.sample((3,)),
            "naive monte carlo": bounds.iwae_bound(model, x, model.prior, n_samples=64),
            "importance sampling": bounds.iwae_bound(model, x, post, n_samples=16),
            "iwae_bound, chunked": bounds.iwae_bound(model, x, q, n_samples=32, chunk=5),
            "log_importance_weights": bounds.log_importance_weights(model, x, q, n_samples=8),
            "elbo_monte_carlo": bounds.elbo_monte_carlo(model, x, q, n_samples=8),
            "elbo_closed_form_kl": bounds.elbo_closed_form_kl(model, x, q, n_samples=8),
            "numpy": np.random.rand(3), "torch": torch.rand(3)}


def gradient_estimators():
    def normal():
        return Normal(torch.tensor([0.3, -1.0], requires_grad=True), torch.tensor([1.2, 0.4], requires_grad=True))

    def f(z):
        return ((z - 1.0) ** 2).sum(-1)

    p = torch.tensor([0.2, 0.7], requires_grad=True)
    return {"score": estimators.score_function_grad(f, normal(), n_samples=100),
            "score, leave-one-out": estimators.score_function_grad(f, normal(), n_samples=100, baseline="leave-one-out"),
            "pathwise": estimators.reparam_grad(f, normal(), n_samples=100),
            "optimal baseline": estimators.optimal_baseline(f, normal(), n_samples=100),
            "bernoulli": estimators.score_function_grad(lambda z: z.sum(-1), Bernoulli(probs=p), n_samples=100)}


def expectation_maximisation():
    x, _ = _model().sample(60)
    init = dict(weights_init=torch.full((3,), 1 / 3, dtype=torch.float64), means_init=x[torch.randperm(60)[:3]],
                covariances_init=torch.eye(4, dtype=torch.float64).expand(3, 4, 4).clone())
    gmm = GaussianMixtureEM(3).fit(x, **init, max_iter=20)
    ascent = fit_by_gradient_ascent(x, **init, n_steps=20)
    variational = variational_em(x, z_dim=2, family="diagonal", max_iter=5, seed=int(torch.randint(100, ())))
    digits = data.load_digits("train")[0][:200]
    mixture = BernoulliMixture(4).fit(digits, max_iter=10, seed=int(torch.randint(100, ())))
    return {"gmm": [gmm.weights_, gmm.means_, gmm.covariances_, gmm.log_likelihood_],
            "gradient ascent": [ascent.model.weights, ascent.model.means, ascent.model.covariances, ascent.history],
            "variational em": [variational.history, variational.model.W],
            "bernoulli mixture": [mixture.weights_, mixture.means_, mixture.log_likelihood_,
                                  *mixture.sample(5, seed=int(torch.randint(100, ())))],
            "fit_gaussian": divergences.fit_gaussian(two_mode_target(4.0), "reverse",
                                                     init=(float(torch.rand(())), 1.0), n_steps=30).q.mean}


def vae_training():
    from vitools.bounds import iwae_bound
    x = data.load_digits("train")[0][:128]
    model = vae.VAE(64, 2, hidden=(16,))                     # initialised from the global RNG
    history = vae.train(model, x, n_epochs=3, batch_size=32, seed=int(torch.randint(100, ())), x_test=x[:16]).history
    history.pop("seconds")                                   # wall-clock time: the one thing allowed to differ
    linear = vae.LinearVAE(4, 2)
    linear_history = vae.train(linear, _model().sample(64)[0].float(), n_epochs=3, batch_size=16, seed=1).history
    linear_history.pop("seconds")
    refined = vae.refine_posterior(model, x[:8], n_steps=10)
    gaps = vae.gap_estimates(model, x[:4], n_steps_grid=(0, 5), n_samples_grid=(1, 8), n_eval=8, n_repeats=2)
    with torch.no_grad():
        q = model.encoder(x[:8])
        return {"history": history, "parameters": [p.detach() for p in model.parameters()],
                "linear": [linear_history, [p.detach() for p in linear.parameters()]],
                "iwae_bound": iwae_bound(model, x[:8], q, n_samples=300, chunk=128),
                "elbo": model.elbo(x[:8], q, n_samples=4), "samples": list(model.sample(3)),
                "refined": [refined.q.mean, refined.q.stddev, refined.history["elbo"]], "gaps": gaps}


PARTS = {"sampling": sampling, "gradient estimators": gradient_estimators, "EM": expectation_maximisation,
         "VAE training": vae_training}


def _flatten(value, prefix=""):
    """(name, number-or-array) leaves of nested dicts / lists / tuples / tensors."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}/{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    elif torch.is_tensor(value):
        yield prefix, value.detach().cpu()
    elif isinstance(value, np.ndarray):
        yield prefix, torch.from_numpy(value.copy())
    else:
        yield prefix, torch.tensor(value)


def _run(part, seed):
    seed_everything(seed)
    return list(_flatten(PARTS[part]()))


@pytest.mark.parametrize("part", PARTS)
def test_same_seed_gives_bit_identical_numbers(part):
    first, second = _run(part, 7), _run(part, 7)
    assert [name for name, _ in first] == [name for name, _ in second]
    different = [name for (name, a), (_, b) in zip(first, second)
                 if a.shape != b.shape or a.dtype != b.dtype or not torch.equal(a, b)]
    assert not different, f"{part}: same seed, different numbers in {different}"
    other = _run(part, 8)
    changed = [name for (name, a), (_, b) in zip(first, other) if a.shape != b.shape or not torch.equal(a, b)]
    assert changed, f"{part}: seed 8 gave the same numbers as seed 7; the part ignores its seed"


def _digest(seed: int) -> str:
    """A digest of every number of every part, from seed ``seed``."""
    h = hashlib.sha256()
    for part in PARTS:
        for name, value in _run(part, seed):
            h.update(name.encode())
            h.update(value.contiguous().numpy().tobytes())
    return h.hexdigest()


def test_a_fresh_interpreter_gives_the_same_digest():
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); torch.set_num_threads(1); "
            "import test_repeatability as t; print(t._digest(7))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONDONTWRITEBYTECODE": "1"}   # another str hash order
    result = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == _digest(7)
