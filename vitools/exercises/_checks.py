"""Checks on a student's answer that hold no answer: shape and range tests, and properties an answer must have.

They live apart from the chapters' exercise modules because the student package keeps them: it drops the chapter
modules, whose references, mistakes and hidden test inputs are the instructor's (``tools/assignment.py``).
"""

import numpy as np

from vitools.divergences import kl_discrete
from vitools.exercises._core import Exercise, Feedback

PROPOSAL_WIDTHS = (0.5, 0.6, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)   # the slider's widths kappa (exercise proposal-width)


def finite_for_every_W(value):
    if not np.all(np.isfinite(value)):
        return ("Your function returns NaN or inf for some inputs (the test inputs include a negative W, "
                "W = -1.2). The variance of x must be positive for every W and sigma: check that W enters "
                "squared, W**2, and sigma as sigma**2.")
    return None


def one_of_the_widths(value):
    if not np.any(np.isclose(value, PROPOSAL_WIDTHS)):
        return (f"{float(value):g} is not one of the options: pick one of the slider's widths, "
                f"{', '.join(map(str, PROPOSAL_WIDTHS))}.")
    return None


class OneOfTheWidths(Exercise):
    """Exercise `proposal-width`: the answer is a number, one of PROPOSAL_WIDTHS (a string such as "1" is refused by
    Exercise.check, as in every exercise)."""

    def check(self, answer):
        if callable(answer) or answer is None or answer is Ellipsis or isinstance(answer, (str, bytes)):
            return super().check(answer)
        try:
            one_number = not isinstance(answer, bool) and np.asarray(answer, dtype=float).shape == ()
        except (TypeError, ValueError):
            one_number = False
        if not one_number:
            return Feedback(False, f"Your answer is a {type(answer).__name__}; give one width as a number, "
                                   f"one of {', '.join(map(str, PROPOSAL_WIDTHS))}.")
        return super().check(answer)


def three_distributions(value):
    if value.ndim != 2 or value.shape[0] != 3 or value.shape[1] < 2:
        return "Give three distributions over the same outcomes, as an array of shape (3, n) with n >= 2 outcomes."
    if np.any(value < 0) or not np.allclose(value.sum(axis=1), 1.0, atol=1e-6):
        return "Each of the three rows must be a probability distribution: non-negative and summing to 1."
    return None


def violates_triangle(value):
    p, q, r = value
    direct, via_q = kl_discrete(p, r), kl_discrete(p, q) + kl_discrete(q, r)
    if direct > via_q:
        return None
    return (f"For your p, q, r: KL(p || r) = {direct:.3f} is not larger than KL(p || q) + KL(q || r) = "
            f"{via_q:.3f}, so this triple satisfies the triangle inequality. Try p and r near opposite "
            f"corners of the simplex with q halfway between them.")


def identity_holds(value) -> str | None:
    if value.shape != (3,):
        return "Return a tuple of three numbers: (average_kl, mutual_information, marginal_kl)."
    if not np.isclose(value[0], value[1] + value[2], rtol=1e-6, atol=1e-8):
        return (f"Your numbers do not satisfy the identity average_kl = mutual_information + marginal_kl "
                f"({value[0]:.6g} against {value[1] + value[2]:.6g}): it holds for every encoder, so at least one "
                f"of the three is off.")
    return None
