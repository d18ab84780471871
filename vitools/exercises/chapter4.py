"""Exercises of chapter 4: gradient estimators and the importance-weighted bound."""

import numpy as np

from vitools import examples
from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- score-variance-linear


def score_variance(m, s):
    # f(z) = z, z = m + s eps, score h = (z - m) / s^2 = eps / s: f h = m eps / s + eps^2, mean 1,
    # variance m^2 / s^2 + Var[eps^2] = m^2 / s^2 + 2 (Cov(eps, eps^2) = E[eps^3] = 0)
    return m**2 / s**2 + 2


register(Exercise(
    "score-variance-linear", "The variance of the score-function estimator for f(z) = z", score_variance,
    chapter=4, kind="Derivation", stars=2, minutes=20,
    probes=[(0.0, 1.0), (1.0, 2.0), (-2.5, 0.5), (10.0, 3.0)],
    # m = 0, a negative m, s above and below 1, a large |m| / s
    graded_probes=[(0.0, 2.5), (1.5, 0.8), (-4.0, 1.5), (7.0, 0.3)],
    mistakes=[
        Mistake(lambda m, s: m**2 / s**2 + 3, "That is the second moment E[(f h)^2], with h = (z - m)/s^2 the score. "
                                              "The variance subtracts the squared mean, (E[f h])^2 = (d/dm E[z])^2 = 1."),
        Mistake(lambda m, s: 0 * m, "Zero is the variance of the pathwise estimator (d/dm (m + s eps) = 1 "
                                    "for every eps). The score-function estimator multiplies by the noisy score."),
        Mistake(lambda m, s: m**2 * s**2 + 2 * s**4, "You used z - m as the score. For N(m, s^2) the m-component of "
                                                     "the score is (z - m)/s^2 = eps/s."),
        Mistake(lambda m, s: m**2 + 2 + 0 * s, "That is the answer for s = 1 only: the score (z - m)/s^2 and the "
                                               "sample z = m + s eps both involve s."),
        Mistake(lambda m, s: m**2 / s**2 + 1, "Check E[eps^4] = 3 for a standard normal: Var[eps^2] = 3 - 1 = 2."),
    ],
    checks=[all_finite],
    hints=["Write z = m + s eps. The m-component of the score of N(m, s^2) is (z - m)/s^2 = eps/s.",
           "f h = (m + s eps) eps / s = m eps / s + eps^2. Use E[eps^2] = 1, E[eps^3] = 0, E[eps^4] = 3."],
    discussion=("With z = m + s eps and score eps/s, the per-sample estimate is f h = m eps/s + eps^2. Its mean is 1 "
                "(the gradient of E[z] = m), and since Cov(eps, eps^2) = E[eps^3] = 0 its variance is "
                "m^2/s^2 Var[eps] + Var[eps^2] = m^2/s^2 + 2. It grows with |m|/s: f = z is large wherever z is, and the "
                "score multiplies that size by noise; a baseline a = m would remove the m^2/s^2 part. The pathwise "
                "estimate is the constant 1, variance 0."),
))

# ---------------------------------------------------------------- score-two-coins


def score_estimates(f_values, z, mu):
    # q(z) = C(2, z) mu^z (1 - mu)^(2 - z), z = 0, 1, 2 heads in two tosses:
    # d/dmu log q(z) = z/mu - (2 - z)/(1 - mu) = (z - 2 mu) / (mu (1 - mu))
    return f_values * (z - 2 * mu) / (mu * (1 - mu))


def _binomial_two(z, mu):
    return np.array([1.0, 2.0, 1.0])[np.asarray(z, dtype=int)] * mu**z * (1 - mu) ** (2 - z)


