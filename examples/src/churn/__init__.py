"""Customer churn model of the sample data-apps repository.

Three pipeline steps, each a module with a ``run(ctx)`` function called by
``sagemaker_code_script.py``:

- ``churn.prepare`` cleans ``datasets/customers.csv`` and splits it into train and test sets;
- ``churn.train`` fits a logistic regression by gradient descent;
- ``churn.score`` scores the test set and writes the metrics.

Standard library only, so the pipeline runs on any Python 3.8+ without pip.
"""

from __future__ import annotations

import csv
import json
import os

LABEL = "churned"
ID_COLUMN = "customer_id"
NUMERIC_COLUMNS = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL_COLUMNS = ["region", "contract", "payment_method"]
COLUMNS = [ID_COLUMN] + CATEGORICAL_COLUMNS + NUMERIC_COLUMNS + [LABEL]

PREPARED_DIR = "prepared"
MODEL_DIR = "model"
SCORES_DIR = "scores"


def read_csv(path: str) -> list[dict]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def write_csv(path: str, rows: list[dict], columns: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def read_json(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"expected file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_json(path: str, data: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")


def require_input(ctx) -> str:
    if not ctx.input_dir:
        raise ValueError("this step needs input data: set input_data: \"data/<job_id>\" in the pipeline")
    return ctx.input_dir


def float_param(ctx, name: str, default: float, low: float, high: float) -> float:
    raw = ctx.param(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"parameter {name} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"parameter {name} must be between {low} and {high}, got {value}")
    return value


def int_param(ctx, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.param(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"parameter {name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"parameter {name} must be between {low} and {high}, got {value}")
    return value
