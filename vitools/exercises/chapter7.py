"""Exercises of chapter 7: tighter bounds and richer posteriors."""

import numpy as np

from vitools.exercises._checks import identity_holds
from vitools.exercises._core import Exercise, Mistake, all_finite, register

# ---------------------------------------------------------------- planar-log-det


def planar_log_det(z, u, v, v0):
    # dg/dz = I + (1 - tanh^2(v . z + v0)) u v^T, and det(I + u r^T) = 1 + r^T u
    return np.log(np.abs(1 + (1 - np.tanh(v @ z + v0)**2) * (v @ u)))


def _planar(slope, dot):
    """log|1 + slope(v . z + v0) dot(u, v)|, the planar log-determinant with one of its pieces swapped out."""
    return lambda z, u, v, v0: np.log(np.abs(1 + slope(v @ z + v0) * dot(u, v)))


def _TANH_PRIME(a):
    return 1 - np.tanh(a)**2


def _V_DOT_U(u, v):
    return v @ u


register(Exercise(
    "planar-log-det", "The log-determinant of a planar flow", planar_log_det,
    chapter=7, kind="Derivation", stars=2, minutes=25,
    probes=[(np.array([0.5, -1.0]), np.array([0.8, 0.3]), np.array([1.2, -0.4]), 0.3),          # v . u = 0.84
            (np.array([-0.3, 0.7]), np.array([-0.5, 0.6]), np.array([0.9, 0.2]), -0.1),         # v . u = -0.33
            (np.array([1.0, 0.2, -0.5]), np.array([0.4, -1.2, 0.2]), np.array([0.7, 0.5, 1.1]), 0.0),   # -0.10
            (np.array([0.1, -0.4, 0.9]), np.array([1.5, 0.5, -0.3]), np.array([0.6, -0.8, 0.4]), 0.5)],  # 0.38
    graded_probes=[(np.array([-0.6, 0.2]), np.array([0.3, -0.9]), np.array([0.5, 1.0]), -0.2),           # v . u = -0.75
                   (np.array([0.3, 0.8, -0.2]), np.array([1.0, 0.4, 0.6]), np.array([0.8, -0.3, 0.9]), 0.7),  # 1.22
                   (np.array([0.5, -0.5, 1.0, 0.0]), np.array([0.2, 0.1, -0.3, 0.4]),
                    np.array([-1.0, 0.6, 0.3, 0.2]), -0.4),                                             # -0.15, L = 4
                   (np.array([2.0, 1.5]), np.array([0.6, -0.2]), np.array([1.5, 1.0]), 1.0)],  # 0.7, tanh saturated
    mistakes=[
        Mistake(_planar(np.tanh, _V_DOT_U),
                "You used tanh itself where its derivative belongs. The Jacobian of u tanh(v . z + v0) is "
                "u tanh'(v . z + v0) v^T, and tanh'(a) = 1 - tanh^2(a)."),
        Mistake(_planar(lambda a: 1 - np.tanh(a), _V_DOT_U),
                "The derivative of tanh is 1 - tanh^2(a), with the tanh squared: you wrote 1 - tanh(a)."),
        Mistake(lambda z, u, v, v0: np.log(np.abs(_TANH_PRIME(v @ z + v0) * (v @ u))),
                "You lost the 1. The Jacobian is the identity plus a rank-one matrix, I + u r^T, and the matrix "
                "determinant lemma gives det(I + u r^T) = 1 + r^T u: the identity contributes the 1."),
        Mistake(lambda z, u, v, v0: np.abs(1 + _TANH_PRIME(v @ z + v0) * (v @ u)),
                "That is |det dg/dz| itself; the exercise asks for its logarithm, log|det dg/dz|, the term that "
                "enters log q."),
        Mistake(_planar(_TANH_PRIME, lambda u, v: u @ u),
                "The rank-one term is u r^T with r = tanh'(v . z + v0) v, so the lemma gives 1 + r^T u, which "
                "involves v . u: you used u . u."),
        Mistake(_planar(_TANH_PRIME, lambda u, v: v @ v),
                "The rank-one term is u r^T with r = tanh'(v . z + v0) v, so the lemma gives 1 + r^T u, which "
                "involves v . u: you used v . v."),
        Mistake(lambda z, u, v, v0: -planar_log_det(z, u, v, v0),
                "Wrong sign: you returned minus the log-determinant, the term that log q picks up "
                "(log q(g(z)) = log q(z) - log|det dg/dz|). Return log|det dg/dz| itself."),
    ],
    checks=[all_finite],
    hints=["Differentiate g(z) = z + u h(v . z + v0) with h = tanh: the Jacobian is I + h'(v . z + v0) u v^T, the "
           "identity plus a rank-one matrix u r^T with r = h'(v . z + v0) v.",
           "The matrix determinant lemma: det(I + u r^T) = 1 + r^T u. With h'(a) = 1 - tanh^2(a) this is "
           "1 + (1 - tanh^2(v . z + v0)) v . u; take the log of its absolute value (v @ z and v @ u are the dot "
           "products)."],
    discussion=("The i-th output of g is z_i + u_i h(v . z + v0), so dg_i/dz_j = delta_ij + u_i h'(v . z + v0) v_j: the "
                "Jacobian is I + u r^T with r = h'(v . z + v0) v. The matrix determinant lemma, det(I + u r^T) = "
                "1 + r^T u, gives log|det dg/dz| = log|1 + (1 - tanh^2(v . z + v0)) v . u|, in O(L) operations "
                "instead of the O(L^3) of a general determinant. Since 0 < 1 - tanh^2 <= 1, v . u > -1 keeps "
                "1 + (1 - tanh^2) v . u > 0 for every z, which is why the map is invertible then (the chapter's flow "
                "enforces it by modifying u). A flow's density changes by the change of variables, "
                "log q(g(z)) = log q(z) - log|det dg/dz|: a map that stretches space (det > 1) thins the density."),
))

