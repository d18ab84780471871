"""Exercises of chapter 3: the ELBO, EM and variational EM."""

import numpy as np
from scipy import stats

from vitools.data import eye_colour_table
from vitools.exercises._core import Exercise, Mistake, all_finite, register, sums_to_one
from vitools.marginal import normalise

# ---------------------------------------------------------------- m-step-weights


def m_step_weights(resp):
    # maximise sum_n sum_c r_nc log pi_c subject to sum_c pi_c = 1 (Lagrange): pi_c = N_c / N
    return resp.sum(axis=0) / resp.shape[0]


_RESP = (np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5], [0.6, 0.3, 0.1]]),)

register(Exercise(
    "m-step-weights", "The M-step for the mixing weights", m_step_weights,
    chapter=3, kind="Derivation", stars=1, minutes=15,
    probes=[_RESP, (np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.25, 0.25]]),)],
    # N > C, N < C and N = C, with one-hot rows and a uniform row
    graded_probes=[(np.array([[0.7, 0.3], [0.1, 0.9], [0.5, 0.5], [0.85, 0.15], [0.0, 1.0]]),),
                   (np.array([[0.4, 0.3, 0.2, 0.1], [0.05, 0.05, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]]),),
                   (np.array([[0.0, 0.0, 1.0, 0.0], [0.6, 0.2, 0.1, 0.1], [0.3, 0.3, 0.0, 0.4],
                              [0.1, 0.7, 0.1, 0.1]]),)],
    mistakes=[
        Mistake(lambda r: r.sum(axis=0), "These are the effective counts N_c = sum_n r_nc. Divide by N so "
                                         "the weights sum to one (that is what the Lagrange multiplier enforces)."),
        Mistake(lambda r: r.sum(axis=1) / r.shape[1], "You summed over the wrong axis: the sum runs over the data "
                                                      "points n (axis 0), leaving one weight per component c."),
        Mistake(lambda r: r.sum(axis=0) / r.shape[1],
                "You divided by C, the number of components; the weights are N_c divided by N, the "
                "number of data points (sum_c N_c = N, so they then sum to one)."),
    ],
    checks=[sums_to_one],
    hints=["Only the term sum_n sum_c r_nc log pi_c depends on pi. Add a multiplier times (1 - sum_c pi_c).",
           "Setting the derivative to zero gives pi_c = N_c / (the multiplier); the constraint fixes it."],
    discussion=("With a Lagrange multiplier Phi for the constraint, d/d pi_c [sum_n sum_c' r_nc' log pi_c' + "
                "Phi (1 - sum_c' pi_c')] = N_c / pi_c - Phi = 0, so pi_c = N_c / Phi, and summing over c gives "
                "Phi = sum_c N_c = N. Each weight is the share of the data its component is responsible for."),
))

# ---------------------------------------------------------------- e-step-log-space


def responsibilities(log_joint):
    # r_nc = p(x_n, c) / sum_c' p(x_n, c'), computed stably along the component axis
    shifted = log_joint - log_joint.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=1, keepdims=True)


_LOG_JOINT = (np.array([[-1.0, -2.0, -0.5], [-800.0, -802.0, -805.0], [-3.0, -3.0, -3.0]]),)

