"""What every mixture model shares: the prior over components, the exact posterior and log p(x), the ELBO, the E-step.

A mixture has a discrete latent, the component c = 1, ..., C:

    p(c) = pi_c,    p(x | c) = the component's density,    log p(x, c) = log pi_c + log p(x | c).

Everything exact follows from the (N, C) table of log p(x_n, c) (:meth:`Mixture.component_log_joint`):

    log p(x_n)     = logsumexp_c log p(x_n, c)                       (the exact log-marginal)
    p(c | x_n)     = exp(log p(x_n, c) - log p(x_n))                 (the posterior: the responsibilities r_nc)

and, for any q_n(c), the ELBO is a finite sum, exact:

    ELBO(x_n; q_n) = sum_c q_n(c) log p(x_n | c) - KL(q_n || p(c))
                   = sum_c q_n(c) log p(x_n, c) + H(q_n)
                   = log p(x_n) - KL(q_n || p(c | x_n)),

equal to log p(x_n) at q_n = p(c | x_n) and below it everywhere else. The E-step of EM is that posterior;
both EMs of the book (:class:`vitools.gaussian_mixture.GaussianMixtureEM` and
:class:`vitools.bernoulli_mixture.BernoulliMixture`) run the one E-step of :class:`Mixture`.
"""

from abc import ABC, abstractmethod

import torch
from torch.distributions import Categorical, Distribution

from vitools._validate import integer, positive_int
from vitools.bounds import kl_to_prior


