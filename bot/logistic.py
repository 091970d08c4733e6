"""L2-regularised logistic regression by plain gradient descent: the gate and the router both fit one.

Small, dependency-free beyond numpy, and deterministic (no random start), so a refit on the same rows gives the
same weights on any machine up to float rounding.
"""

from __future__ import annotations

import numpy as np


def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, l2: float, steps: int,
                 lr: float) -> tuple[np.ndarray, float]:  # fmt: skip
    """(weights, bias) for standardised features ``x``, labels ``y`` in {0, 1} and per-row loss ``weight``."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = (p - y) * weight
        w -= lr * (x.T @ g / len(y) + l2 * w / len(y))
        b -= lr * float(g.mean())
    return w, b