# ---------------------------------------------------------------- dreg-weights


def dreg_weights(log_w):
    # w~_k = w_k / sum_j w_j (subtract the max before exp); DReG's path terms carry w~_k^2, not renormalised
    w = np.exp(log_w - np.max(log_w))
    return (w / w.sum())**2


def _normalised(log_w):
    w = np.exp(log_w - np.max(log_w))
    return w / w.sum()


register(Exercise(
    "dreg-weights", "The weights of the doubly reparameterised gradient", dreg_weights,
    chapter=7, kind="Coding", stars=2, minutes=20,
    probes=[(np.array([0.3, -1.0, 0.8]),),
            (np.array([-1000.0, -1000.7, -1001.5, -999.6]),),
            (np.array([800.0, 801.2, 799.1, 800.4, 798.0]),)],
    graded_probes=[(np.array([-0.5, 1.2, 0.0, -2.1]),),              # moderate
                   (np.array([-1200.3, -1199.0, -1201.8]),),          # exp underflows
                   (np.array([750.5, 752.0, 749.2, 751.1, 750.0, 748.7]),),   # exp overflows
                   (np.array([5.0, -30.0]),)],                       # one weight dominates
    mistakes=[
        Mistake(_normalised,
                "Those are the normalised weights w~_k, which multiply d log w_k / d phi in IWAE's plain gradient. "
                "DReG's rewriting of the score-function part turns each weight into w~_k^2: square them."),
        Mistake(lambda lw: _normalised(2 * lw),
                "You renormalised the squared weights to sum to one: that is w_k^2 / sum_j w_j^2, the softmax of "
                "2 log w, a different set of numbers. DReG's weights are w~_k^2 = (w_k / sum_j w_j)^2, and they sum "
                "to less than one; do not divide by their sum."),
        Mistake(lambda lw: np.exp(lw)**2,
                "You squared the unnormalised weights exp(log w_k): they are not divided by sum_j w_j, and exp "
                "overflows (log w around 800) or underflows to 0 (log w around -1000). Normalise first, in log "
                "space: subtract the maximum log-weight before exponentiating."),
        Mistake(lambda lw: (np.exp(lw) / np.exp(lw).sum())**2,
                "The formula is right but exp overflows to inf for log-weights around 800 and underflows to 0 around "
                "-1000, so you get 0/0 or inf/inf = NaN. Subtract the maximum log-weight before exponentiating "
                "(the ratio w_k / sum_j w_j does not change)."),
        Mistake(lambda lw: (len(lw) * _normalised(lw))**2,
                "You normalised by the mean of the weights instead of their sum, so your weights are K w~_k before "
                "squaring, K^2 times too large. w~_k = w_k / sum_j w_j."),
        Mistake(lambda lw: 2 * np.log(_normalised(lw)),
                "You returned log w~_k^2, the logarithm of the weights: exponentiate it."),
    ],
    checks=[all_finite],
    hints=["IWAE's estimator weights the k-th sample's term by w~_k = w_k / sum_j w_j; DReG weights its path term "
           "d log w_k / d z_k by w~_k^2. Compute w~ first, without overflow.",
           "Subtract max(log_w) from the log-weights before np.exp (the ratio w_k / sum_j w_j does not change), "
           "divide by the sum, and square the result; do not renormalise the squares."],
    discussion=("The reparameterised IWAE gradient for the encoder is sum_k w~_k d log w_k / d phi, and the part of "
                "d log w_k / d phi that goes through log q's parameters is a score function, whose noise does not "
                "shrink as K grows. Tucker et al. (2019) apply the reparameterisation trick once more to that part: "
                "the encoder gradient becomes sum_k w~_k^2 (d log w_k / d z_k)(d z_k / d phi), with the path terms "
                "only and each weighted by w~_k^2. These weights sum to sum_k w~_k^2, between 1/K and 1 (it is "
                "1 / ESS, the inverse effective sample size), and must not be renormalised: the squares are what "
                "the algebra gives, and renormalising changes the estimator's expectation. Computing them as "
                "exp(log w_k - max_j log w_j), divided by the sum, then squared, is exact for any scale of the "
                "log-weights; the naive exp overflows above log w of about 709."),
))

