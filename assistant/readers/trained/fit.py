"""Logistic models fitted with scikit-learn and kept as plain numbers (loading never unpickles)."""

from __future__ import annotations

from typing import Sequence


def _linear(model, scaler, names: Sequence[str]):  # type: ignore[no-untyped-def]
    """A fitted sklearn scaler + logistic regression as the artefact's plain linear model."""
    import numpy as np

    from .model import Linear

    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    return Linear(tuple(names), scaler.mean_.astype(float), scale.astype(float), model.coef_[0].astype(float),
                  float(model.intercept_[0]))


def fit_logistic(X, y, names: Sequence[str], C: float = 1.0, weight=None):  # type: ignore[no-untyped-def]
    """Standardise then fit a logistic regression; returns the plain Linear model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(X)
    lr = LogisticRegression(C=C, max_iter=3000).fit(sc.transform(X), y, sample_weight=weight)
    return _linear(lr, sc, names)