class Mixture(ABC):
    """The shared base of the book's mixtures: p(c) = Categorical(pi), p(x | c) from the subclass.

    An abstract base: a subclass supplies its mixing weights pi, the table log p(x_n | c) and p(x | c) as a
    distribution (the abstract hooks at the end of the class); the base derives the prior, the log-joint, the exact
    posterior and log-marginal, the ELBO's terms, ancestral sampling and the E-step. The latent of the
    model interface (``log_joint(x, z)``, ``decoder(z)``) is z = c, a LongTensor of component indices,
    so :func:`vitools.bounds.iwae_bound` works on a mixture with q = ``model.posterior(x)`` or ``model.prior``.
    """

    @property
    def prior(self) -> Categorical:
        """p(c) = Categorical(pi), batch shape (), C categories."""
        return Categorical(probs=self._mixing_weights())

    def decoder(self, c) -> Distribution:
        """p(x | c) for each entry of ``c`` (a LongTensor of component indices): batch shape ``c.shape``."""
        return self._component_distribution(self._as_c(c))

    def log_joint(self, x, c) -> torch.Tensor:
        """log p(x_n, c_n) = log pi_{c_n} + log p(x_n | c_n), read off :meth:`component_log_joint`.

        ``c`` holds component indices of shape (N,), or (S, N) for S samples per row (any shape that
        broadcasts against (N,)); the result has the broadcast shape.
        """
        x = self._as_x(x)
        c = self._as_c(c)
        try:
            shape = torch.broadcast_shapes(c.shape, x.shape[:1])
        except RuntimeError as error:
            raise ValueError(f"c must have shape (..., N) = (..., {x.shape[0]}), one component per row of x, "
                             f"got {tuple(c.shape)}") from error
        rows = torch.arange(x.shape[0], device=c.device).expand(shape)
        return self._log_joint_table(x)[rows, c.expand(shape)]

    def component_log_joint(self, x) -> torch.Tensor:
        """The table log p(x_n, c) = log pi_c + log p(x_n | c), shape (N, C). Differentiable in the parameters."""
        return self._log_joint_table(self._as_x(x))

    def posterior(self, x) -> Categorical:
        """The exact posterior p(c | x_n) = pi_c p(x_n | c) / p(x_n), a Categorical of batch shape (N,).

        ``.probs`` is the (N, C) table of responsibilities r_nc, each row summing to 1.
        """
        return Categorical(logits=self.component_log_joint(x))

    def log_marginal(self, x) -> torch.Tensor:
        """The exact log p(x_n) = logsumexp_c [log pi_c + log p(x_n | c)] per row, shape (N,)."""
        return torch.logsumexp(self.component_log_joint(x), dim=1)

    def elbo_terms(self, x, q) -> dict:
        """Every term of ELBO(x_n; q_n) for a distribution q_n(c) over the components, exactly (a sum over c).

        - ``expected_log_likelihood``: E_q[log p(x | c)] = sum_c q_n(c) log p(x_n | c)
        - ``kl_to_prior``:             KL(q_n || p(c)) = sum_c q_n(c) log(q_n(c) / pi_c)
          (``torch.distributions.kl_divergence`` of the two Categoricals, via :func:`vitools.bounds.kl_to_prior`)
        - ``expected_log_prior``:      E_q[log p(c)] = sum_c q_n(c) log pi_c
        - ``entropy``:                 H(q_n) = -sum_c q_n(c) log q_n(c)
        - ``expected_log_joint``:      E_q[log p(x, c)] = sum_c q_n(c) log p(x_n, c); with q_n = p_theta_t(c | x_n)
          held fixed, its average over n is EM's Q(theta, theta_t)
        - ``elbo``:                    E_q[log p(x | c)] - KL(q_n || p(c)) = E_q[log p(x, c)] + H(q_n)

        Terms with q_n(c) = 0 count as 0 (0 log 0 = 0), even where log p(x_n | c) = -inf. Differentiable in the
        model's parameters and in q's; pass a q that does not require gradients (the posterior of a fixed model)
        for Q(., theta_t).

        Parameters
        ----------
        x : tensor, shape (N, D)
        q : torch.distributions.Categorical
            C categories, batch shape (N,) (one q_n per row) or () (the same q for every row).

        Returns
        -------
        dict of tensors, shape (N,)
        """
        x = self._as_x(x)
        log_likelihood = self._log_likelihood_table(x)
        weights = self._mixing_weights()
        q = self._check_q(q, x.shape[0], weights.shape[0])
        probs = q.probs.to(log_likelihood).expand_as(log_likelihood)
        terms = {
            "expected_log_likelihood": _expectation(probs, log_likelihood),
            "kl_to_prior": kl_to_prior(q, self.prior).to(log_likelihood).expand(x.shape[0]),
            "expected_log_prior": _expectation(probs, torch.log(weights).expand_as(log_likelihood)),
            "entropy": q.entropy().to(log_likelihood).expand(x.shape[0]),
            "expected_log_joint": _expectation(probs, torch.log(weights) + log_likelihood),
        }
        terms["elbo"] = terms["expected_log_likelihood"] - terms["kl_to_prior"]
        return terms

    def elbo(self, x, q) -> torch.Tensor:
        """ELBO(x_n; q_n) per row, shape (N,): ``elbo_terms(x, q)["elbo"]``."""
        return self.elbo_terms(x, q)["elbo"]

    def sample(self, n: int, *, seed: int | None = None):
        """Ancestral sampling: c ~ Categorical(pi), then x ~ p(x | c).

        Returns ``(x, c)``: shapes (n, D) and (n,) (int64). Drawn from torch's global RNG, as every ``sample`` in
        vitools (seed it with :func:`vitools.device.seed_everything`), or, with ``seed``, from a private
        ``torch.Generator`` on the parameters' device seeded by it (the global RNG is then untouched).
        """
        n = positive_int(n, "n")
        weights = self._mixing_weights()
        gen = None if seed is None else torch.Generator(device=weights.device).manual_seed(integer(seed, "seed"))
        c = torch.multinomial(weights, n, replacement=True, generator=gen)
        return self._draw_given(c, gen), c

    def _e_step(self, x) -> tuple[torch.Tensor, float]:
        """The E-step, on an already checked ``x``: r_nc = exp(log p(x_n, c) - log p(x_n)), shape (N, C),
        and l = (1/N) sum_n log p(x_n) as a float."""
        log_joint = self._log_joint_table(x)
        log_px = torch.logsumexp(log_joint, dim=1, keepdim=True)
        return torch.exp(log_joint - log_px), log_px.mean().item()

    def _log_joint_table(self, x) -> torch.Tensor:
        return torch.log(self._mixing_weights()) + self._log_likelihood_table(x)

    def _as_c(self, c) -> torch.Tensor:
        weights = self._mixing_weights()
        try:
            c = torch.as_tensor(c, device=weights.device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"c must be a LongTensor of component indices, got {type(c).__name__}") from error
        if c.dtype == torch.bool or c.is_floating_point() or c.is_complex():
            raise TypeError(f"c must be a LongTensor of component indices, got dtype {c.dtype}")
        if c.numel() and (c.min() < 0 or c.max() >= weights.shape[0]):
            raise ValueError(f"c must hold component indices 0 .. {weights.shape[0] - 1}, "
                             f"got values from {c.min().item()} to {c.max().item()}")
        return c.long()

    @staticmethod
    def _check_q(q, n_rows: int, n_components: int) -> Categorical:
        if not isinstance(q, Categorical):
            raise TypeError(f"q must be a torch.distributions.Categorical over the C = {n_components} components "
                            f"(e.g. model.posterior(x)), got {type(q).__name__}")
        if q.param_shape[-1] != n_components:
            raise ValueError(f"q has {q.param_shape[-1]} categories but the mixture has C = {n_components} "
                             f"components")
        if q.batch_shape not in (torch.Size(), torch.Size([n_rows])):
            raise ValueError(f"q must have batch shape () or ({n_rows},), one q per row of x; "
                             f"got {tuple(q.batch_shape)}")
        return q

    # ------------------------------------------------ what a subclass supplies

    @abstractmethod
    def _mixing_weights(self) -> torch.Tensor:
        """pi, shape (C,)."""

    @abstractmethod
    def _as_x(self, x) -> torch.Tensor:
        """``x`` checked and converted to the parameters' dtype and device, shape (N, D)."""

    @abstractmethod
    def _log_likelihood_table(self, x) -> torch.Tensor:
        """log p(x_n | c) for a checked ``x``, shape (N, C)."""

    @abstractmethod
    def _component_distribution(self, c) -> Distribution:
        """p(x | c) for checked indices ``c``, batch shape ``c.shape``."""

    @abstractmethod
    def _draw_given(self, c, gen) -> torch.Tensor:
        """One x ~ p(x | c_i) per entry of ``c`` (shape (n,)), from the generator ``gen``, shape (n, D)."""


def _expectation(probs, values):
    """sum_c probs_nc values_nc with 0 * anything = 0, so that q(c) = 0 ignores log p = -inf (and its gradient)."""
    return (probs * torch.where(probs > 0, values, 0.0)).sum(-1)
