"""Exercises of chapter 6: amortised inference and the variational autoencoder."""

import numpy as np

from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- kl-non-standard-prior


def kl_term(m, s, mu=0.0, Sigma_diag=1.0):
    # KL(N(m, diag(s^2)) || N(mu, diag(Sigma_diag))) = sum_i KL(N(m_i, s_i^2) || N(mu_i, Sigma_ii))
    return 0.5 * np.sum(np.log(Sigma_diag / s**2) + (s**2 + (m - mu)**2) / Sigma_diag - 1)


_M, _S = np.array([0.3, -1.2, 2.0]), np.array([0.5, 2.0, 0.1])
_MU, _SIG = np.array([0.5, 0.0, -1.0]), np.array([2.0, 0.5, 3.0])


# graded probes: their own seeded generator (the public probes' draws from _RNG stay as they are)
_GRNG = np.random.default_rng(2024)
_MU_G, _SIG_G = np.array([1.0, -2.0, 0.5]), np.array([0.25, 4.0, 1.0])
_KL_G = (_GRNG.normal(size=4), _GRNG.uniform(0.2, 1.5, 4), _GRNG.normal(size=4), _GRNG.uniform(0.3, 3.0, 4))


def _kl_dims(m, s, mu, v):
    return 0.5 * (np.log(v / s**2) + (s**2 + (m - mu)**2) / v - 1)


register(Exercise(
    "kl-non-standard-prior", "The KL term with a non-standard prior", kl_term,
    chapter=6, kind="Derivation", stars=2, minutes=20,
    probes=[(_M, _S, _MU, _SIG), (_M[:2], _S[:2], np.zeros(2), np.ones(2)), (_S, _M ** 2 + 0.2, _M, _S + 1.0)],
    graded_probes=[_KL_G,                                                                  # L = 4
                   (np.array([-0.4, 1.1]), np.array([0.7, 1.3]), np.zeros(2), np.ones(2)),     # the standard prior
                   # dimension 0 is q = p (KL 0); dimensions 1 (narrower) and 2 (wider) shifted
                   (_MU_G + np.array([0.0, 0.5, -1.0]), np.sqrt(_SIG_G) * np.array([1.0, 0.5, 2.0]), _MU_G, _SIG_G)],
    mistakes=[
        Mistake(lambda m, s, mu, v: 2 * kl_term(m, s, mu, v),
                "That is twice the KL: the 1/2 in front of the bracket is missing (it comes from log sqrt(Sigma_ii) "
                "and from the 1/(2 Sigma_ii) of the Gaussian's exponent)."),
        Mistake(lambda m, s, mu, v: _kl_dims(m, s, mu, v),
                "You returned one KL per latent dimension. Return one number: the KL of a factorised q from a "
                "factorised prior is the sum of the per-dimension KLs."),
        Mistake(lambda m, s, mu, v: np.mean(_kl_dims(m, s, mu, v)),
                "You averaged over the latent dimensions; the KL of a factorised q is the sum over them."),
        Mistake(lambda m, s, mu, v: np.sum(_kl_dims(m, s, mu, v**2)),
                "Sigma_diag holds the prior's variances Sigma_ii, not its standard deviations: you squared them."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(v / s) + (s + (m - mu)**2) / v - 1),
                "You treated s as a variance. With the standard deviation s, the variance s^2 appears."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(v / s) + (s**2 + (m - mu)**2) / v - 1),
                "The log term is log(Sigma_ii / s_i^2) inside the bracket: you wrote log(Sigma_ii / s_i)."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(v / s**2) + s**2 / v + (m - mu)**2 - 1),
                "The squared distance (m_i - mu_i)^2 is also divided by the prior's variance Sigma_ii."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(v / s**2) + (s**2 + (m - mu)**2) / v),
                "You dropped the -1: check that your KL is 0 when m = mu and s^2 = Sigma_diag."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(s**2 / v) + (s**2 + (m - mu)**2) / v - 1),
                "Wrong sign on the log: a q much narrower than the prior (small s) must cost more, not less."),
        Mistake(lambda m, s, mu, v: 0.5 * np.sum(np.log(1 / s**2) + s**2 + m**2 - 1),
                "That is the KL from the standard normal prior: use the prior's mu and Sigma_diag."),
    ],
    checks=[all_finite],
    hints=["Both q and the prior are products over the latent dimensions, so log q(z) - log p(z) is a sum of "
           "terms that each involve one z_i: the KL is the sum of one-dimensional KLs.",
           "For one dimension use chapter 2's Gaussian KL formula (kl-gauss), KL(N(m, s^2) || N(mu, Sigma)) = log(sqrt(Sigma) / s) "
           "+ (s^2 + (m - mu)^2) / (2 Sigma) - 1/2, with m_i, s_i for q and mu_i, Sigma_ii for the prior."],
    discussion=("Because q(z) = prod_i q_i(z_i) and p(z) = prod_i p_i(z_i), log q(z) - log p(z) = sum_i [log q_i(z_i) "
                "- log p_i(z_i)], and the expectation of the i-th term under q only involves q_i: KL(q || p) = sum_i "
                "KL(q_i || p_i). Each term is chapter 2's Gaussian KL with mu = mu_i and Sigma = Sigma_ii, "
                "log(sqrt(Sigma_ii) / s_i) + (s_i^2 + (m_i - mu_i)^2) / (2 Sigma_ii) - 1/2 = "
                "(1/2)[log(Sigma_ii / s_i^2) + (s_i^2 + (m_i - mu_i)^2) / Sigma_ii - 1]. With mu = 0 and Sigma = I it "
                "is the chapter's (1/2) sum_i (m_i^2 + s_i^2 - 1 - log s_i^2)."),
))