# ---------------------------------------------------------------- free-bits-kl


def free_bits_kl(kl, kl_min):
    # sum_i max(kl_min, KL_i), KL_i = (1/|B|) sum_n KL_{n,i}: the floor applies to each dimension's batch average
    return np.maximum(kl_min, kl.mean(axis=0)).sum()


# |B| = 4 images, L = 5 dimensions; with kl_min = 0.5 dimension 0 is above the floor and 1-4 below it on average, but in
# dimensions 2 and 3 some images are above it, so clamping each image's KL gives another value than clamping the
# average; with kl_min = 0.25 (first 3 images) dimensions 0, 2, 3 are above the floor and 1, 4 below
_KL = np.array([[1.2, 0.1, 0.9, 0.05, 0.0],
                [0.8, 0.3, 0.2, 0.9, 0.1],
                [1.5, 0.0, 0.6, 0.1, 0.2],
                [1.0, 0.2, 0.1, 0.6, 0.1]])
# graded: |B| = 6, L = 4; with kl_min = 0.4 dimensions 0 and 3 are above the floor on average and 1, 2 below it, and in
# dimensions 1 and 2 some images are above it; |B| = 2, L = 3 with kl_min = 0.15; |B| = 3, L = 6, every
# dimension below kl_min = 1.2
_KL_G = np.array([[0.9, 0.1, 0.5, 0.7],
                  [0.6, 0.6, 0.0, 0.3],
                  [1.1, 0.0, 0.1, 0.8],
                  [0.5, 0.2, 0.05, 0.4],
                  [0.7, 0.05, 0.6, 0.9],
                  [0.8, 0.3, 0.1, 0.2]])

