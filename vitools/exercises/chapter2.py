"""Exercises of chapter 2: entropy, Jensen's inequality and the KL divergence."""

import numpy as np

from vitools.divergences import fit_gaussian
from vitools.examples import two_mode_target
from vitools.exercises._checks import three_distributions, violates_triangle
from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- kl-two-gaussians


def kl_normal(m, s, mu, sd_p):
    # KL(q || p) for q = N(m, s^2), p = N(mu, Sigma) with Sigma = sd_p^2: -H(q) - E_q[log p],
    # with E_q[(z - mu)^2] = s^2 + (m - mu)^2
    return np.log(sd_p / s) + (s**2 + (m - mu) ** 2) / (2 * sd_p**2) - 0.5


register(Exercise(
    "kl-two-gaussians", "The KL divergence between two Gaussians", kl_normal,
    chapter=2, kind="Derivation", stars=2, minutes=25,
    probes=[(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, 0.3, 1.7), (-2.0, 2.0, 1.0, 0.8), (0.5, 3.0, 0.5, 1.0)],
    # q = p (KL 0), q narrower and wider than p, negative means, equal means with unequal scales
    graded_probes=[(0.4, 1.3, 0.4, 1.3), (-1.5, 0.6, 0.8, 1.9), (2.2, 2.5, -0.7, 1.1), (-0.3, 0.4, -0.3, 2.0)],
    mistakes=[
        Mistake(lambda m, s, mu, sd_p: kl_normal(mu, sd_p, m, s),
                "You computed KL(p || q), the KL divergence of p from q: the arguments are swapped. KL(q || p) "
                "averages under q, so q's variance s^2 sits in the numerator, over p's variance Sigma."),
        Mistake(lambda m, s, mu, sd_p: np.log(sd_p / s) + (s + (m - mu) ** 2) / (2 * sd_p) - 0.5,
                "You treated the scales as variances. Here s and sd_p = sqrt(Sigma) are standard deviations, so "
                "the quadratic term needs s**2 and sd_p**2."),
        Mistake(lambda m, s, mu, sd_p: 0.5 * np.log(sd_p / s) + (s + (m - mu) ** 2) / (2 * sd_p) - 0.5,
                "You treated the scales as variances throughout: 1/2 log(Sigma / s^2) with Sigma and s^2 replaced "
                "by sd_p and s. That is the KL for variances s and sd_p, but the arguments are standard "
                "deviations: use s**2 and sd_p**2 (the log term is then log(sd_p / s))."),
        Mistake(lambda m, s, mu, sd_p: np.log(sd_p**2 / s**2) + (s**2 + (m - mu) ** 2) / (2 * sd_p**2) - 0.5,
                "The log term is missing its 1/2: -H(q) - E_q[log p] contributes 1/2 log(Sigma / s^2) = "
                "log(sd_p / s), not log(sd_p**2 / s**2)."),
        Mistake(lambda m, s, mu, sd_p: -kl_normal(m, s, mu, sd_p),
                "Your KL is negative, and a KL divergence never is: the sign is flipped. KL(q || p) = "
                "E_q[log q] - E_q[log p], q's log-density first."),
        Mistake(lambda m, s, mu, sd_p: np.log(s / sd_p) + (s**2 + (m - mu) ** 2) / (2 * sd_p**2) - 0.5,
                "Wrong sign in the log term: -H(q) contributes -log s and -E_q[log p] contributes "
                "+log sqrt(Sigma), so it is log(sd_p / s)."),
        Mistake(lambda m, s, mu, sd_p: np.log(sd_p / s) + (s**2 + (m - mu) ** 2) / (2 * sd_p**2),
                "You forgot the -1/2: it comes from q's own entropy, 1/2 log(2 pi e s^2). Check: "
                "your formula gives 1/2, not 0, when q = p."),
        Mistake(lambda m, s, mu, sd_p: np.log(sd_p / s) + s**2 / (2 * sd_p**2) - 0.5,
                "You left out the means: E_q[(z - mu)^2] = s^2 + (m - mu)^2, not s^2."),
    ],
    checks=[all_finite],
    hints=["Write KL(q || p) = E_q[log q(z)] - E_q[log p(z)] and expand both log-densities.",
           "E_q[(z - mu)^2] = Var_q[z] + (E_q[z] - mu)^2 = s^2 + (m - mu)^2."],
    discussion=("E_q[log q] = -1/2 log(2 pi e s^2) and E_q[log p] = -1/2 log(2 pi Sigma) - "
                "(s^2 + (m - mu)^2) / (2 Sigma). Subtracting, the 2 pi cancels and the e leaves "
                "the -1/2: KL(q || p) = log(sqrt(Sigma) / s) + (s^2 + (m - mu)^2) / (2 Sigma) - 1/2. It is zero "
                "exactly when m = mu and s^2 = Sigma; the mean enters only through (m - mu)^2 / (2 Sigma), half the "
                "squared gap measured in units of p's standard deviation sqrt(Sigma)."),
))

