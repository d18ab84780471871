"""Exercises of chapter 2: entropy, Jensen's inequality and the KL divergence."""

import numpy as np

from vitools.divergences import fit_gaussian, kl_discrete, two_mode_target
from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- 2.1


def kl_normal(mu_q, s_q, mu_p, s_p):
    # -H(q) - E_q[log p], with E_q[(z - mu_p)^2] = s_q^2 + (mu_q - mu_p)^2
    return np.log(s_p / s_q) + (s_q**2 + (mu_q - mu_p) ** 2) / (2 * s_p**2) - 0.5


register(Exercise(
    "2.1", "The KL divergence between two Gaussians", kl_normal,
    probes=[(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, 0.3, 1.7), (-2.0, 2.0, 1.0, 0.8), (0.5, 3.0, 0.5, 1.0)],
    mistakes=[
        Mistake(lambda mq, sq, mp, sp: kl_normal(mp, sp, mq, sq),
                "You computed KL(p || q): the arguments of the divergence are swapped. KL(q || p) "
                "averages under q, so q's variance sits in the numerator."),
        Mistake(lambda mq, sq, mp, sp: np.log(sp / sq) + (sq + (mq - mp) ** 2) / (2 * sp) - 0.5,
                "You treated s as a variance. Here s_q and s_p are standard deviations, so the "
                "quadratic term needs s_q**2 and s_p**2."),
        Mistake(lambda mq, sq, mp, sp: np.log(sq / sp) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5,
                "Wrong sign in the log term: -H(q) contributes -log s_q and -E_q[log p] contributes "
                "+log s_p, so it is log(s_p / s_q)."),
        Mistake(lambda mq, sq, mp, sp: np.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2),
                "You forgot the -1/2: it comes from q's own entropy, 1/2 log(2 pi e s_q^2). Check: "
                "your formula gives 1/2, not 0, when q = p."),
        Mistake(lambda mq, sq, mp, sp: np.log(sp / sq) + sq**2 / (2 * sp**2) - 0.5,
                "You left out the means: E_q[(z - mu_p)^2] = s_q^2 + (mu_q - mu_p)^2, not s_q^2."),
    ],
    checks=[all_finite],
    hints=["Write KL(q || p) = E_q[log q(z)] - E_q[log p(z)] and expand both log-densities.",
           "E_q[(z - mu_p)^2] = Var_q[z] + (E_q[z] - mu_p)^2 = s_q^2 + (mu_q - mu_p)^2."],
    discussion=("E_q[log q] = -1/2 log(2 pi e s_q^2) and E_q[log p] = -1/2 log(2 pi s_p^2) - "
                "(s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2). Subtracting, the 2 pi cancels and the e leaves "
                "the -1/2: KL = log(s_p / s_q) + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2. It is zero "
                "exactly when mu_q = mu_p and s_q = s_p, and grows quadratically with the mean gap."),
))

# ---------------------------------------------------------------- 2.2

DISTANCE, START = 6.0, 2.0


def reverse_fit_mean():
    fit = fit_gaussian(two_mode_target(DISTANCE), "reverse", init=(START, 1.0))
    return fit.mean.item()


register(Exercise(
    "2.2", "Where does the reverse fit go?", reverse_fit_mean, atol=0.1, rtol=0.0,
    mistakes=[
        Mistake(lambda: -reverse_fit_mean(),
                "That is the other mode. Started at m = 2, q already overlaps the right-hand mode; the "
                "gradient of KL(q || p) pulls it further in, not across the valley between the modes."),
        Mistake(lambda: 0.0,
                "m = 0 is the target's mean, where the forward fit (moment matching) goes, and where the "
                "reverse fit settles only from a start near the middle. From m = 2 the reverse fit seeks "
                "the nearer mode."),
    ],
    hints=["Which mode does q overlap at the start? Reverse KL penalises q for mass where p is small.",
           "Run vitools.divergences.fit_gaussian(target, 'reverse', init=(2.0, 1.0)) to check your guess."],
    discussion=("Started at m = 2 with s = 1, q sits mostly on the right-hand mode. Reverse KL charges q "
                "for every bit of mass it puts where p is small, so moving towards the valley at 0 costs "
                "more than it gains: q slides onto the mode at +3 (m = 2.98, s = 1.02; the pull of the far "
                "mode's tail keeps m just short of 3). Its KL is close to log 2, the price of ignoring "
                "half of p."),
))

# ---------------------------------------------------------------- 2.3


def kl_bernoulli(a, b):
    return a * np.log(a / b) + (1 - a) * np.log((1 - a) / (1 - b))


