"""Tighter bounds and a richer posterior: the book's VAE trained on the ELBO, on L_K and with a planar-flow q.

    python -m benchmarks.tighter

Five models on the 1,437 binarized training digits, each by vitools.vae.train (batch 64, lr 1e-3, seed 0,
100 epochs), each initialised after seed_everything(0):

- VAE(64, 8, (256, 256)) on the default objective, the one-sample ELBO with its KL in closed form (as in
  benchmarks/vae.py);
- the same VAE on L_5 and on L_50, objective=IWAE(5) and IWAE(50) (the IWAE gradient, estimator "full");
- the same VAE on L_50 with the doubly reparameterised gradient, IWAE(50, "dreg");
- FlowVAE(64, 8, hidden=(256, 256), n_flows=4), q(z | x) four planar layers on a diagonal Gaussian, on the
  default objective, the one-sample ELBO (its KL estimated at the sample).

Measured on the 360 test images, under torch.no_grad(), as benchmarks/vae.py's :func:`~benchmarks.vae.evaluate`
does (seed 1): the test ELBO with S = 100 samples per image, model.elbo(x, model.encoder(x), n_samples=100), and
-L_K with K = 5000, vitools.bounds.iwae_bound with the encoder as proposal (chunked by its default), in nats per
image; the gap L_5000 - ELBO, which bounds KL(q || p(z | x)) from above up to L_5000's own gap to log p(x); the
median [min, max] over the epochs of the Fit history's seconds per epoch. Active latent units, two criteria:
Burda et al.'s (2016), dimensions i with Var_x(E_q[z_i | x]) > 0.01 over the test images, for every model
(E_q[z | x] is the Gaussian's mean, or for the flow the average of 1,000 draws, seed 2); and dimensions whose
closed-form KL(q(z_i | x) || N(0, 1)), averaged over the test images, exceeds 0.05 nats, for the diagonal
Gaussian models only (n/a for the flow, whose per-dimension marginals have no closed form).
"""

import torch
from torch.distributions import Independent

from benchmarks._report import Section, show, spread
from benchmarks.vae import evaluate
from vitools import aggregate
from vitools.data import load_digits
from vitools.device import get_device, seed_everything
from vitools.flows import FlowVAE
from vitools.objectives import IWAE
from vitools.vae import VAE, train

MODELS = {   # name: (constructor, training objective; None is train's default, the one-sample ELBO)
    "VAE, ELBO": (lambda: VAE(64, 8, hidden=(256, 256)), None),
    "VAE, IWAE K = 5": (lambda: VAE(64, 8, hidden=(256, 256)), IWAE(5)),
    "VAE, IWAE K = 50": (lambda: VAE(64, 8, hidden=(256, 256)), IWAE(50)),
    "VAE, IWAE K = 50, DReG": (lambda: VAE(64, 8, hidden=(256, 256)), IWAE(50, "dreg")),
    "FlowVAE (4 planar layers), ELBO": (lambda: FlowVAE(64, 8, hidden=(256, 256), n_flows=4), None),
}


def active_units(model, x_test, n_samples=1000) -> dict:
    """Latent dimensions in use: Burda et al.'s Var_x(E_q[z_i]) > 0.01, and mean KL(q(z_i | x) || N(0, 1)) > 0.05."""
    seed_everything(2)
    with torch.no_grad():
        q = model.encoder(x_test)
        try:
            posterior_mean = q.mean
        except NotImplementedError:               # the flow's q: E_q[z] by Monte Carlo
            posterior_mean = q.sample((n_samples,)).mean(0)
        burda = int((posterior_mean.var(0) > 0.01).sum())
    if not isinstance(q, Independent):
        return {"burda": burda, "kl": None}
    return {"burda": burda, "kl": aggregate.active_units(model, x_test),
            "kl_per_dim": aggregate.kl_per_dimension(model, x_test).mean(0).tolist()}


def fit_and_evaluate(make, objective, x_train, x_test, n_epochs, n_samples) -> dict:
    seed_everything(0)
    model = make().to(x_test.device)
    history = train(model, x_train, n_epochs=n_epochs, batch_size=64, lr=1e-3, seed=0, objective=objective).history
    result = {"objective": repr(objective) if objective else "default (one-sample ELBO)",
              "seconds_per_epoch": spread(history["seconds"]), **evaluate(model, x_test, n_samples),
              "active_units": active_units(model, x_test)}
    result["gap"] = -result["test_nll"] - result["test_elbo"]
    return result


def run(quick: bool = False) -> Section:
    n_epochs, n_samples = (3, 100) if quick else (100, 5000)
    device = get_device()
    x_train, x_test = load_digits("train")[0], load_digits("test")[0].to(device)
    results = {}
    for name, (make, objective) in MODELS.items():
        print(f"   {name}", flush=True)
        results[name] = fit_and_evaluate(make, objective, x_train, x_test, n_epochs, n_samples)
    section = Section(f"Tighter bounds and a richer posterior: 64-pixel digits, z_dim 8, MLPs (256, 256), "
                      f"{n_epochs} epochs, seed 0 (nats per image)",
                      ["model, training objective", "seconds per epoch", "test ELBO", f"test -L_{n_samples}",
                       f"gap L_{n_samples} - ELBO", "active units, Var_x E_q[z_i] > 0.01",
                       "active units, KL_i > 0.05"])
    for name, r in results.items():
        kl_units = r["active_units"]["kl"]
        section.rows.append([name, show(r["seconds_per_epoch"], "{:.3f}"), f"{r['test_elbo']:.2f}",
                             f"{r['test_nll']:.2f}", f"{r['gap']:.2f}", r["active_units"]["burda"],
                             "n/a" if kl_units is None else kl_units])
    section.notes += [f"{x_test.shape[0]} test images; test ELBO with S = 100 samples per image, -L_K with "
                      f"K = {n_samples} and the encoder as proposal; seconds per epoch: median [min, max] over the "
                      "epochs",
                      "active units out of 8: Burda et al.'s criterion (E_q[z_i | x] by 1,000 draws for the flow), "
                      "and the mean closed-form KL(q(z_i | x) || N(0, 1)) (diagonal Gaussian q only)"]
    section.data = {"models": results, "epochs": n_epochs, "k": n_samples}
    return section


if __name__ == "__main__":
    print(run().markdown())
