"""Exercises of chapter 1, the marginal likelihood."""

import numpy as np
import torch
from torch.distributions import MultivariateNormal

from vitools.data import eye_colour_table
from vitools.exercises._core import Exercise, Mistake, all_finite, register, sums_to_one
from vitools.lvm import LinearGaussianLVM
from vitools.marginal import condition_on, log_marginal_is, normalise, sum_out

# ---------------------------------------------------------------- 1.1


def posterior_given_green():
    joint, colours, nationalities = eye_colour_table()
    joint = joint / joint.sum()                      # the printed table sums to 0.99
    p_green_and_z = joint[colours.index("green")]    # p(x = green, z): one entry per nationality
    return p_green_and_z / p_green_and_z.sum()       # Bayes: divide by p(x = green)


_GREEN = 2
register(Exercise(
    "1.1", "Which nationality, given green eyes?", posterior_given_green,
    mistakes=[
        Mistake(lambda: eye_colour_table()[0][_GREEN],
                "This is the row p(x = green, z) of the joint table, not the posterior: "
                "divide it by p(x = green), the sum of the row."),
        Mistake(lambda: normalise(eye_colour_table()[0])[_GREEN],
                "This is the joint p(x = green, z) of the normalised table, not the posterior: "
                "divide it by p(x = green), the sum of the row."),
        Mistake(lambda: condition_on(normalise(eye_colour_table()[0]), 1)[_GREEN],
                "You conditioned the wrong way: this is p(x = green | z), how common green eyes are "
                "within each nationality. The question asks for p(z | x = green): divide the green "
                "row by p(x = green), not each column by p(z)."),
        Mistake(lambda: sum_out(normalise(eye_colour_table()[0]), 0),
                "This is the prior p(z) over nationalities: it ignores the eye colour altogether."),
        Mistake(lambda: eye_colour_table()[0][_GREEN] / 0.44,
                "You divided by 0.44, the green total printed on the slide, but the green row of "
                "the table sums to 0.43 (and the table to 0.99), so your answer is not normalised. "
                "Compute the evidence from the table instead of copying it."),
    ],
    checks=[sums_to_one],
    hints=["Bayes' rule: p(z | x) = p(x, z) / p(x), and p(x) is the sum of the joint over z.",
           "Normalise the table first, take the green row, and divide it by its own sum."],
    discussion=("The posterior is the green row of the joint table divided by its sum, "
                "p(z | x = green) = p(green, z) / sum_z' p(green, z'). Normalising the whole table "
                "first changes nothing here (the constant cancels), but it makes every other number "
                "read correctly."),
))

# ---------------------------------------------------------------- 1.2


def log_marginal_1d(x, w, b, sigma):
    variance = w**2 + sigma**2   # Var[w z + b + sigma eps] = w^2 Var[z] + sigma^2 Var[eps]
    return -0.5 * np.log(2 * np.pi * variance) - (x - b) ** 2 / (2 * variance)


def _log_normal(x, mean, variance):
    return -0.5 * np.log(2 * np.pi * variance) - (x - mean) ** 2 / (2 * variance)


register(Exercise(
    "1.2", "The evidence of a one-dimensional linear-Gaussian model", log_marginal_1d,
    probes=[(0.3, 2.0, -1.0, 0.5), (1.7, 0.5, 0.2, 1.5), (-2.0, -1.2, 0.7, 0.3), (4.0, 3.0, 1.0, 2.0)],
    mistakes=[
        Mistake(lambda x, w, b, s: _log_normal(x, b, w**2 + s),
                "You used sigma as the noise variance. In this model sigma is the standard "
                "deviation, so the noise adds sigma**2 to the variance."),
        Mistake(lambda x, w, b, s: _log_normal(x, b, s**2),
                "You left out the latent's share of the variance: x = w z + b + noise, and w z "
                "contributes w**2 Var[z] = w**2."),
        Mistake(lambda x, w, b, s: _log_normal(x, b, abs(w) + s**2),
                "The latent contributes w**2 to the variance (Var[w z] = w**2 Var[z]), not w."),
        Mistake(lambda x, w, b, s: _log_normal(x, b, (w + s) ** 2),
                "Standard deviations do not add, variances do: Var[x] = w**2 + sigma**2, "
                "not (w + sigma)**2."),
        Mistake(lambda x, w, b, s: _log_normal(x, 0.0, w**2 + s**2),
                "You forgot the offset: the mean of x is b, because E[w z] = 0."),
        Mistake(lambda x, w, b, s: np.exp(log_marginal_1d(x, w, b, s)),
                "This is the density p(x), not log p(x): you forgot the log."),
        Mistake(lambda x, w, b, s: -log_marginal_1d(x, w, b, s),
                "Wrong sign: this is -log p(x). A log-density is -1/2 log(2 pi v) minus the squared "
                "distance over 2v."),
    ],
    checks=[all_finite],
    hints=["x is a sum of independent Gaussians, w z and sigma * eps, plus the constant b.",
           "A sum of independent Gaussians is Gaussian: add the means and add the variances."],
    discussion=("Write x = w z + b + sigma eps with z, eps independent standard normals. Then x is "
                "Gaussian with mean E[x] = b and variance w^2 Var[z] + sigma^2 Var[eps] = w^2 + sigma^2, "
                "so p(x) = N(x; b, w^2 + sigma^2). In D dimensions the same argument gives "
                "N(x; b, W W^T + sigma^2 I), the formula `LinearGaussianLVM.log_marginal` evaluates."),
))

# ---------------------------------------------------------------- 1.3


