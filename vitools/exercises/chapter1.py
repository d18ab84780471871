"""Exercises of chapter 1, the marginal likelihood."""

import numpy as np

from vitools.data import eye_colour_table
from vitools.exercises._checks import finite_for_every_W, one_of_the_widths, OneOfTheWidths, PROPOSAL_WIDTHS
from vitools.exercises._core import Exercise, Mistake, all_finite, register, sums_to_one
from vitools.marginal import condition_on, normalise, sum_out

# Every reference solution imports what it uses inside its body: solution() prints the function's source, and a
# student who pastes that source into a fresh notebook cell gets code that runs as it stands.

# ---------------------------------------------------------------- posterior-green-eyes


def posterior_given_green():
    from vitools.data import eye_colour_table

    joint, colours, nationalities = eye_colour_table()
    joint = joint / joint.sum()                      # the printed table sums to 0.99
    p_green_and_z = joint[colours.index("green")]    # p(x = green, z): one entry per nationality
    return p_green_and_z / p_green_and_z.sum()       # Bayes: divide by p(x = green)


_GREEN = 2
register(Exercise(
    "posterior-green-eyes", "Which nationality, given green eyes?", posterior_given_green,
    chapter=1, kind="Coding", stars=1, minutes=10,
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
                "You divided by 0.44, but the green row of the table sums to 0.43 (and the table to "
                "0.99), so your answer is not normalised. Compute the evidence p(x = green) from the "
                "table instead of typing in a total."),
    ],
    checks=[sums_to_one],
    hints=["Bayes' rule: p(z | x) = p(x, z) / p(x), and p(x) is the sum of the joint over z.",
           "Normalise the table first, take the green row, and divide it by its own sum."],
    discussion=("The posterior is the green row of the joint table divided by its sum, "
                "p(z | x = green) = p(green, z) / sum_z' p(green, z'). Normalising the whole table "
                "first changes nothing here (the constant cancels), but it makes every other number "
                "read correctly."),
))

# ---------------------------------------------------------------- evidence-linear-gaussian-1d


def log_marginal_1d(x, W, b, sigma):
    import numpy as np

    variance = W**2 + sigma**2   # Var[W z + b + sigma eps] = W^2 Var[z] + sigma^2 Var[eps]
    return -0.5 * np.log(2 * np.pi * variance) - (x - b) ** 2 / (2 * variance)


def _log_normal(x, mean, variance):
    return -0.5 * np.log(2 * np.pi * variance) - (x - mean) ** 2 / (2 * variance)