register(Exercise(
    "e-step-log-space", "The E-step in log space", responsibilities,
    chapter=3, kind="Coding", stars=2, minutes=15,
    probes=[_LOG_JOINT, (np.array([[-800.0, -790.0, -795.0], [0.0, -1.0, -2.0], [-5.0, -5.0, -1.0]]),)],
    # rows around -750 to -1000 (exp underflows), rows with ties; N = C (the broadcasting slips run silently) and
    # N != C (4 x 2)
    graded_probes=[(np.array([[-2.0, -0.5, -1.5], [-900.0, -903.0, -899.0], [-4.0, -4.0, -1.0]]),),
                   (np.array([[-760.0, -755.0], [-1.0, -3.0], [-2.0, -2.0], [-850.0, -852.0]]),),
                   (np.array([[0.5, -1.0, -2.0, -0.2], [-1000.0, -995.0, -998.0, -1001.0],
                              [-3.0, -3.5, -3.0, -7.0], [-6.0, -2.0, -4.0, -5.0]]),)],
    mistakes=[
        Mistake(lambda lj: np.exp(lj - lj.max(axis=0)) / np.exp(lj - lj.max(axis=0)).sum(axis=0),
                "You normalised over the data points (axis 0). Each data point gets its own posterior "
                "over components: normalise along axis 1, so every row sums to one."),
        Mistake(lambda lj: np.exp(lj), "You exponentiated the log-joint but did not divide by the evidence "
                                       "p(x_n) = sum_c p(x_n, c), so the rows do not sum to one."),
        Mistake(lambda lj: np.exp(lj) / np.exp(lj).sum(axis=1, keepdims=True),
                "Right formula, but exp(-800) underflows to 0 (float64 underflows to 0 below about -745), "
                "and 0 / 0 is NaN. Subtract each row's maximum before exponentiating."),
        Mistake(lambda lj: np.exp(lj - lj.max(axis=1)) / np.exp(lj - lj.max(axis=1)).sum(axis=1, keepdims=True),
                "You subtracted the maximum, but lj.max(axis=1) has shape (N,) and broadcasting subtracts it "
                "along the component axis: entry (n, c) loses the maximum of row c, not of row n (with N = C it "
                "runs silently; otherwise it raises). Keep the axis: lj.max(axis=1, keepdims=True)."),
        Mistake(lambda lj: (lambda w: w / w.sum(axis=1))(np.exp(lj - lj.max(axis=1, keepdims=True))),
                "The exponentials are right, but w.sum(axis=1) has shape (N,) and broadcasting divides entry "
                "(n, c) by the total of row c, not of row n. Keep the axis: w.sum(axis=1, keepdims=True)."),
        Mistake(lambda lj: lj - lj.max(axis=1, keepdims=True),
                "These are still logs. Exponentiate and normalise to get probabilities."),
    ],
    checks=[all_finite, sums_to_one],
    hints=["Bayes: r_nc = p(x_n, c) / p(x_n).", "Work row by row and subtract the row's maximum first."],
    discussion=("The responsibilities are the exact posterior p(c | x_n): a softmax of the log-joint along "
                "the component axis. Subtracting the row maximum changes nothing mathematically (it cancels "
                "in the ratio) and keeps every exponent <= 0."),
))

# ---------------------------------------------------------------- elbo-by-hand


def elbo_uniform_q_green():
    joint = normalise(eye_colour_table()[0])
    p_green_and_z = joint[2]                           # p(x = green, z)
    q = np.full(8, 1 / 8)                              # q(z) uniform over nationalities
    return float(np.sum(q * np.log(p_green_and_z / q)))


def _log_evidence_green():
    return float(np.log(normalise(eye_colour_table()[0])[2].sum()))


