"""A mixture of Bernoullis for binary vectors: the model behind the hidden-pixels example (chapters 1, 3 and 5).

    p(c) = pi_c,    p(x | c) = prod_d mu_cd^{x_d} (1 - mu_cd)^{1 - x_d},    c = 1, ..., C

Given c the pixels are independent, so summing a hidden pixel out of p(x | c) gives 1 and
the probability of the observed pixels O alone is exact and cheap (the latent is z = (c, x_H)):

    log p(x_O) = logsumexp_c [ log pi_c + sum_{d in O} x_d log mu_cd + (1 - x_d) log(1 - mu_cd) ].

The prior, posterior, ELBO and E-step are those every mixture shares (:class:`vitools.mixtures.Mixture`);
the posterior and the log-marginal here also take the mask of observed pixels.
"""

import torch
from torch.distributions import Bernoulli, Categorical, Independent

from vitools._validate import binary_tensor, finite_number, integer, positive_int, tolerance
from vitools.mixtures import Mixture

_MAX_HIDDEN = 20  # log_marginal_enumerate refuses more hidden pixels than this


class BernoulliMixture(Mixture):
    """C-component mixture of Bernoullis, fitted by (MAP-)EM.

    Parameters
    ----------
    n_components : int
        The number of components C, >= 1.
    alpha : float
        Pseudo-count of the smoothing, >= 0. Each mu_cd gets a Beta(1 + alpha, 1 + alpha) prior and
        the M-step takes the posterior mode, mu_cd = (sum_n r_nc x_nd + alpha) / (N_c + 2 alpha) with
        N_c = sum_n r_nc, so with alpha > 0 no mean is ever exactly 0 or 1 (MAP-EM) and no image gets
        log-probability -inf. alpha = 0 is plain maximum-likelihood EM.

    Attributes
    ----------
    Set by :meth:`fit`; ``weights_`` and ``means_`` are None before it.

    weights_ : tensor, shape (C,)
        The mixing weights pi.
    means_ : tensor, shape (C, D)
        The pixel probabilities mu.
    log_likelihood_ : list of float
        The average log-likelihood (1/N) sum_n log p(x_n) over the training rows after each EM iteration.
    objective_ : list of float
        The objective MAP-EM increases, after each iteration: the average log-likelihood plus
        (alpha / N) sum_{c,d} [log mu_cd + log(1 - mu_cd)], the log of the Beta(1 + alpha, 1 + alpha)
        prior up to a constant, divided by N. Equal to ``log_likelihood_`` when alpha = 0. EM guarantees
        that this never decreases; with alpha > 0 the log-likelihood alone may.
    n_iter_ : int
        The number of EM iterations run.
    converged_ : bool
        Whether the objective improved by less than ``tol`` before ``max_iter``.

    Parameters and every returned tensor are float64 on the device of the data passed to fit. The shared
    methods (``prior``, ``decoder``, ``log_joint``, ``elbo_terms``, ``sample``, ...) are documented in
    :class:`vitools.mixtures.Mixture`.
    """

    def __init__(self, n_components: int, *, alpha: float = 1.0):
        self.n_components = positive_int(n_components, "n_components")
        self.alpha = finite_number(alpha, "alpha", 0, role="is a pseudo-count")
        self.weights_ = self.means_ = None

    def fit(self, x, *, max_iter: int = 100, tol: float = 1e-6, seed: int = 0) -> "BernoulliMixture":
        """Fit pi and mu to the binary rows of ``x`` (shape (N, D)) by EM; returns ``self``.

        The means start at C distinct random rows of ``x`` pulled halfway to 0.5 (rows drawn with a CPU
        ``torch.Generator`` seeded by ``seed``, so the start is the same on every device; the global RNG is
        untouched). Each iteration is an M-step, pi_c = N_c / N and the smoothed mu above, from the current
        responsibilities r_nc = p(c | x_n), then the E-step in log space. EM stops when the
        objective (``objective_``: the average log-likelihood plus the log-prior of mu over N) improves by
        less than ``tol``, or after ``max_iter`` iterations.
        """
        max_iter, tol, seed = positive_int(max_iter, "max_iter"), tolerance(tol, "tol"), integer(seed, "seed")
        x = binary_tensor(x, "x").to(torch.float64)
        if x.shape[0] < self.n_components:
            raise ValueError(f"x has {x.shape[0]} rows but the model has {self.n_components} components; "
                             f"pass at least n_components rows")
        if x.shape[1] < 1:
            raise ValueError("x has no columns; pass rows with at least one pixel")
        gen = torch.Generator().manual_seed(seed)        # on the CPU: the same start on every device
        start = torch.randperm(x.shape[0], generator=gen)[: self.n_components].to(x.device)
        self.means_ = 0.5 * (x[start] + 0.5)
        self.weights_ = torch.full((self.n_components,), 1 / self.n_components, dtype=x.dtype, device=x.device)
        resp, log_lik = self._e_step(x)
        previous = log_lik + self._log_prior() / x.shape[0]
        self.log_likelihood_, self.objective_, self.converged_ = [], [], False
        for self.n_iter_ in range(1, max_iter + 1):
            n_c = resp.sum(0)
            self.weights_ = n_c / x.shape[0]
            # clamps, for alpha = 0: a component that lost every point would give 0 / 0, and a pixel on in all
            # of a component's points can round to 1 + 1e-16 (its log1p(-mu) NaN, and torch.bernoulli refusing it)
            denominator = (n_c[:, None] + 2 * self.alpha).clamp_min(torch.finfo(x.dtype).tiny)
            self.means_ = ((resp.T @ x + self.alpha) / denominator).clamp_max(1.0)
            resp, log_lik = self._e_step(x)
            current = log_lik + self._log_prior() / x.shape[0]
            self.log_likelihood_.append(log_lik)
            self.objective_.append(current)
            if current - previous < tol:
                self.converged_ = True
                break
            previous = current
        return self

    def component_log_joint(self, x, *, observed=None) -> torch.Tensor:
        """The table log p(x_O, c) = log pi_c + sum_{d in O} [x_d log mu_cd + (1 - x_d) log(1 - mu_cd)], shape (N, C).

        ``observed`` as in :meth:`log_marginal`; None (every pixel observed) gives log p(x_n, c).
        """
        x = self._as_x(x)
        return torch.log(self.weights_) + self._log_likelihood_table(x, self._as_mask(observed, x))

    def log_marginal(self, x, *, observed=None) -> torch.Tensor:
        """Exact log p(x_O) for each row, the hidden pixels and the component summed out.

        Parameters
        ----------
        x : tensor, shape (N, D)
            Binary rows; hidden entries must still be 0 or 1 but their values are ignored.
        observed : bool tensor, shape (D,) or (N, D), optional
            True where a pixel is observed; None means every pixel is observed.

        Returns
        -------
        tensor, shape (N,)
        """
        return torch.logsumexp(self.component_log_joint(x, observed=observed), dim=1)

    def posterior(self, x, *, observed=None) -> Categorical:
        """The exact p(c | x_O), a Categorical of batch shape (N,); ``.probs`` holds the responsibilities (N, C).

        ``observed`` as in :meth:`log_marginal`.
        """
        return Categorical(logits=self.component_log_joint(x, observed=observed))

    def log_marginal_enumerate(self, x, *, observed) -> torch.Tensor:
        """log p(x_O) by brute force: logsumexp over all 2^|H| hidden configurations and C components.

        Computes log p(x_O, x_H, c) for every one of the 2^|H| values x_H of the |H| hidden
        pixels and every c, the cost that :meth:`log_marginal` avoids. ``observed`` must be one (D,) mask for
        all rows, with at most 20 hidden pixels.
        """
        x = self._as_x(x)
        observed = self._as_mask(observed, x, per_row=False)
        hidden = torch.nonzero(~observed).squeeze(1)
        n = hidden.numel()
        if n > _MAX_HIDDEN:
            raise ValueError(f"observed hides {n} pixels; enumerating them would need 2^{n} * {self.n_components} "
                             f"= {2**n * self.n_components:.3g} terms per row (at most {_MAX_HIDDEN} hidden "
                             f"pixels allowed); use log_marginal instead")
        # log p(x_H | c) for every configuration, built one hidden pixel at a time: before step j, rows
        # 0 .. 2^j - 1 hold every configuration of pixels 0 .. j-1; step j copies them with pixel j = 1 into
        # rows 2^j .. 2^(j+1) - 1 and gives the originals pixel j = 0 (row i has pixel j equal to bit j of i).
        # Every one of the C * 2^|H| terms is formed explicitly, at about one addition each.
        log_on, log_off = torch.log(self.means_[:, hidden]), torch.log1p(-self.means_[:, hidden])  # (C, |H|)
        log_hidden = torch.empty(2**n, self.n_components, dtype=x.dtype, device=x.device)
        log_hidden[0] = 0.0
        for j in range(n):
            torch.add(log_hidden[: 2**j], log_on[:, j], out=log_hidden[2**j : 2 ** (j + 1)])
            log_hidden[: 2**j] += log_off[:, j]
        log_observed = torch.log(self.weights_) + self._log_likelihood_table(x, observed)  # (N, C)
        return torch.stack([torch.logsumexp(row + log_hidden, dim=(0, 1)) for row in log_observed])

    def complete_hidden(self, x, *, observed) -> torch.Tensor:
        """Observed pixels copied from ``x``, hidden ones filled with E[x_d | x_O] = sum_c p(c | x_O) mu_cd.

        ``observed`` is a bool mask of shape (D,) or (N, D); returns shape (N, D), values in [0, 1].
        """
        x = self._as_x(x)
        observed = self._as_mask(observed, x)
        expected = self.posterior(x, observed=observed).probs @ self.means_
        return torch.where(observed, x, expected)

    def _log_prior(self) -> float:
        """alpha * sum_{c,d} [log mu_cd + log(1 - mu_cd)]: the Beta(1 + alpha, 1 + alpha) log-prior up to a constant."""
        if self.alpha == 0:   # plain EM: no prior (and 0 * log 0 would be NaN for a mean of exactly 0 or 1)
            return 0.0
        return self.alpha * (torch.log(self.means_) + torch.log1p(-self.means_)).sum().item()

    # ------------------------------------------------ the hooks of Mixture

    def _mixing_weights(self):
        self._check_fitted()
        return self.weights_

    def _log_likelihood_table(self, x, observed=None):
        """sum_{d in O} x_d log mu_cd + (1 - x_d) log(1 - mu_cd) per row and component, shape (N, C)."""
        if observed is None:
            return _log_lik(x, 1 - x, self.means_)
        return _log_lik(x * observed, (1 - x) * observed, self.means_)

    def _component_distribution(self, c):
        return Independent(Bernoulli(probs=self.means_[c]), 1)

    def _draw_given(self, c, gen):
        return torch.bernoulli(self.means_[c], generator=gen)

    def _check_fitted(self):
        if self.means_ is None:
            raise RuntimeError("this BernoulliMixture has no parameters yet; call fit(x) first")

    def _as_x(self, x) -> torch.Tensor:
        self._check_fitted()
        x = binary_tensor(x, "x").to(dtype=self.means_.dtype, device=self.means_.device)
        if x.shape[1] != self.means_.shape[1]:
            raise ValueError(f"x has {x.shape[1]} columns but the model has D = {self.means_.shape[1]} pixels; "
                             f"pass rows of the same length as the training data")
        return x

    def _as_mask(self, observed, x, per_row: bool = True):
        if observed is None:
            return torch.ones(x.shape[1], dtype=torch.bool, device=x.device)
        try:
            mask = torch.as_tensor(observed, device=x.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"observed must be a bool tensor (True = observed pixel), got {type(observed).__name__}") \
                from error
        if mask.dtype != torch.bool:
            raise ValueError(f"observed must be a bool tensor (True = observed pixel), got dtype {mask.dtype}")
        shapes = [(x.shape[1],), tuple(x.shape)] if per_row else [(x.shape[1],)]
        if tuple(mask.shape) not in shapes:
            raise ValueError(f"observed must have shape {' or '.join(map(str, shapes))} to match x, "
                             f"got {tuple(mask.shape)}")
        return mask




def _log_lik(on, off, means):
    """sum_d on_d log mu_cd + off_d log(1 - mu_cd) for every row and component, shape (N, C).

    ``on`` and ``off`` (N, D) are 1 where a pixel counts as a 1 or as a 0. One matrix product; a
    mean of exactly 0 or 1 (possible with alpha = 0) has log 0 = -inf, and 0 * -inf is NaN inside
    a product, so those logs are zeroed there and only the rows that use them get -inf.
    """
    counts = torch.cat([on, off], dim=1)
    logs = torch.cat([torch.log(means), torch.log1p(-means)], dim=1)
    finite = torch.isfinite(logs)
    impossible = counts @ (~finite).to(counts.dtype).T > 0
    return (counts @ torch.where(finite, logs, 0.0).T).masked_fill(impossible, -torch.inf)
