"""Metrics (Keras's ``keras.metrics``) for ``compile(metrics=[...])``, accumulated on the device
and read once per epoch. ``base.Metric`` is the protocol; ``means`` holds the (weighted) means,
``confusion`` the metrics made of counts (precision, recall, F1, AUC)."""

from .base import Metric
from .confusion import AUC, F1Score, Precision, Recall
from .means import (MAE, RMSE, Accuracy, MeanAbsoluteError, MeanMetric, MeanSquaredError, RootMeanSquaredError,
                    TopKAccuracy)

METRICS = {"accuracy": Accuracy, "acc": Accuracy, "top_k_accuracy": TopKAccuracy,
           "top_5_accuracy": TopKAccuracy, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
           "mse": lambda: MeanSquaredError("mse"), "mean_squared_error": MeanSquaredError,
           "rmse": lambda: RootMeanSquaredError("rmse"), "root_mean_squared_error": RootMeanSquaredError,
           "precision": Precision, "recall": Recall, "f1_score": F1Score, "auc": AUC}
#: the classes a model file may name
CLASSES = {cls.__name__: cls for cls in (Accuracy, TopKAccuracy, MeanAbsoluteError, MeanSquaredError,
                                         RootMeanSquaredError, Precision, Recall, F1Score, AUC)}


def get(metric, loss=None) -> Metric:
    """A ``Metric`` from an instance or a name ("accuracy", "precision", "auc", "mse", ...),
    adapted to the compiled ``loss`` where that matters (binary accuracy, logits)."""
    if isinstance(metric, str) and metric.lower() in METRICS:
        metric = METRICS[metric.lower()]()
    elif isinstance(metric, type) and issubclass(metric, Metric):
        metric = metric()
    if not isinstance(metric, Metric):
        raise ValueError(f"unknown metric {metric!r}; pass a Metric or one of {sorted(METRICS)}")
    return metric.for_loss(loss) if hasattr(metric, "for_loss") else metric


__all__ = ["Metric", "MeanMetric", "Accuracy", "TopKAccuracy", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "MAE", "RMSE", "Precision", "Recall", "F1Score", "AUC", "METRICS", "CLASSES", "get"]