def log_mean_exp(log_w):
    log_w = np.asarray(log_w, dtype=float)
    m = log_w.max()                                 # factor out the largest weight
    return m + np.log(np.mean(np.exp(log_w - m)))   # every exp(log_w - m) lies in (0, 1]


register(Exercise(
    "1.3", "Average weights that live in log space", log_mean_exp,
    probes=[(np.array([0.0, 1.0, 2.0]),), (np.array([-1000.0, -1001.0, -1002.5]),),
            (np.array([800.0, 799.0, 10.0]),), (np.array([-3.2]),)],
    mistakes=[
        Mistake(lambda lw: np.log(np.sum(np.exp(lw - lw.max()))) + lw.max(),
                "You computed log sum_k w_k: you forgot to divide by K, so your estimate is too "
                "large by log K."),
        Mistake(lambda lw: np.mean(lw),
                "You averaged the log-weights. By Jensen's inequality the mean of the logs is below "
                "the log of the mean: the question asks for log((1/K) sum_k w_k)."),
        Mistake(lambda lw: np.log(np.mean(np.exp(lw))),
                "Right formula, but it overflows or underflows: exp(-1000) is 0 and exp(800) is inf "
                "in float64. Subtract the largest log-weight before exponentiating and add it back "
                "after the log."),
    ],
    checks=[all_finite],
    hints=["log((1/K) sum_k exp(a_k)) = m + log((1/K) sum_k exp(a_k - m)) for any constant m.",
           "Choose m = max_k a_k: then every exponent is <= 0 and the largest term is exactly 1."],
    discussion=("Importance weights are ratios of densities and in a few dimensions already span "
                "hundreds of orders of magnitude, so they are kept as logs. Factoring out the largest "
                "weight makes the sum at least 1 and every term at most 1: nothing overflows, and the "
                "sum cannot underflow to 0. `torch.logsumexp(log_w, 0) - log K` does the same."),
))

# ---------------------------------------------------------------- 1.4


def n_enumeration_terms(n_hidden, n_components):
    return n_components * 2**n_hidden   # every hidden configuration, for every component


register(Exercise(
    "1.4", "The cost of summing out hidden pixels", n_enumeration_terms,
    probes=[(1, 1), (3, 2), (10, 10), (32, 10)],
    mistakes=[
        Mistake(lambda n, k: 2**n, "You counted the hidden configurations but forgot the component: "
                                   "each configuration is summed for every one of the K components."),
        Mistake(lambda n, k: k**n, "Each hidden pixel has two values, not K: the configurations "
                                   "number 2**n, each paired with K components."),
        Mistake(lambda n, k: n * k, "That is the cost with the factorisation trick (one product per "
                                    "component); plain enumeration visits every hidden configuration."),
        Mistake(lambda n, k: 2 ** (n * k), "The component is a single latent variable with K values, "
                                           "not K binary ones: K * 2**n terms."),
    ],
    checks=[all_finite],
    hints=["Write p(x_O) = sum_c sum_{x_H} p(c) p(x_O, x_H | c) and count the terms.",
           "n binary pixels have 2**n joint configurations."],
    discussion=("Enumeration sums p(c) p(x_O, x_H | c) over K components and 2^n configurations of the "
                "hidden pixels: K 2^n terms, 4.3e10 for the top half of a digit (n = 32) with K = 10. "
                "The mixture escapes this only because pixels are independent given c, so the sum over "
                "x_H factorises and each hidden pixel sums to 1."),
))

# ---------------------------------------------------------------- 1.5

PROPOSAL_SCALES = (0.5, 1.0, 2.0, 4.0)


def best_proposal_scale():
    model = LinearGaussianLVM.random(x_dim=5, z_dim=2, sigma=0.5, seed=1)
    with torch.random.fork_rng():   # leave the caller's random state as it was
        torch.manual_seed(0)
        x, _ = model.sample(1)
        posterior = model.posterior(x)
        spread = {}
        for s in PROPOSAL_SCALES:   # q = N(posterior mean, s^2 x posterior covariance)
            q = MultivariateNormal(posterior.mean, s**2 * posterior.covariance_matrix)
            estimates = torch.stack([log_marginal_is(model, x, q, k=10) for _ in range(200)])
            spread[s] = estimates.std().item()
    return min(spread, key=spread.get)


register(Exercise(
    "1.5", "How wide should the proposal be?", best_proposal_scale,
    mistakes=[
        Mistake(lambda: 0.5, "A proposal narrower than the posterior rarely visits the posterior's "
                             "tails, and when it does the weight p(x, z) / q(z) is huge: the estimates "
                             "swing wildly. Too narrow is the dangerous direction."),
        Mistake(lambda: 2.0, "Wider than the posterior is safe (the weights stay bounded) but wastes "
                             "samples where p(z | x) is small. Look at the spread for every scale."),
        Mistake(lambda: 4.0, "Wider than the posterior is safe (the weights stay bounded) but wastes "
                             "samples where p(z | x) is small. Look at the spread for every scale."),
    ],
    hints=["Run the experiment: for each scale, repeat the K = 10 estimate a few hundred times and "
           "compare the standard deviations.",
           "What is p(x, z) / q(z) when q(z) is exactly p(z | x)?"],
    discussion=("With q = p(z | x) every weight equals p(x, z) / p(z | x) = p(x), whatever z was drawn: "
                "the estimator has zero variance, and one sample gives log p(x) exactly. Proposals "
                "narrower than the posterior give heavy-tailed weights; wider ones give bounded "
                "weights but waste samples. Learning q to be close to p(z | x) is what the rest of "
                "the book is about."),
))