register(Exercise(
    "elbo-by-hand", "An ELBO you can compute by hand", elbo_uniform_q_green,
    chapter=3, kind="Coding", stars=1, minutes=10,
    mistakes=[
        Mistake(_log_evidence_green, "That is log p(x = green) itself. The ELBO of a q that is not the "
                                     "posterior lies strictly below it, by KL(q || p(z | x))."),
        Mistake(lambda: elbo_uniform_q_green() - _log_evidence_green(),
                "That is ELBO - log p(x) = sum_z q(z) log(p(z | x) / q(z)) = -KL(q || p(z | x)): you put the "
                "posterior p(z | x) in the numerator instead of the joint p(x, z), or subtracted the evidence. "
                "Use log(p(x, z) / q(z))."),
        Mistake(lambda: elbo_uniform_q_green() - np.log(8),
                "That is E_q[log p(x, z)] alone: you left out the entropy H(q) = log 8 of the uniform q, "
                "the -log q(z) inside log(p(x, z) / q(z))."),
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

# ---------------------------------------------------------------- fisher-identity-gradient


def mixture_responsibilities(X, weights, means, covariances):
    """r_nc = p(c | x_n) for a Gaussian mixture (numpy), via exercise `e-step-log-space`'s stable softmax."""
    log_joint = np.stack([np.log(w) + stats.multivariate_normal(m, C).logpdf(X)
                          for w, m, C in zip(weights, means, covariances)], axis=1)
    return responsibilities(log_joint)


def grad_means(X, weights, means, covariances):
    # Fisher's identity: d/d mu_c l(theta) = (1/N) sum_n r_nc Sigma_c^{-1} (x_n - mu_c), r_nc computed at this theta
    resp = mixture_responsibilities(X, weights, means, covariances)
    return np.stack([resp[:, c] @ (X - m) @ np.linalg.inv(S) / len(X) for c, (m, S) in enumerate(zip(means, covariances))])


def _m_step(X, resp):
    """The closed-form M-step (pi, mu, Sigma) of the Gaussian mixture for fixed responsibilities."""
    n_c = resp.sum(axis=0)
    means = resp.T @ X / n_c[:, None]
    covariances = np.stack([(resp[:, c, None] * (X - means[c])).T @ (X - means[c]) / n_c[c] for c in range(len(n_c))])
    return n_c / len(X), means, covariances


def _probes():
    """theta_t (a poor guess) and theta_{t+1}, one EM iteration later, on 60 points from three clusters in 2-D.

    C = 3 components and D = 2 dimensions differ, so a transposed (D, C) answer has the wrong shape.
    """
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal([-1.5, 0.0], 0.7, (20, 2)), rng.normal([1.5, 1.0], 0.9, (20, 2)),
                        rng.normal([0.0, 3.0], 0.6, (20, 2))])
    theta_t = (np.array([0.2, 0.5, 0.3]), np.array([[0.0, 1.0], [1.0, -1.0], [-0.5, 2.0]]),
               np.array([[[1.0, 0.3], [0.3, 2.0]], [[0.5, 0.0], [0.0, 0.5]], [[1.5, -0.2], [-0.2, 0.8]]]))
    theta_next = _m_step(X, mixture_responsibilities(X, *theta_t))
    return [(X, *theta_t), (X, *theta_next)]


def _graded_probes():
    """Like _probes, on other data: 50 points from two clusters in 3-D (C = 2, D = 3), theta_t and two EM steps."""
    rng = np.random.default_rng(17)
    X = np.concatenate([rng.normal([1.0, -1.0, 0.5], 0.8, (30, 3)), rng.normal([-1.0, 2.0, 0.0], 0.6, (20, 3))])
    theta_t = (np.array([0.65, 0.35]), np.array([[0.5, 0.0, 1.0], [-0.5, 1.0, -0.5]]),
               np.array([[[1.2, 0.2, 0.0], [0.2, 0.9, -0.1], [0.0, -0.1, 1.5]], np.diag([0.7, 1.1, 0.6])]))
    theta_1 = _m_step(X, mixture_responsibilities(X, *theta_t))
    theta_2 = _m_step(X, mixture_responsibilities(X, *theta_1))
    return [(X, *theta_t), (X, *theta_1), (X, *theta_2)]


def _without_responsibilities(X, weights, means, covariances):
    return np.stack([(X - m).mean(axis=0) @ np.linalg.inv(S) for m, S in zip(means, covariances)])


def _without_inverse(X, weights, means, covariances):
    resp = mixture_responsibilities(X, weights, means, covariances)
    return np.stack([resp[:, c] @ (X - m) / len(X) for c, m in enumerate(means)])


def _without_weights(X, weights, means, covariances):
    return grad_means(X, np.full(len(weights), 1 / len(weights)), means, covariances)


def _divided_by_n_c(X, weights, means, covariances):
    resp = mixture_responsibilities(X, weights, means, covariances)
    return grad_means(X, weights, means, covariances) * len(X) / resp.sum(axis=0)[:, None]


register(Exercise(
    "fisher-identity-gradient", "The gradient of the log-likelihood through the posterior", grad_means,
    chapter=3, kind="Derivation", stars=2, minutes=45,
    probes=_probes(), rtol=1e-6, graded_probes=_graded_probes(),
    mistakes=[
        Mistake(lambda X, w, mu, S: len(X) * grad_means(X, w, mu, S),
                "That is N times too large: you summed over the data points. l(theta) is the average "
                "(1/N) sum_n log p(x_n), so its gradient carries the 1/N too."),
        Mistake(lambda X, w, mu, S: np.zeros_like(mu),
                "You returned zeros. The M-step zeroes the gradient of Q(theta, theta_t), whose responsibilities "
                "are frozen at theta_t, and it does so at theta_{t+1}. The gradient of l at theta uses the "
                "responsibilities of theta itself, so it is zero only at a fixed point of EM (theta_{t+1} = theta_t), "
                "not at the output of an M-step in general (the checker tries your function at one)."),
        Mistake(lambda X, w, mu, S: -grad_means(X, w, mu, S),
                "Wrong sign: d/d mu of -(x - mu)^T Sigma^{-1} (x - mu) / 2 is +Sigma^{-1} (x - mu)."),
        Mistake(_without_responsibilities,
                "You averaged over all data points equally. Fisher's identity weights each point by its "
                "posterior responsibility r_nc: the gradient is E_{p(c | x)}[grad log p(x, c)]."),
        Mistake(_without_inverse, "You dropped Sigma_c^{-1}: the gradient of the Gaussian log-density "
                                  "with respect to its mean is Sigma^{-1} (x - mu), not (x - mu)."),
        Mistake(_without_weights, "Your responsibilities leave out the mixture weights: r_nc is proportional to "
                                  "pi_c N(x_n; mu_c, Sigma_c), not to N(x_n; mu_c, Sigma_c) alone."),
        Mistake(_divided_by_n_c, "You divided by N_c = sum_n r_nc instead of N. That is Sigma_c^{-1} times the "
                                 "M-step's move of mu_c; the gradient of the average log-likelihood l is N_c / N "
                                 "times it."),
    ],
    checks=[all_finite],
    hints=["grad log p(x) = E_{p(c | x)}[grad log p(x, c)]: differentiate log p(x, c) in mu_c and weight by r_nc.",
           "d/d mu_c log N(x; mu_c, Sigma_c) = Sigma_c^{-1} (x - mu_c); compute r_nc at the theta you are given.",
           "The M-step's mean sets (1/N) sum_n r_nc(theta_t) Sigma_c^{-1} (x_n - mu_c) to zero. Which "
           "responsibilities does your gradient use at theta_{t+1}?"],
    discussion=("By Fisher's identity, grad log p_theta(x) = E_{p_theta(c | x)}[grad log p_theta(x, c)]. Only "
                "the c-th component's log-density depends on mu_c, so grad_{mu_c} l(theta) = "
                "(1/N) sum_n r_nc Sigma_c^{-1} (x_n - mu_c), with r_nc = p_theta(c | x_n) computed at the same "
                "theta.\n\n"
                "It does **not** vanish at the M-step's means. The M-step sets mu_c = sum_n r_nc x_n / N_c with "
                "the responsibilities of theta_t: it zeroes grad_theta Q(theta, theta_t), the gradient of the "
                "expected complete-data log-likelihood with theta_t frozen, at theta = theta_{t+1}. The gradient "
                "of l at theta_{t+1} uses the responsibilities of theta_{t+1}, which differ, so it is not zero "
                "(the checker evaluates it at the output of one M-step). What Fisher's identity does give is grad l(theta_t) = "
                "grad_theta Q(theta, theta_t) at theta = theta_t. At a fixed point of EM, theta_{t+1} = theta_t "
                "= theta*, the M-step's condition grad_theta Q(theta*, theta*) = 0 then reads grad l(theta*) = 0: "
                "EM's fixed points are stationary points of l, the points gradient ascent can also stop at.\n\n"
                "A common slip writes grad_theta p(x, z) inside the expectation; the correct integrand is "
                "grad_theta log p(x, z)."),
))

# ---------------------------------------------------------------- count-variational-parameters


def n_variational_parameters(n_data, z_dim):
    return 2 * n_data * z_dim    # a mean and a (log) standard deviation per latent coordinate per data point


register(Exercise(
    "count-variational-parameters", "Counting variational parameters", n_variational_parameters,
    chapter=3, kind="Derivation", stars=1, minutes=5,
    probes=[(1, 1), (100, 2), (60_000, 32)],
    # L > 1 everywhere (at L = 1 a full covariance has as many numbers as a diagonal one), a large N
    graded_probes=[(10, 3), (250, 5), (70_000, 16)],
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
                "fixed number of parameters whatever N is: amortised inference, chapter 6."),
))