# ---------------------------------------------------------------- reverse-fit-mean

def reverse_fit_mean():
    # modes at -3.5 and +3.5 (Delta = 7, equal weights); one run of the reverse fit from m = 1, s = 1
    fit = fit_gaussian(two_mode_target(7.0), "reverse", init=(1.0, 1.0))
    return fit.q.mean.item()


register(Exercise(
    "reverse-fit-mean", "Where does the reverse fit go?", reverse_fit_mean, atol=0.1, rtol=0.0,
    chapter=2, kind="Exploration", stars=1, minutes=10,
    mistakes=[
        Mistake(lambda: 3.5,
                "That is the nearer mode, +3.5, which is where a start at m = 1.5 or beyond would end. From m = 1 "
                "with s = 1, q sits in the valley, where log p is very low; the steepest way down widens q (the "
                "gradient is about -1.7 in log s against -1.3 in m), and once q straddles both modes it "
                "settles in the broad middle basin."),
        Mistake(lambda: -3.5,
                "That is the far mode. The run starts right of the centre and never crosses to the left: at the "
                "start the gradient pushes m to the right and s up, and nothing pulls q leftwards past the middle."),
        Mistake(lambda: 1.0,
                "That is where the run starts. q = N(1, 1) sits in the low valley between the modes and is far "
                "from a minimum: the gradient of KL(q || p) there is large (about -1.3 in m and -1.7 in log s)."),
    ],
    hints=["At the start, q = N(1, 1) covers mostly the valley between the modes. Which lowers KL(q || p) "
           "faster there: moving m, or widening s?",
           "Run vitools.divergences.fit_gaussian(vitools.examples.two_mode_target(7.0), 'reverse', init=(1.0, 1.0)) "
           "to check your guess."],
    discussion=("Started at m = 1 with s = 1, q lies mostly in the valley between the modes at -3.5 and +3.5, "
                "where log p is very low. Reverse KL, the KL divergence of q from p, KL(q || p), charges q for "
                "that mass; the fastest relief is to widen q until it reaches both modes, and once it straddles "
                "them it is in the broad middle basin: the run ends at m = 0, s = 3.11, with KL 1.30 nats. That "
                "is a local minimum, not the best fit: a q on one mode has KL about log 2 = 0.69 (where that q "
                "has its mass, p is about q / 2, so E_q[log q - log p] is about log 2). A start at m = 1.2 already ends on the mode at +3.5, which is why fit_gaussian without init runs from "
                "several starts and keeps the lowest verified minimum."),
))

# ---------------------------------------------------------------- kl-two-coins


def kl_bernoulli(mu1, mu2):
    return mu1 * np.log(mu1 / mu2) + (1 - mu1) * np.log((1 - mu1) / (1 - mu2))


register(Exercise(
    "kl-two-coins", "The KL divergence between two coins", kl_bernoulli,
    chapter=2, kind="Coding", stars=1, minutes=10,
    probes=[(0.3, 0.6), (0.9, 0.5), (0.5, 0.5), (0.05, 0.2)],
    # mu1 < mu2 and mu1 > mu2, equal coins (KL 0), a coin near 0
    graded_probes=[(0.2, 0.7), (0.8, 0.4), (0.35, 0.35), (0.02, 0.1)],
    mistakes=[
        Mistake(lambda mu1, mu2: kl_bernoulli(mu2, mu1),
                "That is KL(Ber(mu2) || Ber(mu1)), the KL divergence of Ber(mu2) from Ber(mu1): the direction is "
                "swapped. The first argument is the one you average under."),
        Mistake(lambda mu1, mu2: mu1 * np.log(mu1 / mu2), "You kept only the outcome 1. The outcome 0 has "
                                                          "probability 1 - mu1 under the first coin and contributes too."),
        Mistake(lambda mu1, mu2: kl_bernoulli(mu1, mu2) / np.log(2), "Those are bits (log base 2); the book works "
                                                                     "in nats, with natural logarithms."),
        Mistake(lambda mu1, mu2: -kl_bernoulli(mu1, mu2), "Wrong sign: it is sum p log(p / q), which is never negative."),
    ],
    checks=[all_finite],
    hints=["A Bernoulli(mu) coin is the distribution (1 - mu, mu) over the outcomes 0 and 1."],
    discussion=("KL(Ber(mu1) || Ber(mu2)) = mu1 log(mu1 / mu2) + (1 - mu1) log((1 - mu1) / (1 - mu2)), the "
                "discrete definition with two outcomes. It is 0 only when mu1 = mu2, infinite when mu2 is 0 or 1 "
                "and mu1 is not, and in general KL(Ber(mu1) || Ber(mu2)) != KL(Ber(mu2) || Ber(mu1)): for "
                "mu1 = 0.5, mu2 = 0.9 the two are 0.511 and 0.368 nats."),
))

