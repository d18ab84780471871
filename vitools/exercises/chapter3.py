"""Exercises of chapter 3: the ELBO, EM and variational EM."""

import numpy as np
from scipy import stats

from vitools.data import eye_colour_table
from vitools.exercises._core import Exercise, Mistake, all_finite, register, sums_to_one
from vitools.marginal import normalise

# ---------------------------------------------------------------- 3.1


def m_step_weights(resp):
    # maximise sum_n sum_k r_nk log pi_k subject to sum_k pi_k = 1 (Lagrange): pi_k = N_k / N
    return resp.sum(axis=0) / resp.shape[0]


_RESP = (np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5], [0.6, 0.3, 0.1]]),)

register(Exercise(
    "3.1", "The M-step for the mixing weights", m_step_weights,
    probes=[_RESP, (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.25, 0.25]]),)],
    mistakes=[
        Mistake(lambda r: r.sum(axis=0), "These are the effective counts N_k = sum_n r_nk. Divide by N so "
                                         "the weights sum to one (that is what the Lagrange multiplier enforces)."),
        Mistake(lambda r: r.sum(axis=1) / r.shape[1], "You summed over the wrong axis: the sum runs over the data "
                                                      "points n (axis 0), leaving one weight per component k."),
        Mistake(lambda r: r.mean(axis=0) * r.shape[1] / r.shape[1] ** 2,
                "You divided by K, the number of components; the weights are N_k divided by N, the "
                "number of data points."),
    ],
    checks=[sums_to_one],
    hints=["Only the term sum_n sum_k r_nk log pi_k depends on pi. Add lambda (sum_k pi_k - 1).",
           "Setting the derivative to zero gives pi_k = N_k / lambda; the constraint fixes lambda."],
    discussion=("d/d pi_k [sum_n sum_k r_nk log pi_k + lambda (1 - sum_k pi_k)] = N_k / pi_k - lambda = 0, so "
                "pi_k = N_k / lambda, and summing over k gives lambda = sum_k N_k = N. Each weight is the "
                "share of the data its component is responsible for."),
))

# ---------------------------------------------------------------- 3.2


def responsibilities_from_log_joint(log_joint):
    # r_nk = p(x_n, c = k) / sum_j p(x_n, c = j), computed stably along the component axis
    shifted = log_joint - log_joint.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


_LOG_JOINT = (np.array([[-1.0, -2.0, -0.5], [-700.0, -702.0, -705.0], [-3.0, -3.0, -3.0]]),)

register(Exercise(
    "3.2", "The E-step in log space", responsibilities_from_log_joint,
    probes=[_LOG_JOINT, (np.array([[-800.0, -790.0, -795.0], [0.0, -1.0, -2.0], [-5.0, -5.0, -1.0]]),)],
    mistakes=[
        Mistake(lambda lj: np.exp(lj - lj.max(axis=0)) / np.exp(lj - lj.max(axis=0)).sum(axis=0),
                "You normalised over the data points (axis 0). Each data point gets its own posterior "
                "over components: normalise along axis 1, so every row sums to one."),
        Mistake(lambda lj: np.exp(lj), "You exponentiated the log-joint but did not divide by the evidence "
                                       "p(x_n) = sum_k p(x_n, c = k), so the rows do not sum to one."),
        Mistake(lambda lj: np.exp(lj) / np.exp(lj).sum(axis=1, keepdims=True),
                "Right formula, but exp(-700) underflows to 0 (and 0 / 0 is NaN). Subtract each row's "
                "maximum before exponentiating."),
        Mistake(lambda lj: lj - lj.max(axis=1, keepdims=True),
                "These are still logs. Exponentiate and normalise to get probabilities."),
    ],
    checks=[all_finite, sums_to_one],
    hints=["Bayes: r_nk = p(x_n, c = k) / p(x_n).", "Work row by row and subtract the row's maximum first."],
    discussion=("The responsibilities are the exact posterior p(c | x_n): a softmax of the log-joint along "
                "the component axis. Subtracting the row maximum changes nothing mathematically (it cancels "
                "in the ratio) and keeps every exponent <= 0."),
))

# ---------------------------------------------------------------- 3.3


def elbo_uniform_q_green():
    joint = normalise(eye_colour_table()[0])
    p_green_and_z = joint[2]                           # p(x = green, z)
    q = np.full(8, 1 / 8)                              # q(z) uniform over nationalities
    return float(np.sum(q * np.log(p_green_and_z / q)))


def _log_evidence_green():
    return float(np.log(normalise(eye_colour_table()[0])[2].sum()))


register(Exercise(
    "3.3", "An ELBO you can compute by hand", elbo_uniform_q_green,
    mistakes=[
        Mistake(_log_evidence_green, "That is log p(x = green) itself. The ELBO of a q that is not the "
                                     "posterior lies strictly below it, by KL(q || p(z | x))."),
        Mistake(lambda: elbo_uniform_q_green() - _log_evidence_green(),
                "That is ELBO - log p(x) = -KL(q || p(z | x)): you divided by the posterior p(z | x) "
                "instead of by q, or subtracted the evidence. Use log(p(x, z) / q(z))."),
        Mistake(lambda: float(np.sum(np.full(8, 1 / 8) * np.log(eye_colour_table()[0][2] / (1 / 8)))),
                "You used the printed table, which sums to 0.99. Normalise it first, as in chapter 1."),
    ],
    checks=[all_finite],
    hints=["ELBO(q) = sum_z q(z) log(p(x, z) / q(z)), with x = green fixed.",
           "Compare your number with log p(x = green) = log 0.434: it must be smaller."],
    discussion=("ELBO(q) = (1/8) sum_z log(8 p(green, z)) = -1.081 nats, below log p(green) = -0.834 by "
                "KL(q || p(z | green)) = 0.247. The q that closes the gap is the posterior row from chapter 1; "
                "the uniform q ignores that green eyes are rare among the Dutch and Greeks."),
))