register(Exercise(
    "score-two-coins", "A score-function estimator for two coin tosses", score_estimates,
    chapter=4, kind="Coding", stars=1, minutes=10,
    probes=[(np.array([0.3025, 0.2025, 0.5, 0.1]), np.array([2.0, 0.0, 1.0, 1.0]), 0.6),
            (np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 2.0, 0.0]), 0.25)],
    # every z in {0, 1, 2}, mu below and above 1/2, other sample sizes, a negative f
    graded_probes=[(np.array([0.8, -0.4, 1.2, 0.3, 2.0]), np.array([1.0, 0.0, 2.0, 1.0, 2.0]), 0.4),
                   (np.array([5.0, 0.5, 2.5]), np.array([2.0, 1.0, 0.0]), 0.8),
                   (np.array([1.5, 1.5, 3.0, 0.2, 0.7, 4.0]), np.array([0.0, 0.0, 1.0, 2.0, 1.0, 0.0]), 0.15)],
    mistakes=[
        Mistake(lambda fv, z, mu: fv * z / mu,
                "You differentiated only the z log mu part of log q. The tails contribute too: log q(z) contains "
                "(2 - z) log(1 - mu), whose derivative is -(2 - z)/(1 - mu)."),
        Mistake(lambda fv, z, mu: fv * (z - mu) / (mu * (1 - mu)),
                "That is the score of one coin, z in {0, 1}. With two tosses log q(z) = log C(2, z) + z log mu + "
                "(2 - z) log(1 - mu), so the score is z/mu - (2 - z)/(1 - mu)."),
        Mistake(lambda fv, z, mu: fv * _binomial_two(z, mu) * (z - 2 * mu) / (mu * (1 - mu)),
                "You multiplied f by the gradient of q(z) itself. Averaging f(z) grad q(z) over samples from q does "
                "not estimate grad E_q[f] (the integral of f grad q is not an expectation under q); divide by q(z), "
                "i.e. use grad log q."),
        Mistake(lambda fv, z, mu: fv * (2 * mu - z) / (mu * (1 - mu)),
                "Wrong sign: d/dmu (z log mu) = z/mu is positive."),
        Mistake(lambda fv, z, mu: fv * (z - 2 * mu),
                "You forgot the denominator: z/mu - (2 - z)/(1 - mu) = (z - 2 mu) / (mu (1 - mu))."),
    ],
    checks=[all_finite],
    hints=["log q(z) = log C(2, z) + z log mu + (2 - z) log(1 - mu); the binomial coefficient does not depend on mu.",
           "d/dmu log(1 - mu) = -1/(1 - mu)."],
    discussion=("log q(z) = log C(2, z) + z log mu + (2 - z) log(1 - mu), so the score is z/mu - (2 - z)/(1 - mu) = "
                "(z - 2 mu)/(mu (1 - mu)) and each sample contributes f(z) (z - 2 mu)/(mu (1 - mu)). Its mean is "
                "sum_z q(z) f(z) (z - 2 mu)/(mu (1 - mu)) = sum_z f(z) d/dmu q(z), the exact derivative of "
                "E[f] = (1 - mu)^2 f(0) + 2 mu (1 - mu) f(1) + mu^2 f(2)."),
))

# ---------------------------------------------------------------- inverse-cdf-power


def inverse_cdf(phi, u):
    # q(z) = phi z^(phi - 1) on (0, 1): F(z) = z^phi, so z = F^{-1}(u) = u^(1/phi)
    return u ** (1 / phi)


register(Exercise(
    "inverse-cdf-power", "Reparameterise a power distribution by its inverse CDF", inverse_cdf,
    chapter=4, kind="Derivation", stars=1, minutes=10,
    probes=[(2.0, 0.5), (0.5, 0.1), (3.0, 0.99), (1.5, np.array([0.2, 0.7, 0.95]))],
    # phi above and below 1, u near 0 and near 1, an array u
    graded_probes=[(4.0, 0.3), (0.25, 0.6), (2.5, 0.02), (0.7, np.array([0.05, 0.4, 0.75, 0.97]))],
    mistakes=[
        Mistake(lambda phi, u: u**phi, "That is F(u) = u^phi, not its inverse: solve u = z^phi for z."),
        Mistake(lambda phi, u: (1 - u) ** (1 / phi),
                "That is F^{-1}(1 - u). Since 1 - u is uniform too, it also produces samples of q and is a valid "
                "reparameterisation, but it is not the inverse CDF the exercise asks for."),
        Mistake(lambda phi, u: u ** (-1 / phi), "The exponent is 1/phi, not -1/phi: samples must stay in (0, 1)."),
        Mistake(lambda phi, u: u ** (1 / (phi - 1)) if phi != 1 else u,
                "That inverts the density's power z^(phi - 1). The CDF is its integral, F(z) = z^phi."),
    ],
    checks=[all_finite],
    hints=["Integrate the density: F(z) = integral from 0 to z of phi t^(phi - 1) dt = z^phi.",
           "Solve u = z^phi for z; u is a float or a NumPy array, so NumPy operations (**, np.log) work for both."],
    discussion=("F(z) = z^phi, so u = z^phi gives z = u^(1/phi). Then dz/dphi = -log(u) u^(1/phi) / phi^2 = -z log(z) / phi, "
                "positive since log z < 0: a larger exponent pushes mass towards 1. For f(z) = z the pathwise gradient "
                "averages E[-z log(z)/phi] = -integral of z^phi log z dz = 1/(phi + 1)^2, the derivative of "
                "E[z] = phi/(phi + 1)."),
))