# ---------------------------------------------------------------- kl-not-a-distance


def triangle_counterexample():
    return np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])   # p, q, r: q lies between p and r


register(Exercise(
    "kl-not-a-distance", "KL is not a distance", triangle_counterexample,
    chapter=2, kind="Derivation", stars=2, minutes=20,
    checks=[three_distributions], accept=violates_triangle,
    hints=["A distance would satisfy dist(p, r) <= dist(p, q) + dist(q, r) for every q.",
           "Two outcomes are enough. Put p = (0.9, 0.1), r = (0.1, 0.9), and try q in between."],
    discussion=("With p = (0.9, 0.1), q = (0.5, 0.5), r = (0.1, 0.9): KL(p || r) = 0.8 log 9 = 1.76, while "
                "KL(p || q) + KL(q || r) = 0.37 + 0.51 = 0.88. Going through q is 'shorter' than going "
                "directly, so KL breaks the triangle inequality; it is not symmetric either "
                "(KL(p || q) = 0.37 but KL(q || p) = 0.51). It is a divergence, not a metric."),
))

# ---------------------------------------------------------------- gaussian-entropy-from-variance


def entropy_from_variance(variance):
    return 0.5 * np.log(2 * np.pi * np.e * variance)   # the variance is s^2, not the standard deviation s


register(Exercise(
    "gaussian-entropy-from-variance", "Entropy of a Gaussian from its variance", entropy_from_variance,
    chapter=2, kind="Derivation", stars=1, minutes=10,
    probes=[(1.0,), (0.01,), (4.0,), (1 / (2 * np.pi * np.e),)],
    # a wide Gaussian, a very narrow one (negative entropy), and two close to the zero at 1/(2 pi e) = 0.0585
    graded_probes=[(9.0,), (0.002,), (0.3,), (0.05,)],
    mistakes=[
        Mistake(lambda variance: 0.5 * np.log(2 * np.pi * np.e * variance**2),
                "You squared the variance. 1/2 log(2 pi e s^2) takes the square of the standard deviation s, "
                "which is the variance itself: 1/2 log(2 pi e * variance)."),
        Mistake(lambda variance: 0.5 * np.log(2 * np.pi * variance),
                "You lost the e: the expected squared distance E[(z - m)^2] / (2 s^2) = 1/2 adds 1/2 = "
                "1/2 log e."),
        Mistake(lambda variance: np.log(2 * np.pi * np.e * variance), "You dropped the 1/2 in front of the log."),
        Mistake(lambda variance: -0.5 * np.log(2 * np.pi * np.e * variance),
                "Wrong sign: entropy is -E[log p], and -log N(z; m, s^2) = 1/2 log(2 pi s^2) + (z - m)^2 / (2 s^2)."),
    ],
    checks=[all_finite],
    hints=["H = -E[log N(z; m, s^2)] with s^2 the variance. Write out log N and take the expectation term by term."],
    discussion=("-log N(z; m, s^2) = 1/2 log(2 pi s^2) + (z - m)^2 / (2 s^2); its expectation is 1/2 log(2 pi s^2) + "
                "1/2 = 1/2 log(2 pi e s^2), and s^2 is the variance. A common slip puts the variance in the place "
                "of the standard deviation and writes 1/2 log(2 pi e (s^2)^2), which is off by 1/2 log s^2. The "
                "entropy is zero at variance 1/(2 pi e) and negative for narrower Gaussians."),
))
