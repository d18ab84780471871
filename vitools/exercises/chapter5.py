"""Exercises of chapter 5: amortised inference and the variational autoencoder."""

import numpy as np

from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- 5.1


def kl_to_standard_normal(m, s):
    # KL(N(m, s^2) || N(0, 1)) = log(1/s) + (s^2 + m^2)/2 - 1/2, one latent dimension
    return 0.5 * (s**2 + m**2 - 1 - np.log(s**2))


register(Exercise(
    "5.1", "The VAE's KL term", kl_to_standard_normal,
    probes=[(0.0, 1.0), (1.5, 0.5), (-0.3, 2.0), (2.0, 0.1)],
    mistakes=[
        Mistake(lambda m, s: 0.5 * (s**2 + m**2 - 1 - np.log(s)), "The log term is log s^2 = 2 log s inside the "
                                                                 "bracket: you wrote log s."),
        Mistake(lambda m, s: 0.5 * (s + m**2 - 1 - np.log(s)), "You treated s as a variance. With the standard "
                                                              "deviation s, the variance s^2 appears."),
        Mistake(lambda m, s: 0.5 * (s**2 + m**2 - np.log(s**2)), "You dropped the -1: check that your KL is 0 "
                                                                "when m = 0 and s = 1."),
        Mistake(lambda m, s: 0.5 * (s**2 + m**2 - 1 + np.log(s**2)), "Wrong sign on the log: a narrow q (small s) "
                                                                    "must cost more, not less."),
    ],
    checks=[all_finite],
    hints=["Use chapter 2's formula with m_p = 0 and s_p = 1."],
    discussion=("From KL(q || p) = log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2)/(2 s_p^2) - 1/2 with m_p = 0, s_p = 1: "
                "-log s + (s^2 + m^2)/2 - 1/2 = (s^2 + m^2 - 1 - log s^2)/2, summed over the latent dimensions."),
))

# ---------------------------------------------------------------- 5.2


def batch_loss(log_px_per_pixel, kl_per_dim):
    # sum over pixels and latent dimensions (one ELBO per image), then mean over the batch
    elbo_per_image = log_px_per_pixel.sum(axis=1) - kl_per_dim.sum(axis=1)
    return -elbo_per_image.mean()


_RNG = np.random.default_rng(0)
_BATCH = (np.log(_RNG.uniform(0.05, 0.95, size=(5, 64))), _RNG.uniform(0.0, 2.0, size=(5, 8)))

register(Exercise(
    "5.2", "Sum or mean? The VAE loss of a batch", batch_loss,
    probes=[_BATCH, (_BATCH[0][:3], _BATCH[1][:3])],
    mistakes=[
        Mistake(lambda lp, kl: -(lp.mean(axis=1) - kl.sum(axis=1)).mean(),
                "You averaged over pixels. The likelihood of an image is the product over its 64 pixels, so its "
                "log is a sum; averaging shrinks the reconstruction term 64-fold against the KL."),
        Mistake(lambda lp, kl: -(lp.sum(axis=1) - kl.sum(axis=1)).sum(),
                "You summed over the batch. That is fine for the optimum but makes the loss (and a fixed learning "
                "rate's step) grow with the batch size; the book reports per-image values, a mean over the batch."),
        Mistake(lambda lp, kl: (lp.sum(axis=1) - kl.sum(axis=1)).mean(),
                "Wrong sign: the loss is the negative ELBO, which an optimiser minimises."),
        Mistake(lambda lp, kl: -(lp.sum(axis=1) - kl.mean(axis=1)).mean(),
                "You averaged the KL over latent dimensions; the KL of a factorised q is the sum over them."),
    ],
    checks=[all_finite],
    hints=["First form one ELBO per image, then average the images."],
    discussion=("Each image's ELBO is sum over pixels of log p(x_d | z) minus sum over latent dimensions of KL_j; the "
                "batch loss is minus the mean of these ELBOs. Getting the pixel sum wrong is the classic VAE bug: "
                "with a mean, the KL term dominates and the model learns to ignore z."),
))

