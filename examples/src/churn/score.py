"""Pipeline step 3: score the test set with the trained model.

Reads ``model/model.json`` and ``prepared/test.csv`` from the input (the earlier steps'
output) and writes ``scores/scores.csv`` and ``scores/metrics.json``.
"""

from __future__ import annotations

import os

from churn import (
    ID_COLUMN,
    LABEL,
    MODEL_DIR,
    PREPARED_DIR,
    SCORES_DIR,
    float_param,
    read_csv,
    read_json,
    require_input,
    write_csv,
    write_json,
)
from churn.train import encode, sigmoid


def roc_auc(labels: list[int], scores: list[float]) -> float | None:
    """Area under the ROC curve as the Mann-Whitney statistic, ties counted as half."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranked = sorted(zip(scores, labels))
    rank_sum, index = 0.0, 0
    while index < len(ranked):
        end = index
        while end + 1 < len(ranked) and ranked[end + 1][0] == ranked[index][0]:
            end += 1
        average_rank = (index + end) / 2 + 1
        rank_sum += average_rank * sum(label for _, label in ranked[index:end + 1])
        index = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def run(ctx) -> dict:
    input_dir = require_input(ctx)
    threshold = float_param(ctx, "threshold", 0.5, 0.0, 1.0)
    model = read_json(os.path.join(input_dir, MODEL_DIR, "model.json"))
    if model.get("kind") != "logistic_regression":
        raise ValueError(f"{MODEL_DIR}/model.json is not a logistic regression model")
    rows = read_csv(os.path.join(input_dir, PREPARED_DIR, "test.csv"))
    if not rows:
        raise ValueError(f"{PREPARED_DIR}/test.csv has no rows")
    ctx.log(f"scoring {len(rows)} rows with the model of job {model.get('job_id')} (threshold {threshold})")

    weights, bias = model["weights"], model["bias"]
    scored, labels, probabilities = [], [], []
    for row in rows:
        features = encode(row, model["scaling"])
        probability = sigmoid(bias + sum(w * f for w, f in zip(weights, features)))
        label = int(row[LABEL])
        predicted = int(probability >= threshold)
        labels.append(label)
        probabilities.append(probability)
        scored.append({ID_COLUMN: row[ID_COLUMN], "probability": f"{probability:.6f}",
                       "predicted": predicted, "actual": label})

    tp = sum(1 for r in scored if r["predicted"] == 1 and r["actual"] == 1)
    fp = sum(1 for r in scored if r["predicted"] == 1 and r["actual"] == 0)
    fn = sum(1 for r in scored if r["predicted"] == 0 and r["actual"] == 1)
    tn = len(scored) - tp - fp - fn
    auc = roc_auc(labels, probabilities)
    metrics = {
        "job_id": ctx.job_id,
        "train_id": model.get("train_id"),
        "rows": len(scored),
        "threshold": threshold,
        "accuracy": round((tp + tn) / len(scored), 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "auc": round(auc, 4) if auc is not None else None,
        "confusion_matrix": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "churn_rate_actual": round(sum(labels) / len(labels), 4),
        "churn_rate_predicted": round((tp + fp) / len(scored), 4),
    }
    folder = os.path.join(ctx.output_dir, SCORES_DIR)
    write_csv(os.path.join(folder, "scores.csv"), scored, [ID_COLUMN, "probability", "predicted", "actual"])
    write_json(os.path.join(folder, "metrics.json"), metrics)
    ctx.log(f"accuracy {metrics['accuracy']}, AUC {metrics['auc']}, precision {metrics['precision']}, "
            f"recall {metrics['recall']} on {len(scored)} rows")
    ctx.log(f"wrote {SCORES_DIR}/scores.csv and {SCORES_DIR}/metrics.json")
    return metrics
