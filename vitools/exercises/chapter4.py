"""Exercises of chapter 4: gradient estimators and the importance-weighted bound."""

import numpy as np

from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- 4.1


def score_variance_linear(mu):
    # f(z) = z, z = mu + eps: f s = (mu + eps) eps, E = 1, E[(f s)^2] = mu^2 + 3
    return mu**2 + 2


register(Exercise(
    "4.1", "The variance of the score-function estimator for f(z) = z", score_variance_linear,
    probes=[(0.0,), (1.0,), (-2.5,), (10.0,)],
    mistakes=[
        Mistake(lambda mu: mu**2 + 3, "That is the second moment E[(f s)^2]. The variance subtracts the "
                                      "squared mean, (E[f s])^2 = (d/dmu E[z])^2 = 1."),
        Mistake(lambda mu: 0 * mu, "Zero is the variance of the pathwise estimator (d/dmu (mu + eps) = 1 "
                                   "for every eps). The score-function estimator multiplies by the noisy "
                                   "score s = z - mu."),
        Mistake(lambda mu: mu**2 + 1, "Check E[eps^4] = 3 for a standard normal: E[(mu + eps)^2 eps^2] = "
                                      "mu^2 + 3, and the squared mean 1 comes off that."),
    ],
    checks=[all_finite],
    hints=["For N(mu, 1), the score is d/dmu log q(z) = z - mu = eps.",
           "Expand (mu + eps)^2 eps^2 and use E[eps^2] = 1, E[eps^3] = 0, E[eps^4] = 3."],
    discussion=("With z = mu + eps, the per-sample estimate is z (z - mu) = mu eps + eps^2, mean 1 (the true "
                "gradient of E[z] = mu), second moment mu^2 + 3, variance mu^2 + 2. It grows with mu: shifting f "
                "by a constant (here, f = z is large where z is large) inflates the score-function variance, "
                "which is exactly what a baseline removes. The pathwise estimate is the constant 1."),
))

# ---------------------------------------------------------------- 4.2


def score_estimates_bernoulli(f_values, z, p):
    # d/dp log q(z) for q(z) = p^z (1 - p)^(1 - z) is z/p - (1 - z)/(1 - p) = (z - p) / (p (1 - p))
    return f_values * (z - p) / (p * (1 - p))


_BERNOULLI_PROBE = (np.array([0.3025, 0.2025, 0.3025, 0.3025]), np.array([1.0, 0.0, 1.0, 1.0]), 0.6)

register(Exercise(
    "4.2", "A score-function estimator for a coin", score_estimates_bernoulli,
    probes=[_BERNOULLI_PROBE, (np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 0.0, 1.0, 0.0]), 0.25)],
    mistakes=[
        Mistake(lambda fv, z, p: fv * (2 * z - 1),
                "You multiplied f by the gradient of q(z) itself, d/dp p^z (1 - p)^(1 - z) = 2z - 1. Averaging "
                "f(z) grad q(z) over samples from q does not estimate grad E_q[f] (the integral of f grad q is "
                "not an expectation under q); divide by q(z), i.e. use grad log q."),
        Mistake(lambda fv, z, p: fv * (p - z) / (p * (1 - p)), "Wrong sign: d/dp log p = 1/p is positive for z = 1."),
        Mistake(lambda fv, z, p: fv * (z - p),
                "You forgot to divide by p (1 - p): z/p - (1 - z)/(1 - p) = (z - p) / (p (1 - p))."),
    ],
    checks=[all_finite],
    hints=["log q(z) = z log p + (1 - z) log(1 - p). Differentiate with respect to p."],
    discussion=("log q(z) = z log p + (1 - z) log(1 - p), so the score is z/p - (1 - z)/(1 - p) = (z - p)/(p(1 - p)) "
                "and each sample contributes f(z) (z - p) / (p (1 - p)). Its mean is p f(1)/p - (1 - p) f(0)/(1 - p) = "
                "f(1) - f(0), the exact derivative of p f(1) + (1 - p) f(0)."),
))

# ---------------------------------------------------------------- 4.3


def exponential_inverse_cdf(rate, u):
    # F(z) = 1 - exp(-rate z), so z = F^{-1}(u) = -log(1 - u) / rate
    return -np.log1p(-u) / rate