# ---------------------------------------------------------------- batch-loss-sum-or-mean


def batch_loss(log_px_per_pixel, kl_per_dim):
    # sum over pixels and latent dimensions (one ELBO per image), then mean over the batch
    elbo_per_image = log_px_per_pixel.sum(axis=1) - kl_per_dim.sum(axis=1)
    return -elbo_per_image.mean()


_RNG = np.random.default_rng(0)
_BATCH = (np.log(_RNG.uniform(0.05, 0.95, size=(5, 64))), _RNG.uniform(0.0, 2.0, size=(5, 8)))
# graded probes: other batch sizes (1, 4, 7) and latent sizes (2, 16)
_BATCHES_G = [(np.log(_GRNG.uniform(0.01, 0.99, size=(b, 64))), _GRNG.uniform(0.0, 3.0, size=(b, n_latent)))
              for b, n_latent in ((4, 2), (1, 8), (7, 16))]

register(Exercise(
    "batch-loss-sum-or-mean", "Sum or mean? The VAE loss of a batch", batch_loss,
    chapter=6, kind="Coding", stars=2, minutes=10,
    probes=[_BATCH, (_BATCH[0][:3], _BATCH[1][:3])],
    graded_probes=_BATCHES_G,
    mistakes=[
        Mistake(lambda lp, kl: -(lp.mean(axis=1) - kl.sum(axis=1)).mean(),
                "You averaged over pixels (as F.binary_cross_entropy's default reduction='mean' does). The likelihood "
                "of an image is the product over its 64 pixels, so its log is a sum; averaging shrinks the "
                "reconstruction term 64-fold against the KL."),
        Mistake(lambda lp, kl: -(lp.sum(axis=1) - kl.sum(axis=1)).sum(),
                "You summed over the batch. That is fine for the optimum but makes the loss (and a fixed learning "
                "rate's step) grow with the batch size; the book reports per-image values, a mean over the batch."),
        Mistake(lambda lp, kl: (lp.sum(axis=1) - kl.sum(axis=1)).mean(),
                "Wrong sign: the loss is the negative ELBO, which an optimiser minimises."),
        Mistake(lambda lp, kl: -(lp.sum(axis=1) - kl.mean(axis=1)).mean(),
                "You averaged the KL over latent dimensions; the KL of a factorised q is the sum over them."),
        Mistake(lambda lp, kl: -(lp.mean() - kl.mean()),
                "You took the mean over all elements of each array (PyTorch's default reduction='mean', as in "
                "F.binary_cross_entropy): that averages over pixels and latent dimensions as well as images. Sum "
                "over pixels and latent dimensions, and average only over the images."),
        Mistake(lambda lp, kl: -(lp.sum(axis=1) + kl.sum(axis=1)).mean(),
                "The KL enters the ELBO with a minus sign, ELBO = E log p(x | z) - KL, so the loss -ELBO adds it: "
                "you subtracted it, which rewards a q far from the prior."),
    ],
    checks=[all_finite],
    hints=["First form one ELBO per image, then average the images.",
           "Per image: ELBO = sum over the 64 pixels of log p(x_d | z) minus the sum over the L dimensions of KL_i. "
           "The arrays have one row per image of the minibatch, so reduce axis 1 first, axis 0 last."],
    discussion=("Each image's ELBO is sum over pixels of log p(x_d | z) minus sum over latent dimensions of KL_i; the "
                "minibatch loss is minus the mean of these ELBOs. Getting the pixel sum wrong is the classic VAE bug: "
                "a mean over pixels is a beta-VAE with beta = D = 64 (times 1/D, which Adam ignores), and the chapter's "
                "model trained that way switches off every latent dimension: it learns to ignore z."),
))

