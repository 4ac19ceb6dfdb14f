"""Compile settings in Keras 3's ``config.json`` (``compile_config``: the optimizer, the losses and
the metrics as serialized objects or names) and xdl's, both ways, by fixed tables.

Writing: where xdl's optimizer and every loss have Keras's names and meaning (``LOSSES``;
xdl's ``CrossEntropy`` takes labels or one-hot alike and its ``weight_decay`` is L2, which Keras
has not); metrics without a Keras name are left out. Reading: the optimizer by class with its
keys mapped (``global_clipnorm`` is xdl's ``clipnorm``) and those xdl lacks refused unless off,
losses and metrics by name or class from xdl's registries, a function of one's own by name from
``custom_objects``; a metric xdl cannot build is left out with a warning.
"""

from __future__ import annotations

from .. import losses, metrics
from ..errors import ModelFileError
from ..optimizers import schedules
from .keras_config import keras_object
from .spec import short

#: xdl's optimizers Keras has (tables of their state: keras_training.SLOTS)
OPTIMIZERS = ("SGD", "Adam", "AdamW", "Nadam", "Lion", "RMSprop", "Adagrad")
#: Keras's optimizer keys -> xdl's; ``_OPT_OFF``: keys xdl lacks, dropped at these values (off), else refused
_OPT_KEYS = {"learning_rate": "learning_rate", "beta_1": "beta_1", "beta_2": "beta_2", "epsilon": "epsilon",
             "momentum": "momentum", "nesterov": "nesterov", "rho": "rho", "global_clipnorm": "clipnorm",
             "clipvalue": "clipvalue", "initial_accumulator_value": "initial_accumulator_value"}
_OPT_OFF = {"clipnorm": (None,), "use_ema": (False,), "ema_overwrite_frequency": (None,), "loss_scale_factor": (None,),
            "gradient_accumulation_steps": (None,), "amsgrad": (False,), "centered": (False,), "weight_decay": (None, 0),
            "is_legacy_optimizer": (False,)}
#: xdl's loss classes -> Keras's (xdl's ``CrossEntropy`` takes labels or one-hot alike: Keras has no such loss)
LOSSES = {"MSE": "MeanSquaredError", "MAE": "MeanAbsoluteError", "BinaryCrossEntropy": "BinaryCrossentropy",
          "CategoricalCrossEntropy": "CategoricalCrossentropy",
          "SparseCategoricalCrossEntropy": "SparseCategoricalCrossentropy"}
LOSSES.update({name: name for name in ("MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
                                       "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "Huber",
                                       "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "LogCosh",
                                       "KLDivergence", "Poisson", "Hinge", "SquaredHinge", "CategoricalHinge")})
_LOSS_KEYS = ("from_logits", "label_smoothing", "axis", "ignore_class", "delta", "reduction", "name")
#: xdl's metrics -> Keras's names
METRICS = {"Accuracy": "accuracy", "MeanAbsoluteError": "mae", "MAE": "mae", "MeanSquaredError": "mse",
           "RootMeanSquaredError": "root_mean_squared_error"}


# -- writing --------------------------------------------------------------------------------------


def _keras_optimizer(opt):
    kind, config = type(opt).__name__, dict(opt.get_config())
    if kind not in OPTIMIZERS or (config.get("weight_decay") and kind != "AdamW"):
        return None  # xdl's weight_decay is L2 (added to the gradient); Keras's decouples it (AdamW's only agree)
    if "clipnorm" in config:
        config["global_clipnorm"] = config.pop("clipnorm")  # xdl clips by the global norm
    lr = config["learning_rate"]
    if isinstance(lr, dict):
        config["learning_rate"] = keras_object("keras.optimizers.schedules", lr["class"], lr["config"])
    return keras_object("keras.optimizers", kind, config)


def _keras_loss(spec):
    if spec is None:
        return None
    if spec["class"] == "LossFunctionWrapper":  # the user's function, by its name (Keras's custom_objects)
        return {"module": "builtins", "class_name": "function", "config": spec["config"].get("name"),
                "registered_name": "function"}
    if spec["class"] not in LOSSES:
        return None
    config = {k: v for k, v in spec["config"].items() if k in _LOSS_KEYS}
    return keras_object("keras.losses", LOSSES[spec["class"]], config)