register(Exercise(
    "4.3", "Reparameterise an exponential by its inverse CDF", exponential_inverse_cdf,
    probes=[(2.0, 0.5), (0.5, 0.1), (3.0, 0.99), (1.0, 0.7)],
    mistakes=[
        Mistake(lambda rate, u: -np.log(u) / rate,
                "That is F^{-1}(1 - u). Since 1 - u is uniform too, it also produces exponential samples and is a "
                "valid reparameterisation, but it is not the inverse CDF the exercise asks for."),
        Mistake(lambda rate, u: -np.log1p(-u) * rate, "The rate divides: larger rates give smaller samples "
                                                      "(the mean is 1/rate)."),
        Mistake(lambda rate, u: np.log1p(-u) / rate, "Wrong sign: log(1 - u) < 0, and exponential samples are positive."),
    ],
    checks=[all_finite],
    hints=["Solve u = F(z) = 1 - exp(-rate z) for z."],
    discussion=("u = 1 - exp(-rate z) gives z = -log(1 - u)/rate. Then dz/d rate = log(1 - u)/rate^2 = -z/rate: "
                "the pathwise gradient of E[f(z)] is E[f'(z) (-z/rate)], and for f(z) = z it averages to "
                "-1/rate^2, the derivative of the mean 1/rate."),
))

# ---------------------------------------------------------------- 4.4


def best_constant_baseline():
    k, mu = 3.0, 1.0                     # z ~ N(1, 1), f(z) = (z - 3)^2, gradient with respect to mu
    a = mu - k
    return 3 + a**2                      # E[f s^2] / E[s^2] = E[(eps + a)^2 eps^2] / E[eps^2]


register(Exercise(
    "4.4", "The best constant baseline", best_constant_baseline, atol=0.05, rtol=0.0,
    mistakes=[
        Mistake(lambda: 5.0, "5 = E[f(z)] is the natural guess, and a good baseline, but not the best one: "
                             "the variance (f - c)^2 s^2 weighs f by s^2, so c* = E[f s^2] / E[s^2]."),
        Mistake(lambda: 0.0, "c = 0 is no baseline at all; the slider shows the variance is far from its "
                             "minimum there."),
    ],
    hints=["Var[(f - c) s] is a quadratic in c; set its derivative to zero.",
           "With s = eps and f = (eps - 2)^2: E[f eps^2] = E[eps^4] - 4 E[eps^3] + 4 E[eps^2]."],
    discussion=("Var[(f - c) s] = E[f^2 s^2] - 2c E[f s^2] + c^2 E[s^2] - (E[f s])^2, minimised at c* = E[f s^2]/E[s^2]. "
                "Here s = eps and f = (eps + a)^2 with a = -2: E[f eps^2] = 3 + a^2 = 7 and E[eps^2] = 1, so c* = 7, "
                "while E[f] = 1 + a^2 = 5. The variances are 6 + 8a^2 = 38 at c*, 10 + 8a^2 = 42 at E[f], and "
                "a^4 + 14a^2 + 15 = 87 with no baseline."),
))

# ---------------------------------------------------------------- 4.5


def iwae_two_values():
    # w is 1 or 3 with probability 1/2 each; L_2 averages log((w1 + w2)/2) over the four pairs
    pairs = [(1, 1), (1, 3), (3, 1), (3, 3)]
    return float(np.mean([np.log((w1 + w2) / 2) for w1, w2 in pairs]))


register(Exercise(
    "4.5", "An importance-weighted bound by hand", iwae_two_values,
    mistakes=[
        Mistake(lambda: float(np.mean(np.log([1, 3]))), "That is L_1 = E[log w], the ELBO. L_2 averages the log "
                                                         "of the mean of two independent weights."),
        Mistake(lambda: float(np.log(2)), "log 2 = log E[w] = log p(x) is the limit as K grows; L_2 is still below it."),
    ],
    checks=[all_finite],
    hints=["There are four equally likely pairs (w1, w2). Average log((w1 + w2)/2) over them."],
    discussion=("L_2 = (log 1 + 2 log 2 + log 3)/4 = 0.621, between L_1 = (log 1 + log 3)/2 = 0.549 and "
                "log E[w] = log 2 = 0.693. Averaging more weights before taking the log makes the bound tighter."),
))
