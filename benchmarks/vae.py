"""Train the book's VAE on the binarized digits and compare its test log-likelihood with two baselines.

    python benchmarks/vae.py
    python benchmarks/vae.py --epochs 30 --k 1000 --threads 1

VAE(64, 8, (256, 256)) trained by vitools.vae.train on the 1,437 binarized training digits (batch 64,
lr 1e-3, seed 0). Prints seconds per epoch, the final test ELBO, the importance-sampled test
log-likelihood L_K (K = 5000 by default) as a negative log-likelihood in nats per image, the gap
L_K - ELBO, and two baselines: uniform pixels (64 log 2) and independent Bernoulli pixels fitted on
the training images with +1/+2 smoothing, p_d = (count_d + 1) / (N + 2).
"""

import argparse
import math
import time

import torch

from vitools.data import load_digits
from vitools.device import get_device
from vitools.vae import VAE, log_likelihood, train


def independent_bernoulli_nll(x_train, x_test) -> float:
    """Mean -log p(x) on x_test of independent pixels p_d = (count_d + 1) / (N + 2) fitted on x_train."""
    p = (x_train.sum(0) + 1) / (x_train.shape[0] + 2)
    return -torch.distributions.Bernoulli(probs=p).log_prob(x_test).sum(1).mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--k", type=int, default=5000, help="importance samples for log p(x)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = get_device()
    x_train, _ = load_digits("train")
    x_test, _ = load_digits("test")
    torch.manual_seed(0)
    model = VAE(64, 8, (256, 256)).to(device)
    print(f"device {device}, {torch.get_num_threads()} CPU threads, {args.epochs} epochs, K = {args.k}")

    history = train(model, x_train, args.epochs, batch_size=64, lr=1e-3, seed=0, x_test=x_test)
    seconds = history["seconds"]
    print(f"seconds per epoch: mean {sum(seconds) / len(seconds):.3f}, total {sum(seconds):.1f}")

    torch.manual_seed(1)
    with torch.no_grad():
        elbo = model.elbo(x_test, n_samples=100).mean().item()
    start = time.perf_counter()
    log_px = log_likelihood(model, x_test, k=args.k).mean().item()
    is_seconds = time.perf_counter() - start

    rows = [
        ("final train ELBO (last epoch)", history["train_elbo"][-1]),
        ("final test ELBO (last epoch, S = 1)", history["test_elbo"][-1]),
        ("test ELBO (S = 100)", elbo),
        (f"test L_{args.k} ({is_seconds:.1f} s for {x_test.shape[0]} images)", log_px),
        (f"gap L_{args.k} - ELBO", log_px - elbo),
    ]
    print("nats per image:")
    for label, value in rows:
        print(f"  {label:<40} {value:8.2f}")
    print("test NLL, nats per image (lower is better):")
    for label, value in [("uniform pixels (64 log 2)", 64 * math.log(2)),
                         ("independent Bernoulli pixels", independent_bernoulli_nll(x_train, x_test)),
                         (f"VAE, -L_{args.k}", -log_px)]:
        print(f"  {label:<40} {value:8.2f}")

if __name__ == "__main__":
    main()