register(Exercise(
    "free-bits-kl", "Free bits", free_bits_kl,
    chapter=7, kind="Coding", stars=2, minutes=15,
    probes=[(_KL, 0.5), (_KL[:3], 0.25), (_KL[1:] * 0.1, 0.3), (_KL.T[:, :3], 0.6)],
    graded_probes=[(_KL_G, 0.4), (np.array([[0.3, 0.1, 0.05], [0.0, 0.4, 0.1]]), 0.15),
                   (np.hstack([_KL_G[:3], _KL_G[3:, :2]]), 1.2)],
    mistakes=[
        Mistake(lambda kl, kl_min: np.maximum(kl_min, kl).mean(axis=0).sum(),
                "You applied the floor to each image's KL_{n,i} before averaging over the batch. Free bits floors "
                "each dimension's batch average, max(kl_min, (1/|B|) sum_n KL_{n,i}): a dimension is free while it carries "
                "less than kl_min nats on average, and one image above the floor does not cancel another below it."),
        Mistake(lambda kl, kl_min: max(kl_min, kl.mean(axis=0).sum()),
                "You floored the total KL, max(kl_min, sum_i KL_i). The floor applies to each latent dimension "
                "separately, sum_i max(kl_min, KL_i), so that no single dimension is pushed below kl_min nats."),
        Mistake(lambda kl, kl_min: np.maximum(kl_min, kl.mean(axis=0)),
                "You returned one floored KL per dimension: return one number, their sum over the dimensions."),
        Mistake(lambda kl, kl_min: np.maximum(kl_min, kl.mean(axis=0)).mean(),
                "You averaged over the latent dimensions; the KL of a factorised q is the sum over them, and so is "
                "the free-bits term."),
        Mistake(lambda kl, kl_min: np.minimum(kl_min, kl.mean(axis=0)).sum(),
                "min instead of max: that caps each dimension's KL at kl_min. Free bits puts a floor under it, "
                "max(kl_min, KL_i), so that KL below kl_min costs nothing extra (and gets no gradient)."),
        Mistake(lambda kl, kl_min: np.maximum(0, kl.mean(axis=0) - kl_min).sum(),
                "sum_i max(0, KL_i - kl_min) has the same gradient, but the loss value is shifted by L kl_min: report the "
                "floored KL, sum_i max(kl_min, KL_i)."),
        Mistake(lambda kl, kl_min: np.maximum(kl_min, kl.sum(axis=0)).sum(),
                "You summed the KLs over the images instead of averaging them: KL_i is the batch average "
                "(1/|B|) sum_n KL_{n,i}, a per-image value like the rest of the loss."),
    ],
    checks=[all_finite],
    hints=["First average over the images (axis 0), which gives one KL_i per latent dimension; then floor each at "
           "kl_min; then add up the dimensions.",
           "kl.mean(axis=0) has shape (L,); np.maximum(kl_min, ...) floors it elementwise; .sum() adds the "
           "dimensions."],
    discussion=("The term is sum_i max(kl_min, KL_i) with KL_i = (1/|B|) sum_n KL_{n,i}. While a dimension's average KL is "
                "below kl_min its term is the constant kl_min, so its gradient is zero: the encoder can put up to kl_min nats "
                "of information into that dimension without the prior pulling it back, which keeps dimensions from "
                "collapsing to the prior early in training (Kingma et al. 2016). Flooring each image's KL_{n,i} "
                "instead is a different objective: it exempts every image's first kl_min nats separately, and an image "
                "above the floor no longer offsets one below. The floored value is not an ELBO (it is at least "
                "L kl_min even when q equals the prior): to compare models, report the ELBO with the plain KL."),
))

# ---------------------------------------------------------------- aggregate-posterior-decomposition


def decomposition(a, s, var_x):
    # q̄(z) = N(0, r), r = a^2 Var(x) + s^2; E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q̄(z) || p(z))
    r = a**2 * var_x + s**2
    average_kl = 0.5 * (r - 1 - np.log(s**2))
    mutual_information = 0.5 * np.log(r / s**2)
    marginal_kl = 0.5 * (r - 1 - np.log(r))
    return average_kl, mutual_information, marginal_kl


def _three_terms(r, s2, log=np.log):
    """(average KL, mutual information, marginal KL) for aggregate variance r, encoder variance s2 and a log."""
    return 0.5 * (r - 1 - log(s2)), 0.5 * log(r / s2), 0.5 * (r - 1 - log(r))


def _sqrt_log(x):
    return np.log(np.sqrt(x))


