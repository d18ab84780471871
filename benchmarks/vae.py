"""The book's VAE on the binarized digits, next to simple baselines, and the linear VAE's gap to log p(x).

    python -m benchmarks.vae

VAE(64, 8, (256, 256)) trained by vitools.vae.train on the 1,437 binarized training digits (batch 64,
lr 1e-3, seed 0, 100 epochs). Reported: seconds per epoch, the test ELBO (S = 100 samples per image) and
the test negative log-likelihood -L_K with K = 5000 importance samples, in nats per image, beside uniform
pixels (64 log 2) and independent Bernoulli pixels fitted on the training images with +1/+2 smoothing,
p_d = (count_d + 1) / (N + 2) (vitools.examples.independent_pixels_log_marginal, as in chapter 6). L_K is
vitools.bounds.iwae_bound with the encoder as proposal. The linear VAE is chapter 6's: 1,000 points from a linear-Gaussian model
(x_dim 5, z_dim 2, sigma 0.5, seed 1; 300 full-batch epochs, lr 5e-2); its ELBO against the exact log p(x) of the model it learned, and the
maximum-likelihood (probabilistic PCA) log p(x) as the ceiling.

Throughput: vitools.vae.train against the straightforward PyTorch loop (:func:`straightforward_loop`: the
same two ``nn.Sequential`` MLPs, Adam with its defaults, softplus scale, closed-form KL,
``binary_cross_entropy_with_logits`` summed over the pixels, batches indexed by a fresh permutation), in one
process, alternating (who goes first alternates too), from the same initialisation; the speed-up of each repeat
is the loop's seconds over train's. Both are also trained for the full number of epochs and evaluated alike,
so that the speed-up is not bought with quality.
"""

import math
import time

import torch
from torch.nn import functional as F

from benchmarks._report import Section, seconds, show, spread
from vitools.bounds import iwae_bound
from vitools.data import load_digits
from vitools.device import get_device, seed_everything
from vitools.examples import independent_pixels_log_marginal
from vitools.lvm import LinearGaussianLVM, ppca_maximum_likelihood
from vitools.vae import VAE, LinearVAE, train


def straightforward_loop(model, x, *, n_epochs, batch_size=64, lr=1e-3, seed=0):
    """The obvious PyTorch training loop for ``model``'s two MLPs: the reference that train is measured against."""
    torch.manual_seed(seed)
    encoder, decoder = model.encoder_net, model.decoder_net
    optimiser = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=lr)
    for _ in range(n_epochs):
        order = torch.randperm(x.shape[0], device=x.device)
        for i in range(0, x.shape[0], batch_size):
            xb = x[order[i:i + batch_size]]
            mean, raw_scale = encoder(xb).chunk(2, dim=-1)
            std = F.softplus(raw_scale) + 1e-4
            z = mean + std * torch.randn_like(std)
            reconstruction = F.binary_cross_entropy_with_logits(decoder(z), xb, reduction="none").sum(-1)
            kl = 0.5 * (mean**2 + std**2 - 1 - 2 * torch.log(std)).sum(-1)
            loss = (reconstruction + kl).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


def _fresh_model(device):
    seed_everything(0)
    return VAE(64, 8, hidden=(256, 256)).to(device)


def _synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def throughput(repeats, n_epochs):
    """Seconds per epoch of train and of the straightforward loop, alternating, and the speed-up per repeat."""
    device = get_device()
    x = load_digits("train")[0].to(device)
    runs = {"vitools": lambda model: train(model, x, n_epochs=n_epochs, seed=0),
            "loop": lambda model: straightforward_loop(model, x, n_epochs=n_epochs, seed=0)}
    for run in runs.values():                    # warm-up
        run(_fresh_model(device))
    per_epoch = {name: [] for name in runs}
    for repeat in range(repeats):
        for name in (("vitools", "loop") if repeat % 2 == 0 else ("loop", "vitools")):
            model = _fresh_model(device)
            per_epoch[name].append(seconds(lambda: (runs[name](model), _synchronise(device))) / n_epochs)
    return {"ms_vitools": spread(1e3 * t for t in per_epoch["vitools"]),
            "ms_loop": spread(1e3 * t for t in per_epoch["loop"]),
            "speedup": spread(a / b for a, b in zip(per_epoch["loop"], per_epoch["vitools"])),
            "threads": torch.get_num_threads(), "device": str(device)}


def evaluate(model, x_test, n_samples):
    """Test ELBO (S = 100) and -L_K, nats per image, and the seconds L_K took."""
    seed_everything(1)
    with torch.no_grad():
        elbo = model.elbo(x_test, model.encoder(x_test), n_samples=100).mean().item()
        start = time.perf_counter()
        log_px = iwae_bound(model, x_test, model.encoder(x_test), n_samples=n_samples).mean().item()
    return {"test_elbo": elbo, "test_nll": -log_px, "evaluation_seconds": time.perf_counter() - start}


def digits_vae(n_epochs, n_samples):
    device = get_device()
    x_train, _ = load_digits("train")
    x_test = load_digits("test")[0].to(device)
    model = _fresh_model(device)
    history = train(model, x_train, n_epochs=n_epochs, batch_size=64, lr=1e-3, seed=0).history
    reference = straightforward_loop(_fresh_model(device), x_train.to(device), n_epochs=n_epochs, seed=0)
    return {"seconds_per_epoch": spread(history["seconds"]), **evaluate(model, x_test, n_samples),
            "loop": evaluate(reference, x_test, n_samples), "n_test": x_test.shape[0],
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
    repeats, epochs_per_repeat = (2, 1) if quick else (12, 3)
    d = digits_vae(n_epochs, n_samples)
    speed = d["throughput"] = throughput(repeats, epochs_per_repeat)
    section = Section(f"VAE(64, 8, (256, 256)) on the binarized digits, {n_epochs} epochs, seed 0 "
                      f"(nats per image; lower NLL is better)", ["model", "test NLL", "test ELBO", "seconds"])
    section.rows += [["uniform pixels (64 log 2)", f"{d['uniform_nll']:.2f}", "", ""],
                     ["independent Bernoulli pixels", f"{d['independent_nll']:.2f}", "", ""],
                     [f"VAE by vitools.vae.train, -L_K with K = {n_samples}", f"{d['test_nll']:.2f}",
                      f"{d['test_elbo']:.2f}",
                      f"{show(d['seconds_per_epoch'], '{:.3f}')} per epoch; {d['evaluation_seconds']:.1f} for L_K"],
                     ["the same VAE by the straightforward PyTorch loop", f"{d['loop']['test_nll']:.2f}",
                      f"{d['loop']['test_elbo']:.2f}", ""],
                     [f"throughput, {repeats} alternating repeats of {epochs_per_repeat} epochs ({speed['device']}, "
                      f"{speed['threads']} torch threads)", "", "",
                      f"train {show(speed['ms_vitools'], '{:.1f}')} ms per epoch, the loop "
                      f"{show(speed['ms_loop'], '{:.1f}')}: speed-up {show(speed['speedup'])} (goal >= 1.5)"]]
    section.notes += [f"{d['n_test']} test images; test ELBO with S = 100 samples per image; "
                      "seconds per epoch: median [min, max] over the epochs",
                      "speed-up: the straightforward loop's seconds over train's, per repeat, median [min, max]"]
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
