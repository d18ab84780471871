"""The book's VAE on the binarized digits, next to simple baselines, and the linear VAE's gap to log p(x).

    python -m benchmarks.vae

VAE(64, 8, (256, 256)) trained by vitools.vae.train on the 1,437 binarized training digits (batch 64,
lr 1e-3, seed 0, 100 epochs). Reported: seconds per epoch, the test ELBO (S = 100 samples per image) and
the test negative log-likelihood -L_K with K = 5000 importance samples, in nats per image, beside uniform
pixels (64 log 2) and independent Bernoulli pixels fitted on the training images with +1/+2 smoothing,
p_d = (count_d + 1) / (N + 2) (vitools.examples.independent_pixels_log_marginal, as in chapter 5). L_K is
vitools.bounds.iwae_bound with the encoder as proposal. The linear VAE is chapter 5's: 1,000 points from a linear-Gaussian model
(x_dim 5, z_dim 2, sigma 0.5, seed 1; 300 full-batch epochs, lr 5e-2); its ELBO against the exact log p(x) of the model it learned, and the
maximum-likelihood (probabilistic PCA) log p(x) as the ceiling.
"""

import math
import time

import torch

from benchmarks._report import Section, show, spread
from vitools.bounds import iwae_bound
from vitools.data import load_digits
from vitools.device import get_device, seed_everything
from vitools.examples import independent_pixels_log_marginal
from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood
from vitools.vae import VAE, LinearVAE, train


def digits_vae(n_epochs, n_samples):
    device = get_device()
    x_train, _ = load_digits("train")
    x_test, _ = load_digits("test")
    seed_everything(0)
    model = VAE(64, 8, hidden=(256, 256)).to(device)
    history = train(model, x_train, n_epochs=n_epochs, batch_size=64, lr=1e-3, seed=0).history
    x_test = x_test.to(device)
    seed_everything(1)
    with torch.no_grad():
        elbo = model.elbo(x_test, model.encoder(x_test), n_samples=100).mean().item()
        start = time.perf_counter()
        log_px = iwae_bound(model, x_test, model.encoder(x_test), n_samples=n_samples).mean().item()
        evaluation_s = time.perf_counter() - start
    return {"seconds_per_epoch": spread(history["seconds"]), "test_elbo": elbo, "test_nll": -log_px,
            "evaluation_seconds": evaluation_s, "n_test": x_test.shape[0],
            "uniform_nll": 64 * math.log(2),
            "independent_nll": -independent_pixels_log_marginal(x_train, x_test.cpu()).mean().item()}


def linear_vae(n_epochs):
    device = get_device()
    truth = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=1, device=device)
    seed_everything(6)
    x, _ = truth.sample(1000)
    model = LinearVAE(x_dim=5, z_dim=2).to(device)
    train(model, x.float(), n_epochs=n_epochs, batch_size=1000, lr=5e-2, seed=0)
    with torch.no_grad():
        elbo = model.elbo(x.float(), model.encoder(x.float()), n_samples=200).mean().item()
        exact = model.as_lvm().log_marginal(x).mean().item()
    best = ppca_maximum_likelihood(x, 2).log_marginal(x).mean().item()
    return {"elbo": elbo, "exact": exact, "maximum_likelihood": best}


def run(quick: bool = False) -> Section:
    n_epochs, n_samples = (3, 100) if quick else (100, 5000)
    d = digits_vae(n_epochs, n_samples)
    section = Section(f"VAE(64, 8, (256, 256)) on the binarized digits, {n_epochs} epochs, seed 0 "
                      f"(nats per image; lower NLL is better)", ["model", "test NLL", "test ELBO", "seconds"])
    section.rows += [["uniform pixels (64 log 2)", f"{d['uniform_nll']:.2f}", "", ""],
                     ["independent Bernoulli pixels", f"{d['independent_nll']:.2f}", "", ""],
                     [f"VAE, -L_K with K = {n_samples}", f"{d['test_nll']:.2f}", f"{d['test_elbo']:.2f}",
                      f"{show(d['seconds_per_epoch'], '{:.3f}')} per epoch; {d['evaluation_seconds']:.1f} for L_K"]]
    section.notes.append(f"{d['n_test']} test images; test ELBO with S = 100 samples per image; "
                         "seconds per epoch: median [min, max] over the epochs")
    section.data = {**d, "epochs": n_epochs, "k": n_samples}   # the keys of the recorded results/latest.json
    return section


def run_linear(quick: bool = False) -> Section:
    n_epochs = 10 if quick else 300
    lin = linear_vae(n_epochs)
    section = Section(f"Linear VAE ({n_epochs} epochs) against the exact log p(x) (nats per point, training data)",
                      ["quantity", "value"])
    section.rows += [["exact log p(x) of the model the linear VAE learned", f"{lin['exact']:.4f}"],
                     ["its ELBO (S = 200)", f"{lin['elbo']:.4f}"],
                     ["gap: log p(x) - ELBO", f"{lin['exact'] - lin['elbo']:.4f}"],
                     ["maximum likelihood (probabilistic PCA) log p(x)", f"{lin['maximum_likelihood']:.4f}"],
                     ["gap: maximum likelihood - the linear VAE's log p(x)", f"{lin['maximum_likelihood'] - lin['exact']:.4f}"]]
    section.notes.append("the first gap is what the amortised, diagonal q costs; the second how far the learned "
                         "model is from the maximum-likelihood one")
    section.data = {**lin, "epochs": n_epochs}
    return section


if __name__ == "__main__":
    print(run().markdown())
    print(run_linear().markdown())