# ---------------------------------------------------------------- amortisation-parameter-count


def count_mlp_parameters(sizes):
    # a dense layer from a to b units has a*b weights and b biases
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


register(Exercise(
    "amortisation-parameter-count", "How many parameters does amortisation cost?", count_mlp_parameters,
    chapter=6, kind="Coding", stars=1, minutes=10,
    probes=[([64, 256, 256, 16],), ([2, 3],), ([10, 5, 1],)],
    graded_probes=[([8, 256, 256, 64],), ([64, 128, 16],), ([5, 2],), ([3, 7, 7, 2, 1],)],   # the decoder; 1 layer
    mistakes=[
        Mistake(lambda sizes: [a * b + b for a, b in zip(sizes[:-1], sizes[1:])],
                "You returned one count per layer: return one number, the total over the layers."),
        Mistake(lambda sizes: [a * b for a, b in zip(sizes[:-1], sizes[1:])],
                "You returned one count per layer, and without biases: return one number, the total over the layers "
                "of a*b weights plus b biases."),
        Mistake(lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                "You counted the weights but not the biases: each layer also has one bias per output unit."),
        Mistake(lambda sizes: sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:])),
                "The biases belong to the outputs of a layer (b of them), not its inputs."),
    ],
    checks=[all_finite],
    hints=["Count layer by layer: a dense layer from a to b units has a*b weights and b biases.",
           "Consecutive widths form the layers: zip(sizes[:-1], sizes[1:]) gives the pairs (a, b); add up one total."],
    discussion=("The default encoder, 64 -> 256 -> 256 -> 16 (a mean and a scale for each of 8 latent dimensions), has "
                "16,640 + 65,792 + 4,112 = 86,544 parameters, whatever the number of data points. Per-data-point "
                "variational parameters (a mean and a standard deviation per latent dimension) number 16 N, so the "
                "encoder uses fewer once N exceeds 86,544 / 16, about 5,400. The chapter's 1,437 training images are "
                "below that break-even: here the encoder's 86,544 parameters outnumber the 16 N = 22,992 of one q per "
                "image. What amortisation buys at this size is not fewer parameters but one forward pass for a new "
                "image, including images the encoder has never seen."),
))

# ---------------------------------------------------------------- independent-pixels-nll


def independent_pixels_nll(p, x):
    # -log prod_d p_d^x_d (1 - p_d)^(1 - x_d), per image, in nats
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=-1)


_P = np.clip(_RNG.uniform(size=64), 0.02, 0.98)
_X = (_RNG.uniform(size=(4, 64)) < 0.4).astype(float)
# graded probes: 3 random images; p near 0 and 1 with an all-off and an all-on image (log1p); a single image
_P_G = _GRNG.uniform(0.01, 0.99, size=64)
_X_G = (_GRNG.uniform(size=(3, 64)) < 0.6).astype(float)
_P_EDGE = np.where(np.arange(64) % 2 == 0, 1e-3, 1 - 1e-3)
_X_EDGE = np.stack([np.zeros(64), np.ones(64)])