def keras_compile(model):
    """Keras's ``compile_config`` for ``model``, or None where its optimizer or a loss has no
    Keras twin (metrics without one are left out of it)."""
    objectives = model.objectives.get_config()
    opt = _keras_optimizer(model.optimizer)
    found = [_keras_loss(spec) for spec in objectives["losses"]]
    if opt is None or any(k is None and s is not None for k, s in zip(found, objectives["losses"])):
        return None
    names = [[METRICS[m["class"]] for m in specs if m.get("class") in METRICS] for specs in objectives["metrics"]]
    one = len(found) == 1
    weights = objectives.get("loss_weights")
    return {"optimizer": opt, "loss": found[0] if one else found, "loss_weights": None if weights is None or
            all(w == 1.0 for w in weights) else weights, "metrics": names[0] if one else names,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


# -- reading ----------------------------------------------------------------------------------------


def _value(value, where, fail):
    """A Keras loss or metric entry as what xdl's compile takes: a name, an object of xdl's
    classes, or the user's function (by its name, from custom objects)."""
    from .model_files import FUNCTION_WRAPPERS
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        fail(f"compile_config: {where} {short(value)} is neither a name nor a serialized object")
    if value["class_name"] == "function" or value["class_name"] in FUNCTION_WRAPPERS:
        name = value.get("config")
        name = name.get("name") if isinstance(name, dict) else name
        return ("function", name)
    return ("class", value["class_name"], value.get("config") or {})


class Compile:
    """``compile_config`` read: the optimizer (built now) and what ``compile`` takes."""

    def __init__(self, compile_config, source, custom):
        from .model_files import OPTIMIZERS, _build
        fail, self.source, self.custom, self.skipped = source.fail, source, custom or {}, []
        if not isinstance(compile_config, dict):
            fail(f"compile_config must be a dict, got {short(compile_config)}")
        spec = compile_config.get("optimizer")
        if isinstance(spec, str):
            spec = {"class_name": {"sgd": "SGD", "rmsprop": "RMSprop"}.get(spec, spec.capitalize()), "config": {}}
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            fail(f"compile_config: optimizer {short(spec)} is not a serialized optimizer")
        kind, config = spec.get("class_name"), {}
        for key, value in spec["config"].items():
            if key in ("name", "ema_momentum") or (key == "momentum" and kind == "RMSprop" and value == 0):
                continue
            if key == "weight_decay" and kind == "AdamW":
                config[key] = value
            elif key in _OPT_OFF and value in _OPT_OFF[key]:
                continue
            elif key in _OPT_KEYS:
                if value is not None:
                    config[_OPT_KEYS[key]] = value
            else:
                fail(f"compile_config: the optimizer's {key}={short(value)} has no xdl counterpart")
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            lr_config = lr.get("config")
            if isinstance(lr_config, dict):  # Keras names its schedules, and writes options left unset as null
                lr_config = {k: v for k, v in lr_config.items() if k != "name" and v is not None}
            config["learning_rate"] = _build(source, {"class": lr.get("class_name"), "config": lr_config},
                                             schedules.SCHEDULES, "learning-rate schedule")
        self.optimizer = _build(source, {"class": kind, "config": config}, OPTIMIZERS, "optimizer")
        self.loss = self.tree(compile_config.get("loss"), "loss", losses.CLASSES, required=True)
        self.metrics = self.tree(compile_config.get("metrics"), "metrics", metrics.CLASSES)
        self.loss_weights = compile_config.get("loss_weights")
        if compile_config.get("weighted_metrics"):
            fail("compile_config: weighted_metrics are not supported by xdl")

    def tree(self, value, where, registry, required=False):
        """A loss or metrics entry (one, a list or a dict per output, lists of metrics) built."""
        if isinstance(value, list):
            return [self.tree(v, where, registry) for v in value]
        if isinstance(value, dict) and "class_name" not in value:
            return {k: self.tree(v, where, registry) for k, v in value.items()}
        found = _value(value, where, self.source.fail)
        if isinstance(found, tuple):
            return self.build(found, where, registry)
        if found is None and required:
            self.source.fail("compile_config: no loss")
        if isinstance(found, str) and where == "metrics":
            try:
                metrics.get(found)
            except Exception as e:  # noqa: BLE001 (a metric xdl lacks is left out, with a warning)
                return self.skip(found, e)
        return found

    def skip(self, name, error):
        self.skipped.append(f"{short(name)} ({error})")
        return _SKIP

    def build(self, found, where, registry):
        from .model_files import _build
        if found[0] == "function":
            fn = self.custom.get(found[1]) if isinstance(found[1], str) else None
            if fn is None and isinstance(found[1], str) and found[1] in _BUILTIN_FUNCTIONS:
                return found[1]
            if not callable(fn):
                self.source.fail(f"compile_config: the {where} is your function {short(found[1])}: pass "
                                 f"custom_objects={{{found[1]!r}: fn}}")
            return fn
        config = found[2] if isinstance(found[2], dict) else {}
        config = {k: v for k, v in config.items() if k not in ("dtype", "fn") and (v is not None or where == "loss")}
        try:
            return _build(self.source, {"class": found[1], "config": config}, registry,
                          "loss" if where == "loss" else "metric")
        except ModelFileError as e:
            if where == "loss":
                raise
            return self.skip(found[1], e)


_SKIP = object()
_BUILTIN_FUNCTIONS = ("mean_squared_error", "mean_absolute_error", "binary_crossentropy", "categorical_crossentropy",
                      "sparse_categorical_crossentropy", "mse", "mae", "huber", "kl_divergence", "poisson",
                      "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def drop_skipped(value):
    if isinstance(value, list):
        return [drop_skipped(v) for v in value if v is not _SKIP]
    if isinstance(value, dict):
        return {k: drop_skipped(v) for k, v in value.items() if v is not _SKIP}
    return value