# ---------------------------------------------------------------- 3.4


def mixture_responsibilities(X, weights, means, covariances):
    """r_nk = p(c = k | x_n) for a Gaussian mixture (numpy), via exercise 3.2's stable softmax."""
    log_joint = np.stack([np.log(w) + stats.multivariate_normal(m, C).logpdf(X)
                          for w, m, C in zip(weights, means, covariances)], axis=1)
    return responsibilities_from_log_joint(log_joint)


def gradient_wrt_means(X, weights, means, covariances):
    # Fisher's identity: d/d mu_k (1/N) sum_n log p(x_n) = (1/N) sum_n r_nk Sigma_k^{-1} (x_n - mu_k)
    resp = mixture_responsibilities(X, weights, means, covariances)
    return np.stack([resp[:, k] @ (X - m) @ np.linalg.inv(C) / len(X) for k, (m, C) in enumerate(zip(means, covariances))])


_GMM_PROBE = (np.array([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0], [-2.0, 0.5]]), np.array([0.3, 0.7]),
              np.array([[0.0, 1.0], [1.0, -1.0]]), np.array([[[1.0, 0.3], [0.3, 2.0]], [[0.5, 0.0], [0.0, 0.5]]]))


def _without_responsibilities(X, weights, means, covariances):
    return np.stack([(X - m).mean(axis=0) @ np.linalg.inv(C) for m, C in zip(means, covariances)])


def _without_inverse(X, weights, means, covariances):
    resp = mixture_responsibilities(X, weights, means, covariances)
    return np.stack([resp[:, k] @ (X - m) / len(X) for k, m in enumerate(means)])


register(Exercise(
    "3.4", "The gradient of the log-likelihood through the posterior", gradient_wrt_means,
    probes=[_GMM_PROBE], rtol=1e-6,
    mistakes=[
        Mistake(lambda X, w, mu, C: -gradient_wrt_means(X, w, mu, C),
                "Wrong sign: d/d mu of -(x - mu)^T Sigma^{-1} (x - mu) / 2 is +Sigma^{-1} (x - mu)."),
        Mistake(_without_responsibilities,
                "You averaged over all data points equally. Fisher's identity weights each point by its "
                "posterior responsibility r_nk: the gradient is E_{p(c | x)}[grad log p(x, c)]."),
        Mistake(_without_inverse, "You dropped Sigma_k^{-1}: the gradient of the Gaussian log-density "
                                  "with respect to its mean is Sigma^{-1} (x - mu), not (x - mu)."),
    ],
    checks=[all_finite],
    hints=["grad log p(x) = E_{p(c | x)}[grad log p(x, c)]: differentiate log p(x, c = k) and weight by r_nk.",
           "d/d mu_k log N(x; mu_k, Sigma_k) = Sigma_k^{-1} (x - mu_k)."],
    discussion=("By Fisher's identity, grad log p(x) = E_{p(c | x)}[grad log p(x, c)]. Only the k-th "
                "component's log-density depends on mu_k, so the gradient of the average log-likelihood is "
                "(1/N) sum_n r_nk Sigma_k^{-1} (x_n - mu_k). Setting it to zero gives exactly the M-step "
                "mean: EM and gradient ascent share their fixed points. (One source note writes grad p(x, z) "
                "inside the expectation; it must be grad log p(x, z).)"),
))

# ---------------------------------------------------------------- 3.5


def n_variational_parameters(n_data, z_dim):
    return 2 * n_data * z_dim    # a mean and a (log) standard deviation per latent coordinate per data point


register(Exercise(
    "3.5", "Counting variational parameters", n_variational_parameters,
    probes=[(1, 1), (100, 2), (60_000, 32)],
    mistakes=[
        Mistake(lambda n, L: n * L, "You counted the means only; a diagonal Gaussian also has one standard "
                                    "deviation per coordinate."),
        Mistake(lambda n, L: 2 * L, "That is the count for one data point. Variational EM keeps a separate "
                                    "q_n for every data point: it grows with N."),
        Mistake(lambda n, L: n * (L + L * (L + 1) // 2), "That is the count for full-covariance q_n; the "
                                                         "question asks for diagonal ones."),
    ],
    checks=[all_finite],
    hints=["Each q_n = N(m_n, diag(s_n^2)) has its own m_n and s_n."],
    discussion=("2 N L: 3.84 million numbers for 60,000 images with a 32-dimensional latent, all of them "
                "re-optimised for every new data point. An encoder network that maps x_n to (m_n, s_n) has a "
                "fixed number of parameters whatever N is: amortised inference, chapter 5."),
))
