"""Pipeline step 1: clean the customers dataset and split it into train and test sets.

Reads the CSV named by the ``dataset`` parameter from the source code and writes
``prepared/train.csv``, ``prepared/test.csv`` and ``prepared/summary.json`` to the output.
"""

from __future__ import annotations

import os
import random
import statistics

from churn import (
    CATEGORICAL_COLUMNS,
    COLUMNS,
    ID_COLUMN,
    LABEL,
    NUMERIC_COLUMNS,
    PREPARED_DIR,
    float_param,
    int_param,
    read_csv,
    write_csv,
    write_json,
)

MISSING = {"", "na", "n/a", "null", "none", "?"}


def _is_missing(value) -> bool:
    return value is None or value.strip().lower() in MISSING


def clean(rows: list[dict]) -> tuple[list[dict], dict]:
    """Drop unusable rows, fill missing values; returns the rows and what was done."""
    missing_columns = [c for c in COLUMNS if rows and c not in rows[0]]
    if missing_columns:
        raise ValueError(f"dataset lacks column(s): {', '.join(missing_columns)}")

    report = {"rows_read": len(rows), "dropped_unlabeled": 0, "dropped_duplicates": 0, "imputed": {}}
    seen = set()
    kept = []
    for row in rows:
        label = (row.get(LABEL) or "").strip()
        if label not in ("0", "1"):
            report["dropped_unlabeled"] += 1
            continue
        customer = row[ID_COLUMN].strip()
        if customer in seen:
            report["dropped_duplicates"] += 1
            continue
        seen.add(customer)
        kept.append(row)

    medians = {}
    for column in NUMERIC_COLUMNS:
        values = [float(r[column]) for r in kept if not _is_missing(r[column])]
        medians[column] = statistics.median(values) if values else 0.0

    cleaned = []
    for row in kept:
        out = {ID_COLUMN: row[ID_COLUMN].strip(), LABEL: int(row[LABEL])}
        for column in CATEGORICAL_COLUMNS:
            value = row[column]
            if _is_missing(value):
                report["imputed"][column] = report["imputed"].get(column, 0) + 1
                value = "unknown"
            out[column] = value.strip().lower()
        for column in NUMERIC_COLUMNS:
            if _is_missing(row[column]):
                report["imputed"][column] = report["imputed"].get(column, 0) + 1
                out[column] = None
            else:
                out[column] = float(row[column])
        # Total charges follow from tenure and monthly charges better than from a median.
        if out["total_charges"] is None and out["tenure_months"] is not None and out["monthly_charges"] is not None:
            out["total_charges"] = round(out["tenure_months"] * out["monthly_charges"], 2)
        for column in NUMERIC_COLUMNS:
            if out[column] is None:
                out[column] = medians[column]
        cleaned.append(out)
    report["rows_kept"] = len(cleaned)
    return cleaned, report


def split(rows: list[dict], test_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified, seeded split: the same input and seed always give the same sets."""
    train, test = [], []
    for label in (0, 1):
        group = sorted((r for r in rows if r[LABEL] == label), key=lambda r: r[ID_COLUMN])
        random.Random(f"{seed}-{label}").shuffle(group)
        cut = round(len(group) * test_fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    train.sort(key=lambda r: r[ID_COLUMN])
    test.sort(key=lambda r: r[ID_COLUMN])
    return train, test


def _format(row: dict) -> dict:
    out = dict(row)
    for column in NUMERIC_COLUMNS:
        value = out[column]
        out[column] = str(int(value)) if column in ("tenure_months", "support_calls") else f"{value:.2f}"
    return out


def run(ctx) -> dict:
    dataset = ctx.param("dataset")
    if not dataset:
        raise ValueError("parameter dataset is required, e.g. dataset: \"datasets/customers.csv\"")
    test_fraction = float_param(ctx, "test_fraction", 0.25, 0.05, 0.5)
    seed = int_param(ctx, "seed", 42, 0, 2**31 - 1)

    path = ctx.source_path(dataset)
    rows = read_csv(path)
    ctx.log(f"read {len(rows)} rows from {dataset}")
    cleaned, report = clean(rows)
    imputed = ", ".join(f"{k}={v}" for k, v in sorted(report["imputed"].items())) or "none"
    ctx.log(f"kept {report['rows_kept']} rows (dropped {report['dropped_unlabeled']} unlabeled, "
            f"{report['dropped_duplicates']} duplicate); imputed: {imputed}")

    train, test = split(cleaned, test_fraction, seed)
    folder = os.path.join(ctx.output_dir, PREPARED_DIR)
    write_csv(os.path.join(folder, "train.csv"), [_format(r) for r in train], COLUMNS)
    write_csv(os.path.join(folder, "test.csv"), [_format(r) for r in test], COLUMNS)
    summary = dict(report, job_id=ctx.job_id, dataset=dataset, seed=seed, test_fraction=test_fraction,
                   train_rows=len(train), test_rows=len(test),
                   churn_rate=round(sum(r[LABEL] for r in cleaned) / max(1, len(cleaned)), 4))
    write_json(os.path.join(folder, "summary.json"), summary)
    ctx.log(f"wrote {PREPARED_DIR}/train.csv ({len(train)} rows) and {PREPARED_DIR}/test.csv ({len(test)} rows)")
    return summary