register(Exercise(
    "independent-pixels-nll", "The independent-pixels baseline", independent_pixels_nll,
    chapter=6, kind="Coding", stars=1, minutes=10,
    probes=[(_P, _X), (np.full(64, 0.5), _X)],
    graded_probes=[(_P_G, _X_G), (_P_EDGE, _X_EDGE), (np.full(64, 0.25), _X_G[:1])],
    mistakes=[
        Mistake(lambda p, x: independent_pixels_nll(p, x) / np.log(2), "Those are bits; the book reports nats "
                                                                      "(natural logarithms)."),
        Mistake(lambda p, x: -(x * np.log(p)).sum(axis=-1), "You left out the pixels that are off: they contribute "
                                                            "log(1 - p_d)."),
        Mistake(lambda p, x: (x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=-1),
                "That is the log-likelihood; the negative log-likelihood flips its sign (it is positive)."),
    ],
    checks=[all_finite],
    hints=["Each pixel is an independent coin with its own probability p_d.",
           "For x_d in {0, 1}, log p(x_d) = x_d log p_d + (1 - x_d) log(1 - p_d); the log of the product over pixels "
           "is the sum over the last axis."],
    discussion=("-sum_d [x_d log p_d + (1 - x_d) log(1 - p_d)]. With every p_d = 1/2 it is the uniform baseline, "
                "64 log 2 = 44.4 nats per image; fitted pixel frequencies do much better, and a VAE better still, "
                "because it models how pixels vary together."),
))

# ---------------------------------------------------------------- softplus-reparam-gradient


def dz_du(u, eps):
    # z = m + (softplus(u) + 1e-4) eps, and d softplus(u)/du = sigmoid(u)
    return eps / (1 + np.exp(-u))


register(Exercise(
    "softplus-reparam-gradient", "The reparameterisation gradient through softplus", dz_du,
    chapter=6, kind="Derivation", stars=1, minutes=10,
    probes=[(0.0, 1.0), (2.0, -0.5), (-3.0, 2.0), (1.0, 0.3)],
    graded_probes=[(0.5, -1.2), (-8.0, 1.7), (np.array([-2.0, 0.5, 4.0]), np.array([1.5, -1.0, 0.2]))],   # array args
    mistakes=[
        Mistake(lambda u, eps: eps * np.log1p(np.exp(u)), "That is softplus(u) eps, part of z - m itself. "
                                                          "Differentiate softplus: its derivative is the sigmoid."),
        Mistake(lambda u, eps: eps * (1 / (1 + np.exp(-u)) + 1e-4),
                "The constant floor 1e-4 has derivative 0: it shifts s but does not change how s moves with u."),
        Mistake(lambda u, eps: eps * np.exp(u), "That would be the derivative for s = exp(u) (a log-standard-"
                                                "deviation parameterisation); the encoder uses softplus."),
        Mistake(lambda u, eps: 1 / (1 + np.exp(-u)) + 0 * eps, "You forgot the noise: z depends on u through "
                                                                "softplus(u) times eps."),
    ],
    checks=[all_finite],
    hints=["z = m + (softplus(u) + 1e-4) eps; m and the floor 1e-4 do not depend on u, so apply the chain rule to "
           "softplus(u) = log(1 + exp(u)) times eps.",
           "d/du log(1 + e^u) = e^u / (1 + e^u); divide numerator and denominator by e^u to get the sigmoid."],
    discussion=("dz/du = eps * d/du log(1 + e^u) = eps * e^u / (1 + e^u) = eps * sigmoid(u); the constant floor "
                "1e-4 added to s has derivative 0. Softplus keeps s > 0 with a derivative between 0 and 1, and the "
                "floor keeps s >= 1e-4 where softplus alone would underflow to 0 in single precision (log s = -inf)."),
))