register(Exercise(
    "aggregate-posterior-decomposition", "Mutual information and the aggregate posterior", decomposition,
    chapter=7, kind="Derivation", stars=2, minutes=40,
    probes=[(0.8, 0.5, 2.0), (1.5, 0.3, 1.0), (-0.7, 0.8, 0.5), (0.4, 1.3, 3.0)],
    graded_probes=[(-1.2, 0.9, 0.6), (0.0, 0.7, 2.0),        # a < 0; a = 0, posterior collapse (I = 0)
                   (2.0, 0.1, 0.8), (0.5, 1.1, 4.0)],        # small s; s > 1
    mistakes=[
        Mistake(lambda a, s, var_x: (decomposition(a, s, var_x)[0], 0.5 * np.log(a**2 * var_x / s**2), decomposition(a, s, var_x)[2]),
                "Your mutual information is 1/2 log(a^2 Var(x) / s^2), the log of the signal-to-noise ratio. The "
                "aggregate posterior's variance is a^2 Var(x) + s^2, the spread of the means a x plus the encoder's "
                "noise, so I = 1/2 log((a^2 Var(x) + s^2) / s^2) = 1/2 log(1 + SNR), which is 0, not -inf, when a = 0."),
        Mistake(lambda a, s, var_x: (decomposition(a, s, var_x)[0],) + _three_terms(s**2, s**2)[1:],
                "You left out the spread of the encoder's means: q̄(z) mixes N(a x, s^2) over x ~ N(0, Var(x)), so its "
                "variance is E[(a x)^2] + s^2 = a^2 Var(x) + s^2, not s^2."),
        Mistake(lambda a, s, var_x: _three_terms(a * var_x + s**2, s**2),
                "The mean a x has variance a^2 Var(x), not a Var(x): a scale factor enters a variance squared."),
        Mistake(lambda a, s, var_x: _three_terms(a**2 * var_x + s**2, s**2, log=_sqrt_log),
                "You took the logs of standard deviations where the formulas have variances: log s^2 = 2 log s, "
                "so with log s the factor 1/2 must become 1 (e.g. 1/2 log s^2 = log s)."),
        Mistake(lambda a, s, var_x: tuple(2 * t for t in decomposition(a, s, var_x)),
                "All three are twice the answer: the 1/2 in front of each Gaussian KL and entropy is missing "
                "(it comes from the square root in the Gaussian's normalising constant)."),
        Mistake(lambda a, s, var_x: (decomposition(a, s, var_x)[0], decomposition(a, s, var_x)[1] / np.log(2),
                                 decomposition(a, s, var_x)[2]),
                "Your mutual information is in bits (divided by log 2); the KLs are in nats, and so must it be for "
                "the two sides of the identity to agree."),
        Mistake(lambda a, s, var_x: (decomposition(a, s, var_x)[0], decomposition(a, s, var_x)[2], decomposition(a, s, var_x)[1]),
                "The numbers are right but in the wrong order: return (average_kl, mutual_information, marginal_kl)."),
    ],
    checks=[all_finite, identity_holds],
    hints=["The average KL: KL(N(a x, s^2) || N(0, 1)) = 1/2 (a^2 x^2 + s^2 - 1 - log s^2), averaged with E[x^2] = Var(x). "
           "The marginal KL is the same formula for q̄(z) = N(0, a^2 Var(x) + s^2).",
           "I_q(x; z) = E[log q(z | x) - log q̄(z)] = H[q̄(z)] - E_x H[q(z | x)], and a Gaussian's entropy is "
           "1/2 log(2 pi e variance): the difference is 1/2 log((a^2 Var(x) + s^2) / s^2)."],
    discussion=("Averaging KL(N(a x, s^2) || N(0, 1)) = 1/2 (a^2 x^2 + s^2 - 1 - log s^2) over x gives 1/2 (a^2 Var(x) + "
                "s^2 - 1 - log s^2). Writing log q(z | x) - log p(z) = [log q(z | x) - log q̄(z)] + [log q̄(z) - log "
                "p(z)] and taking the expectation over x and z splits it into I_q(x; z) = H[q̄(z)] - E_x H[q(z | x)] = "
                "1/2 log((a^2 Var(x) + s^2) / s^2) and KL(q̄(z) || p(z)) = 1/2 (a^2 Var(x) + s^2 - 1 - log(a^2 Var(x) + s^2)); the "
                "log s^2 and the log(a^2 Var(x) + s^2) cancel in the sum (Hoffman and Johnson 2016, \"ELBO surgery\"). "
                "So the KL that the ELBO charges on average pays for two things. The mutual information is "
                "information about x carried by z, which the decoder needs: a code that says nothing about x has "
                "I = 0 (a = 0, posterior collapse). The marginal KL is pure cost: the mismatch between the aggregate "
                "posterior, where the decoder is trained, and the prior, where new samples are drawn. It is an "
                "average under q̄(z), so it says that the two differ rather than where the prior's draws land; the "
                "share of prior mass in regions no encoding visits is measured from the other side, by KL(p || q̄) or "
                "by the fraction of prior draws where q̄(z) is small. Here it vanishes when a^2 Var(x) + s^2 = 1, so the best encoder for a given information content "
                "matches q̄(z) to the prior. As s -> 0 (a ≠ 0), the average KL and the mutual information both grow "
                "like -log s without bound, while the marginal KL tends to the finite 1/2 (a^2 Var(x) - 1 - "
                "log(a^2 Var(x))): a noiseless code of a continuous x carries unboundedly many nats. With N data "
                "points x is discrete, H_q(x) = log N caps the information, and the chapter's I_q <= log N applies."),
))

