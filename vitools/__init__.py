"""vitools: the helper package behind *Variational Inference, Interactively*.

One module per topic of the book:

- :mod:`vitools.data`      the eye-colour table and the binarized 8x8 digits
- :mod:`vitools.marginal`  marginals and conditionals of tables; Monte Carlo and
  importance-sampling estimators of log p(x)
- :mod:`vitools.lvm`       the linear-Gaussian latent variable model (everything exact)
- :mod:`vitools.mixtures`  a mixture of Bernoullis for the hidden-pixels example
- :mod:`vitools.exercises` exercises with ``check`` / ``hint`` / ``solution``
- :mod:`vitools.device`    one place that picks CUDA or CPU, and seeding
- :mod:`vitools.plotting`  the book's matplotlib style (maths modules never import it)
"""

__version__ = "0.1.0"