register(Exercise(
    "evidence-linear-gaussian-1d", "The evidence of a one-dimensional linear-Gaussian model", log_marginal_1d,
    chapter=1, kind="Derivation", stars=2, minutes=20,
    probes=[(0.3, 2.0, -1.0, 0.5), (1.7, 0.5, 0.2, 1.5), (-2.0, -1.2, 0.7, 0.3), (4.0, 3.0, 1.0, 2.0)],
    # a negative W with W + sigma**2 < 0, negative x and b, sigma above and below 1, |W| != W**2
    graded_probes=[(0.9, 1.4, 0.5, 0.7), (-1.3, -0.8, -0.4, 0.4), (2.5, 0.6, -1.5, 1.2), (-0.2, 2.5, 0.3, 0.25)],
    mistakes=[
        Mistake(lambda x, W, b, s: _log_normal(x, b, W**2 + s),
                "You used sigma as the noise variance. In this model sigma is the standard "
                "deviation, so the noise adds sigma**2 to the variance."),
        Mistake(lambda x, W, b, s: _log_normal(x, b, s**2),
                "You left out the latent's share of the variance: x = W z + b + noise, and W z "
                "contributes W**2 Var[z] = W**2."),
        Mistake(lambda x, W, b, s: _log_normal(x, b, W + s**2),
                "Your function is not finite for some inputs: for a negative W (one test input has W = -1.2) "
                "the variance W + sigma**2 is negative and its log is NaN. The latent contributes "
                "W**2 Var[z] = W**2 to the variance, not W: square W."),
        Mistake(lambda x, W, b, s: _log_normal(x, b, abs(W) + s**2),
                "The latent contributes W**2 to the variance (Var[W z] = W**2 Var[z]), not W."),
        Mistake(lambda x, W, b, s: log_marginal_1d(x, W, b, s) + 0.5 * np.log(2 * np.pi),
                "Off by the constant 0.5 * log(2 pi) = 0.919 at every input: you dropped the 2 pi of the "
                "Gaussian's normaliser. log N(x; b, v) = -0.5 * log(2 pi v) - (x - b)**2 / (2 v)."),
        Mistake(lambda x, W, b, s: log_marginal_1d(x, W, b, s) - 0.5 * np.log(2 * np.pi),
                "Off by the constant -0.5 * log(2 pi) = -0.919 at every input: the 2 pi of the Gaussian's "
                "normaliser is counted twice. log N(x; b, v) = -0.5 * log(2 pi v) - (x - b)**2 / (2 v)."),
        Mistake(lambda x, W, b, s: _log_normal(x, b, (W + s) ** 2),
                "Standard deviations do not add, variances do: Var[x] = W**2 + sigma**2, "
                "not (W + sigma)**2."),
        Mistake(lambda x, W, b, s: _log_normal(x, 0.0, W**2 + s**2),
                "You forgot the offset: the mean of x is b, because E[W z] = 0."),
        Mistake(lambda x, W, b, s: np.exp(log_marginal_1d(x, W, b, s)),
                "This is the density p(x), not log p(x): you forgot the log."),
        Mistake(lambda x, W, b, s: -log_marginal_1d(x, W, b, s),
                "Wrong sign: this is -log p(x). A log-density is -1/2 log(2 pi v) minus the squared "
                "distance over 2v."),
    ],
    checks=[finite_for_every_W],
    hints=["x is a sum of independent Gaussians, W z and sigma * eps, plus the constant b.",
           "A sum of independent Gaussians is Gaussian: add the means and add the variances."],
    discussion=("Write x = W z + b + sigma eps with z, eps independent standard normals. Then x is "
                "Gaussian with mean E[x] = b and variance W^2 Var[z] + sigma^2 Var[eps] = W^2 + sigma^2, "
                "so p(x) = N(x; b, W^2 + sigma^2). In D dimensions the same argument gives "
                "N(x; b, W W^T + sigma^2 I), the formula `LinearGaussianLVM.log_marginal` evaluates."),
))

# ---------------------------------------------------------------- log-mean-exp


def log_mean_exp(log_w):
    import numpy as np

    log_w = np.asarray(log_w, dtype=float)
    m = log_w.max()                                 # factor out the largest weight
    return m + np.log(np.mean(np.exp(log_w - m)))   # every exp(log_w - m) lies in (0, 1]