# ---------------------------------------------------------------- 5.3


def count_mlp_parameters(sizes):
    # a dense layer from a to b units has a*b weights and b biases
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


register(Exercise(
    "5.3", "How many parameters does amortisation cost?", count_mlp_parameters,
    probes=[([64, 256, 256, 16],), ([2, 3],), ([10, 5, 1],)],
    mistakes=[
        Mistake(lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                "You counted the weights but not the biases: each layer also has one bias per output unit."),
        Mistake(lambda sizes: sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:])),
                "The biases belong to the outputs of a layer (b of them), not its inputs."),
    ],
    checks=[all_finite],
    hints=["Count layer by layer: weights a*b, biases b."],
    discussion=("The default encoder, 64 -> 256 -> 256 -> 16 (a mean and a scale for each of 8 latent dimensions), has "
                "16,640 + 65,792 + 4,112 = 86,544 parameters, whatever the number of data points. Per-data-point "
                "variational parameters would number 16 N: the encoder is cheaper once N exceeds about 5,400, and it "
                "also works for images it has never seen."),
))

# ---------------------------------------------------------------- 5.4


def independent_pixels_nll(p, x):
    # -log prod_d p_d^x_d (1 - p_d)^(1 - x_d), per image, in nats
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=-1)


_P = np.clip(_RNG.uniform(size=64), 0.02, 0.98)
_X = (_RNG.uniform(size=(4, 64)) < 0.4).astype(float)

register(Exercise(
    "5.4", "The independent-pixels baseline", independent_pixels_nll,
    probes=[(_P, _X), (np.full(64, 0.5), _X)],
    mistakes=[
        Mistake(lambda p, x: independent_pixels_nll(p, x) / np.log(2), "Those are bits; the book reports nats "
                                                                      "(natural logarithms)."),
        Mistake(lambda p, x: -(x * np.log(p)).sum(axis=-1), "You left out the pixels that are off: they contribute "
                                                            "log(1 - p_d)."),
        Mistake(lambda p, x: (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=-1),
                "That is the log-likelihood; the negative log-likelihood flips its sign (it is positive)."),
    ],
    checks=[all_finite],
    hints=["Each pixel is an independent coin with its own probability p_d."],
    discussion=("-sum_d [x_d log p_d + (1 - x_d) log(1 - p_d)]. With every p_d = 1/2 it is the uniform baseline, "
                "64 log 2 = 44.4 nats per image; fitted pixel frequencies do much better, and a VAE better still, "
                "because it models how pixels vary together."),
))

# ---------------------------------------------------------------- 5.5


def dz_draw(r, eps):
    # z = m + softplus(r) eps, and d softplus(r)/dr = sigmoid(r)
    return eps / (1 + np.exp(-r))


register(Exercise(
    "5.5", "The reparameterisation gradient through softplus", dz_draw,
    probes=[(0.0, 1.0), (2.0, -0.5), (-3.0, 2.0), (1.0, 0.3)],
    mistakes=[
        Mistake(lambda r, eps: eps * np.log1p(np.exp(r)), "That is z - m itself, softplus(r) eps. Differentiate "
                                                          "softplus: its derivative is the sigmoid."),
        Mistake(lambda r, eps: eps * np.exp(r), "That would be the derivative for s = exp(r) (a log-standard-"
                                                "deviation parameterisation); the encoder uses softplus."),
        Mistake(lambda r, eps: 1 / (1 + np.exp(-r)) + 0 * eps, "You forgot the noise: z depends on r through "
                                                                "softplus(r) times eps."),
    ],
    checks=[all_finite],
    hints=["z = m + softplus(r) eps; apply the chain rule to softplus(r) = log(1 + exp(r))."],
    discussion=("dz/dr = eps * d/dr log(1 + e^r) = eps * e^r / (1 + e^r) = eps * sigmoid(r). Softplus keeps s > 0 "
                "with a gradient that never explodes (it is at most 1), which is why the book uses it for scales."),
))
