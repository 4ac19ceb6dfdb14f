"""Metrics (Keras's ``keras.metrics``) for ``compile(metrics=[...])``, accumulated on the device
and read once per epoch. ``base.Metric`` is the base of both ways to write one (statistics summed
over batches, or Keras's variables with ``update_state``/``result``/``reset_state``); ``means``
holds the (weighted) means and Keras's ``Mean`` and ``Sum``, ``confusion`` the metrics made of
counts (precision, recall, F1, AUC)."""

from ..core.checks import short
from ..errors import ArgumentError, MissingMethodError, missing_method
from .base import DEFINE, Metric
from .confusion import AUC, F1Score, Precision, Recall
from .means import (MAE, RMSE, Accuracy, BinaryAccuracy, CategoricalAccuracy, Mean, MeanAbsoluteError, MeanMetric,
                    MeanMetricWrapper, MeanSquaredError, RootMeanSquaredError, SparseCategoricalAccuracy,
                    SparseTopKCategoricalAccuracy, Sum, TopKAccuracy, TopKCategoricalAccuracy)

#: names for ``compile(metrics=[...])``; the figure is logged under the name as written, as in
#: Keras ("mae" logs "mae", "mean_absolute_error" logs "mean_absolute_error", "acc" logs "acc")
METRICS = {"accuracy": Accuracy, "acc": Accuracy, "top_k_accuracy": TopKAccuracy,
           "top_5_accuracy": TopKAccuracy, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
           "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
           "rmse": RootMeanSquaredError, "root_mean_squared_error": RootMeanSquaredError,
           "precision": Precision, "recall": Recall, "f1_score": F1Score, "auc": AUC,
           "sparse_categorical_accuracy": SparseCategoricalAccuracy, "categorical_accuracy": CategoricalAccuracy,
           "binary_accuracy": BinaryAccuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
           "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy}
#: the classes a model file may name
CLASSES = {cls.__name__: cls for cls in (Accuracy, TopKAccuracy, MeanAbsoluteError, MAE, MeanSquaredError,
                                         RootMeanSquaredError, Precision, Recall, F1Score, AUC,
                                         SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
                                         TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)}


def get(metric, loss=None) -> Metric:
    """A ``Metric`` from an instance, a Metric class, a name ("accuracy", "precision", "auc",
    "mse", ...) or a plain function ``fn(y_true, y_pred)`` (its weighted mean: ``MeanMetricWrapper``),
    adapted to the compiled ``loss`` where that matters (binary accuracy, logits). A metric that
    defines neither way (see metrics/base.py), or one of values (``Mean``, ``Sum``), is refused."""
    if isinstance(metric, str) and metric.lower() in METRICS:
        name, metric = metric, METRICS[metric.lower()]()
        metric.name = name  # Keras logs a string's figure under the string
    elif isinstance(metric, type) and issubclass(metric, Metric):
        if not metric.defined():
            raise MissingMethodError(f"{metric.__name__} must define {DEFINE}")
        metric = metric()
    elif callable(metric) and not isinstance(metric, (type, Metric)):
        metric = MeanMetricWrapper(metric)
    if not isinstance(metric, Metric):
        raise ArgumentError(f"unknown metric {short(metric)}; pass a Metric, a function fn(y_true, y_pred) or one of "
                            f"{sorted(METRICS)}")
    if not metric.defined():
        raise missing_method(metric, DEFINE)
    if not metric.takes_targets:
        raise ArgumentError(f"{type(metric).__name__} averages or sums the values given to its update_state(values), "
                            "not targets and predictions: use it in a custom train_step, or compile with a metric "
                            "of (y_true, y_pred) such as xdl.metrics.MeanMetricWrapper(fn)")
    return metric.for_loss(loss) if hasattr(metric, "for_loss") else metric


__all__ = ["Metric", "MeanMetric", "MeanMetricWrapper", "Mean", "Sum", "Accuracy", "TopKAccuracy",
           "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError", "MAE", "RMSE", "Precision", "Recall",
           "F1Score", "AUC", "SparseCategoricalAccuracy", "CategoricalAccuracy", "BinaryAccuracy",
           "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "METRICS", "CLASSES", "get"]
