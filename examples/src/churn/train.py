"""Pipeline step 2: fit a logistic regression on the prepared training set.

Reads ``prepared/train.csv`` from the input (the prepare step's output) and writes
``model/model.json``: feature encoding, scaling, weights and training figures.
Plain batch gradient descent on the mean log loss with an optional L2 penalty.
"""

from __future__ import annotations

import math
import os

from churn import (
    LABEL,
    MODEL_DIR,
    NUMERIC_COLUMNS,
    PREPARED_DIR,
    float_param,
    int_param,
    read_csv,
    require_input,
    write_json,
)

# Categorical columns one-hot encoded against the first (baseline) level.
ENCODED = {
    "contract": ["month-to-month", "one-year", "two-year"],
    "payment_method": ["card", "bank-transfer", "invoice", "direct-debit"],
}


def feature_names() -> list[str]:
    names = list(NUMERIC_COLUMNS)
    for column, levels in ENCODED.items():
        names.extend(f"{column}={level}" for level in levels[1:])
    return names


def encode(row: dict, scaling: dict) -> list[float]:
    """Feature vector of a prepared row; numeric columns standardized with the training scaling."""
    vector = [(float(row[c]) - scaling[c]["mean"]) / scaling[c]["std"] for c in NUMERIC_COLUMNS]
    for column, levels in ENCODED.items():
        vector.extend(1.0 if row[column] == level else 0.0 for level in levels[1:])
    return vector


def fit_scaling(rows: list[dict]) -> dict:
    scaling = {}
    for column in NUMERIC_COLUMNS:
        values = [float(r[column]) for r in rows]
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        scaling[column] = {"mean": round(mean, 6), "std": round(std, 6)}
    return scaling


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def log_loss(x: list[list[float]], y: list[int], weights: list[float], bias: float) -> float:
    total = 0.0
    for features, label in zip(x, y):
        p = min(max(sigmoid(bias + sum(w * f for w, f in zip(weights, features))), 1e-12), 1 - 1e-12)
        total -= label * math.log(p) + (1 - label) * math.log(1 - p)
    return total / len(y)


def fit(x: list[list[float]], y: list[int], learning_rate: float, epochs: int, l2: float):
    n, width = len(x), len(x[0])
    weights, bias = [0.0] * width, 0.0
    for _ in range(epochs):
        gradient, gradient_bias = [0.0] * width, 0.0
        for features, label in zip(x, y):
            error = sigmoid(bias + sum(w * f for w, f in zip(weights, features))) - label
            gradient_bias += error
            for j in range(width):
                gradient[j] += error * features[j]
        for j in range(width):
            weights[j] -= learning_rate * (gradient[j] / n + l2 * weights[j])
        bias -= learning_rate * gradient_bias / n
    return weights, bias


def run(ctx) -> dict:
    input_dir = require_input(ctx)
    learning_rate = float_param(ctx, "learning_rate", 0.1, 1e-6, 10.0)
    epochs = int_param(ctx, "epochs", 200, 1, 100000)
    l2 = float_param(ctx, "l2", 0.0, 0.0, 10.0)

    rows = read_csv(os.path.join(input_dir, PREPARED_DIR, "train.csv"))
    if not rows:
        raise ValueError(f"{PREPARED_DIR}/train.csv has no rows")
    ctx.log(f"training on {len(rows)} rows: learning_rate={learning_rate}, epochs={epochs}, l2={l2}")

    scaling = fit_scaling(rows)
    x = [encode(r, scaling) for r in rows]
    y = [int(r[LABEL]) for r in rows]
    initial_loss = log_loss(x, y, [0.0] * len(x[0]), 0.0)
    weights, bias = fit(x, y, learning_rate, epochs, l2)
    final_loss = log_loss(x, y, weights, bias)
    correct = sum((sigmoid(bias + sum(w * f for w, f in zip(weights, v))) >= 0.5) == bool(t) for v, t in zip(x, y))
    ctx.log(f"log loss {initial_loss:.4f} -> {final_loss:.4f}; train accuracy {correct / len(y):.3f}")

    model = {
        "kind": "logistic_regression",
        "job_id": ctx.job_id,
        "train_id": ctx.param("train_id"),
        "features": feature_names(),
        "encoding": ENCODED,
        "scaling": scaling,
        "weights": [round(w, 8) for w in weights],
        "bias": round(bias, 8),
        "hyperparameters": {"learning_rate": learning_rate, "epochs": epochs, "l2": l2},
        "training": {
            "rows": len(rows),
            "initial_log_loss": round(initial_loss, 6),
            "final_log_loss": round(final_loss, 6),
            "accuracy": round(correct / len(y), 4),
        },
    }
    write_json(os.path.join(ctx.output_dir, MODEL_DIR, "model.json"), model)
    ctx.log(f"wrote {MODEL_DIR}/model.json ({len(weights)} weights)")
    return model