register(Exercise(
    "2.3", "The KL divergence between two coins", kl_bernoulli,
    probes=[(0.3, 0.6), (0.9, 0.5), (0.5, 0.5), (0.05, 0.2)],
    mistakes=[
        Mistake(lambda a, b: kl_bernoulli(b, a), "That is KL(Bernoulli(b) || Bernoulli(a)): the direction is "
                                                 "swapped. The first argument is the one you average under."),
        Mistake(lambda a, b: a * np.log(a / b), "You kept only the outcome 1. The outcome 0 has probability "
                                                "1 - a under the first coin and contributes too."),
        Mistake(lambda a, b: kl_bernoulli(a, b) / np.log(2), "Those are bits (log base 2); the book works "
                                                             "in nats, with natural logarithms."),
        Mistake(lambda a, b: -kl_bernoulli(a, b), "Wrong sign: it is sum p log(p / q), which is never negative."),
    ],
    checks=[all_finite],
    hints=["A Bernoulli(a) coin is the distribution (1 - a, a) over the outcomes 0 and 1."],
    discussion=("KL(Ber(a) || Ber(b)) = a log(a / b) + (1 - a) log((1 - a) / (1 - b)), the discrete "
                "definition with two outcomes. It is 0 only when a = b, infinite when b is 0 or 1 and a "
                "is not, and in general KL(Ber(a) || Ber(b)) != KL(Ber(b) || Ber(a))."),
))

# ---------------------------------------------------------------- 2.4


def triangle_counterexample():
    return np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])   # p, q, r: q lies between p and r


def _three_distributions(value):
    if value.ndim != 2 or value.shape[0] != 3 or value.shape[1] < 2:
        return "Give three distributions over the same outcomes, as an array of shape (3, n) with n >= 2."
    if np.any(value < 0) or not np.allclose(value.sum(axis=1), 1.0, atol=1e-6):
        return "Each of the three rows must be a probability distribution: non-negative and summing to 1."
    return None


def _violates_triangle(value):
    p, q, r = value
    direct, via_q = kl_discrete(p, r), kl_discrete(p, q) + kl_discrete(q, r)
    if direct > via_q:
        return None
    return (f"For your p, q, r: KL(p || r) = {direct:.3f} is not larger than KL(p || q) + KL(q || r) = "
            f"{via_q:.3f}, so this triple satisfies the triangle inequality. Try p and r near opposite "
            f"corners of the simplex with q halfway between them.")


register(Exercise(
    "2.4", "KL is not a distance", triangle_counterexample,
    checks=[_three_distributions], accept=_violates_triangle,
    hints=["A distance would satisfy d(p, r) <= d(p, q) + d(q, r) for every q.",
           "Two outcomes are enough. Put p = (0.9, 0.1), r = (0.1, 0.9), and try q in between."],
    discussion=("With p = (0.9, 0.1), q = (0.5, 0.5), r = (0.1, 0.9): KL(p || r) = 0.8 log 9 = 1.76, while "
                "KL(p || q) + KL(q || r) = 0.37 + 0.51 = 0.88. Going through q is 'shorter' than going "
                "directly, so KL breaks the triangle inequality; it is not symmetric either "
                "(KL(p || q) = 0.37 but KL(q || p) = 0.51). It is a divergence, not a metric."),
))

# ---------------------------------------------------------------- 2.5


def gaussian_entropy_from_variance(v):
    return 0.5 * np.log(2 * np.pi * np.e * v)   # v is the variance s^2


register(Exercise(
    "2.5", "Entropy of a Gaussian with variance v", gaussian_entropy_from_variance,
    probes=[(1.0,), (0.01,), (4.0,), (1 / (2 * np.pi * np.e),)],
    mistakes=[
        Mistake(lambda v: 0.5 * np.log(2 * np.pi * np.e * v**2),
                "You squared the variance. 1/2 log(2 pi e s^2) takes the standard deviation s; with the "
                "variance v = s^2 it is 1/2 log(2 pi e v)."),
        Mistake(lambda v: 0.5 * np.log(2 * np.pi * v),
                "You lost the e: the expected squared distance E[(z - m)^2] / (2 v) = 1/2 adds 1/2 = "
                "1/2 log e."),
        Mistake(lambda v: np.log(2 * np.pi * np.e * v), "You dropped the 1/2 in front of the log."),
        Mistake(lambda v: -0.5 * np.log(2 * np.pi * np.e * v),
                "Wrong sign: entropy is -E[log p], and -log N(z; m, v) = 1/2 log(2 pi v) + (z - m)^2 / (2 v)."),
    ],
    checks=[all_finite],
    hints=["H = -E[log N(z; m, v)]. Write out log N and take the expectation term by term."],
    discussion=("-log N(z; m, v) = 1/2 log(2 pi v) + (z - m)^2 / (2 v); its expectation is 1/2 log(2 pi v) + "
                "1/2 = 1/2 log(2 pi e v). With the standard deviation s it reads 1/2 log(2 pi e s^2): one of "
                "the source notes writes this formula for 'variance sigma', mixing the two up. It is zero "
                "at v = 1/(2 pi e) and negative for narrower Gaussians."),
))