# ---------------------------------------------------------------- best-constant-baseline


def best_constant_baseline():
    # z = 1 + eps ~ N(1, 1), f(z) = z^3, h = eps: a* = E[f h^2] / E[h^2]
    # (1 + eps)^3 eps^2 = eps^2 + 3 eps^3 + 3 eps^4 + eps^5, mean 1 + 0 + 9 + 0 = 10; E[eps^2] = 1
    return 10.0


register(Exercise(
    "best-constant-baseline", "The best constant baseline", best_constant_baseline, atol=0.25, rtol=0.0,
    chapter=4, kind="Exploration", stars=2, minutes=30,
    mistakes=[
        Mistake(lambda: 4.0, "4 = E[f(z)] = E[(1 + eps)^3] is the natural guess, and a good baseline, but not the "
                             "best one: the variance of (f - a) h weighs f by h^2 (h the score), so a* = E[f h^2] / E[h^2]."),
        Mistake(lambda: 0.0, "a = 0 is no baseline at all; the variance is far from its minimum there."),
        Mistake(lambda: examples.quadratic_optimal_baseline(1.0, 3.0),   # 3 + (1 - 3)^2 = 7
                "7 is the best baseline for the text's f(z) = (z - 3)^2. Here f(z) = z^3: expand "
                "(1 + eps)^3 eps^2 and take its mean."),
        Mistake(lambda: 9.0, "Close: 3 E[eps^4] = 9, but (1 + eps)^3 eps^2 also contains eps^2, whose mean is 1."),
    ],
    hints=["Var[(f - a) h] is a quadratic in a; set its derivative to zero: a* = E[f h^2] / E[h^2], h = z - m = eps.",
           "(1 + eps)^3 eps^2 = eps^2 + 3 eps^3 + 3 eps^4 + eps^5; odd moments vanish, E[eps^4] = 3."],
    discussion=("Var[(f - a) h] = E[f^2 h^2] - 2a E[f h^2] + a^2 E[h^2] - (E[f h])^2, minimised at a* = E[f h^2]/E[h^2]. "
                "Here h = eps and f = (1 + eps)^3, so E[f eps^2] = E[eps^2] + 3 E[eps^3] + 3 E[eps^4] + E[eps^5] = "
                "1 + 0 + 9 + 0 = 10 and E[eps^2] = 1: a* = 10, while E[f] = 1 + 3 E[eps^2] = 4. A Monte Carlo "
                "estimate from 10^6 samples (estimators.optimal_baseline) has a standard error of about 0.05."),
))

# ---------------------------------------------------------------- iwae-by-hand


def iwae_two_values():
    # w is 1 or 3 with probability 1/2 each; L_2 averages log((w1 + w2)/2) over the four pairs
    pairs = [(1, 1), (1, 3), (3, 1), (3, 3)]
    return float(np.mean([np.log((w1 + w2) / 2) for w1, w2 in pairs]))


register(Exercise(
    "iwae-by-hand", "An importance-weighted bound by hand", iwae_two_values, atol=5e-4, rtol=0.0,
    chapter=4, kind="Derivation", stars=1, minutes=10,
    mistakes=[
        Mistake(lambda: float(np.mean(np.log([1, 3]))), "That is L_1 = E[log w], the ELBO. L_2 averages the log "
                                                         "of the mean of two independent weights."),
        Mistake(lambda: float(np.log(2)), "log 2 = log E[w] = log p(x) is the limit as K grows; L_2 is still below it."),
        Mistake(lambda: float(np.mean(np.log([1, 2, 3]))),
                "You averaged over the three distinct values of (w1 + w2)/2, but (1, 3) and (3, 1) are two different "
                "pairs: there are four equally likely pairs, and the mean 2 has probability 1/2."),
    ],
    checks=[all_finite],
    hints=["There are four equally likely pairs (w1, w2). Average log((w1 + w2)/2) over them."],
    discussion=("L_2 = (log 1 + 2 log 2 + log 3)/4 = 0.621, between L_1 = (log 1 + log 3)/2 = 0.549 and "
                "log E[w] = log 2 = 0.693. Averaging more weights before taking the log makes the bound tighter."),
))