# ---------------------------------------------------------------- gradient-snr


def gradient_snr(draws):
    # |mean g| / std g for each coordinate (column), over the draws (rows), with the unbiased (ddof=1) std
    return np.abs(draws.mean(axis=0)) / draws.std(axis=0, ddof=1)


_RNG = np.random.default_rng(7)
_DRAWS = [np.array([1.0, -0.5, 0.2]) + np.array([1.0, 2.0, 0.5]) * _RNG.standard_normal((m, 3)) for m in (5, 40)]
# graded: other N_rep (3, 8, 100) and numbers of coordinates (4, 2, 5), means of both signs
_GRNG = np.random.default_rng(2024)
_DRAWS_G = [mean + scale * _GRNG.standard_normal((m, len(mean))) for m, mean, scale in
            ((3, np.array([0.5, -2.0, 0.1, -0.3]), np.array([0.4, 1.0, 0.2, 1.5])),
             (8, np.array([-1.5, 0.8]), np.array([2.0, 0.3])),
             (100, np.array([0.2, -0.1, 3.0, -0.6, 0.0]), np.array([1.0, 0.5, 2.0, 0.2, 1.0])))]

register(Exercise(
    "gradient-snr", "Signal-to-noise ratio of a gradient estimator", gradient_snr,
    chapter=7, kind="Coding", stars=1, minutes=10,
    probes=[(_DRAWS[0],), (_DRAWS[1],)],
    graded_probes=[(d,) for d in _DRAWS_G],
    mistakes=[
        Mistake(lambda g: np.abs(g.mean(axis=0)) / g.std(axis=0),
                "You used the standard deviation with ddof=0, which divides by N_rep instead of N_rep - 1. With N_rep = 5 "
                "draws that makes the standard deviation sqrt(4/5) times too small and the SNR sqrt(5/4) times too "
                "large; pass ddof=1 for the unbiased variance."),
        Mistake(lambda g: np.abs(g.mean(axis=0)) / g.var(axis=0, ddof=1),
                "You divided by the variance; the SNR divides by the standard deviation, so that it does not change "
                "when the gradient is rescaled."),
        Mistake(lambda g: np.abs(g).mean(axis=0) / g.std(axis=0, ddof=1),
                "You averaged |g|: the signal is the size of the mean gradient, |mean g|, and estimates of "
                "opposite signs cancel in it. Take the mean first, then the absolute value."),
        Mistake(lambda g: np.abs(g.mean(axis=0)) / (g.std(axis=0, ddof=1) / np.sqrt(len(g))),
                "You divided by the standard error of the mean, std / sqrt(N_rep): that is the SNR of the average of "
                "the N_rep draws. The exercise asks for the SNR of one gradient estimate, |mean| / std."),
        Mistake(lambda g: g.mean(axis=0) / g.std(axis=0, ddof=1),
                "Your SNR is negative for coordinates with a negative mean: take the absolute value of the mean."),
        Mistake(lambda g: np.abs(g.mean(axis=1)) / g.std(axis=1, ddof=1),
                "You reduced over axis 1, the coordinates, and got one number per draw. The draws run along axis 0: "
                "reduce over axis=0 to get one SNR per coordinate, one per coordinate."),
    ],
    checks=[all_finite],
    hints=["Each column is one coordinate of the gradient, each row one independent estimate: compute the mean and "
           "the standard deviation of each column.",
           "np.abs(draws.mean(axis=0)) / draws.std(axis=0, ddof=1)."],
    discussion=("SNR = |E[g]| / std[g], estimated per coordinate from the N_rep draws with the unbiased standard "
                "deviation. It is the quantity that decides whether a stochastic gradient step goes the right way: "
                "at SNR well below 1 a single estimate's sign is nearly a coin toss. Averaging N_rep estimates multiplies "
                "it by sqrt(N_rep), but for the IWAE encoder gradient Rainforth et al. (2018) show that it falls like "
                "1 / sqrt(K) as the number K of importance samples grows: a tighter bound with a noisier encoder "
                "gradient. DReG's w~_k^2-weighted path estimator removes the score-function part responsible, and "
                "its SNR does not fall with K (in the chapter's measurement it rises with K)."),
))