register(Exercise(
    "log-mean-exp", "Average weights that live in log space", log_mean_exp,
    chapter=1, kind="Coding", stars=2, minutes=15,
    probes=[(np.array([0.0, 1.0, 2.0]),), (np.array([-1000.0, -1001.0, -1002.5]),),
            (np.array([800.0, 799.0, 10.0]),), (np.array([-3.2]),)],
    # moderate weights, weights that underflow (around -1200), weights that overflow (around +760), K = 1
    graded_probes=[(np.array([-0.5, 0.7, 1.9, 3.1]),), (np.array([-1200.0, -1199.5, -1203.0, -1201.0, -1210.0]),),
                   (np.array([760.0, 758.0, 5.0, -20.0]),), (np.array([7.5]),)],
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

# ---------------------------------------------------------------- hidden-pixel-sum-cost


def n_terms(n_hidden, n_components):
    return n_components * 2**n_hidden   # every hidden configuration, for every component


register(Exercise(
    "hidden-pixel-sum-cost", "The cost of summing out hidden pixels", n_terms,
    chapter=1, kind="Derivation", stars=1, minutes=10,
    probes=[(1, 1), (3, 2), (10, 10), (32, 10)],
    # C = 3 differs from 1 and 2; the top half of a digit (|H| = 32) with another C
    graded_probes=[(2, 3), (7, 5), (20, 10), (32, 4)],
    mistakes=[
        Mistake(lambda h, c: 2**h, "You counted the hidden configurations but forgot the component: "
                                   "each configuration is summed for every one of the C components."),
        Mistake(lambda h, c: c**h, "Each hidden pixel has two values, not C: the configurations "
                                   "number 2**|H|, each paired with C components."),
        Mistake(lambda h, c: h * c, "C*|H| counts pixels, not terms: enumeration visits all 2**|H| hidden "
                                    "configurations for each component (the factorised formula costs C*|O|)."),
        Mistake(lambda h, c: 2 ** (h * c), "The component is a single latent variable with C values, "
                                           "not C binary ones: C * 2**|H| terms."),
    ],
    checks=[all_finite],
    hints=["Write p(x_O) = sum_c sum_{x_H} p(c) p(x_O, x_H | c) and count the terms.",
           "|H| binary pixels have 2**|H| joint configurations."],
    discussion=("Enumeration sums p(c) p(x_O, x_H | c) over C components and 2^|H| configurations of the "
                "hidden pixels: C 2^|H| terms, 10 * 2^32 = 4.3e10 for the top half of a digit (|H| = 32) "
                "with C = 10. **How long:** multiply the number of terms by the time per term that the "
                "chapter's timing cell prints for |H| = 20 (it depends on the machine; at 20 ns per term, 4.3e10 "
                "terms take 860 s, about 14 minutes, per image). Read it as an order of magnitude: the code "
                "refuses more than 20 hidden pixels, and the table of 4.3e10 terms alone takes 344 GB in "
                "float64; a program that worked through them in pieces would have a time per term of its own. "
                "The mixture escapes this only because pixels are independent given c, so the sum over x_H "
                "factorises and each hidden pixel sums to 1."),
))

# ---------------------------------------------------------------- proposal-width

def best_proposal_width():
    import torch
    from torch.distributions import MultivariateNormal

    from vitools.bounds import iwae_bound
    from vitools.lvm import LinearGaussianLVM

    widths = (0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)   # the slider's widths kappa
    # the chapter's model and the slider's experiment: 300 estimates with K = 10 at each width
    model = LinearGaussianLVM.random(x_dim=6, z_dim=2, sigma=0.4, seed=0)
    with torch.random.fork_rng():   # leave the caller's random state as it was
        torch.manual_seed(0)
        x, _ = model.sample(1)
        posterior = model.posterior(x)
        torch.manual_seed(3)
        spread = {}
        for width in widths:   # q = N(mu_{z|x}, width^2 Sigma_{z|x}), width = kappa
            q = MultivariateNormal(posterior.mean.expand(300, -1), width**2 * posterior.covariance_matrix)
            spread[width] = iwae_bound(model, x.expand(300, -1), q, n_samples=10).std().item()
    return min(spread, key=spread.get)


_NARROW = ("A proposal narrower than the posterior rarely visits the posterior's tails, and when it does the "
           "weight p(x, z) / q(z) is huge: the estimates swing wildly. For kappa^2 <= 1/2 (kappa = 0.5 and 0.6) "
           "the weights' variance is even infinite. Too narrow is the dangerous direction.")
_WIDE = ("Wider than the posterior is safe (the weights stay bounded) but wastes samples where p(z | x) is "
         "small. Look at the spread for every width.")

register(OneOfTheWidths(
    "proposal-width", "How wide should the proposal be?", best_proposal_width,
    chapter=1, kind="Exploration", stars=2, minutes=20,
    checks=[one_of_the_widths],
    mistakes=[Mistake(lambda width=width: width, _NARROW) for width in PROPOSAL_WIDTHS if width < 1]
             + [Mistake(lambda width=width: width, _WIDE) for width in PROPOSAL_WIDTHS if width > 1],
    hints=["Run the experiment: for each width kappa, repeat the K = 10 estimate a few hundred times and "
           "compare the standard deviations.",
           "What is p(x, z) / q(z) when q(z) is exactly p(z | x)?"],
    discussion=("With q = p(z | x) every weight equals p(x, z) / p(z | x) = p(x), whatever z was drawn: "
                "the estimator has zero variance, and one sample gives log p(x) exactly. Proposals "
                "narrower than the posterior give heavy-tailed weights (of infinite variance for "
                "kappa^2 <= 1/2); wider ones give bounded weights but waste samples. The spreads do not "
                "depend on which x is observed: w / p(x) = p(z | x) / q(z) depends only on where z falls "
                "in posterior standard deviations. Learning q to be close to p(z | x) is what the rest of "
                "the book is about."),
))
