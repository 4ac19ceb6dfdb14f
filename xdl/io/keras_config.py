"""One layer's Keras 3 config (``{"module", "class_name", "config", "registered_name"}`` in
``config.json``) and xdl's spec (``{"class", "config"}``), both ways, by fixed tables.

A file names any class it likes: none is ever imported. Keras's built-in layers map to xdl's
classes by ``XDL_CLASS``; a class of the user's (or an xdl layer Keras lacks) is a "custom
object", found among xdl's registered classes by its registered name. Keras's keys that xdl's
constructors do not take are dropped at the value meaning "off" (``KERAS_DEFAULTS``) and refused
otherwise, naming the key; every value left is checked by xdl's constructor as an API call's is.
Activations map by name where both libraries compute the same function (``ACTIVATIONS``; tests
compare each with Keras).
"""

from __future__ import annotations

import re

from ..core import initializers
from ..errors import ArgumentError
from ..layers.base import LAYERS
from .spec import short

#: xdl's class -> Keras's, for layers both have and compute alike (tests/io/test_keras_files.py)
KERAS_CLASS = {name: name for name in (
    "Dense", "Conv1D", "Conv2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "BatchNormalization", "LayerNormalization", "Dropout", "SpatialDropout1D",
    "SpatialDropout2D", "GaussianNoise", "Flatten", "Reshape", "Permute", "RepeatVector", "ZeroPadding2D",
    "Cropping2D", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "MultiHeadAttention", "Add",
    "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Activation", "ReLU", "LeakyReLU",
    "Softmax", "ELU", "Identity", "Rescaling", "Conv1DTranspose", "Conv2DTranspose", "DepthwiseConv2D",
    "SeparableConv2D", "UpSampling2D", "TimeDistributed", "Normalization", "RandomFlip", "RandomRotation",
    "RandomZoom", "RandomTranslation", "RandomContrast", "CenterCrop", "Resizing", "Discretization",
    "CategoryEncoding")}
KERAS_CLASS.update(MaxPool1D="MaxPooling1D", MaxPool2D="MaxPooling2D", AvgPool1D="AveragePooling1D",
                   AvgPool2D="AveragePooling2D", BatchNorm="BatchNormalization", LayerNorm="LayerNormalization")
#: Keras's class -> xdl's (Keras 2's aliases too)
XDL_CLASS = {keras: xdl for xdl, keras in KERAS_CLASS.items() if xdl not in ("BatchNorm", "LayerNorm")}
XDL_CLASS.update(MaxPool1D="MaxPool1D", MaxPool2D="MaxPool2D", AvgPool1D="AvgPool1D", AvgPool2D="AvgPool2D")
RECURRENT = ("SimpleRNN", "LSTM", "GRU")
#: wrappers whose config holds the layer they wrap (Keras saves its variables in the group "layer",
#: Bidirectional's in "forward_layer" and "backward_layer")
WRAPPERS = ("Bidirectional", "TimeDistributed")
#: activation names both libraries compute alike ("leaky_relu" is not: Keras's slopes 0.2, xdl's 0.01)
ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "tanh", "softmax", "elu", "gelu", "silu", "swish", "softplus",
                         "softsign", "mish"})
#: xdl's activation layers that Keras has only as ``Activation(name)``
ACTIVATION_LAYERS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "SiLU": "silu", "Softplus": "softplus",
                     "Softsign": "softsign", "Mish": "mish", "GELU": "gelu"}
ANY = object()
#: Keras's keys xdl's layers lack: dropped at these values (their "off"), refused at any other
KERAS_DEFAULTS = {"quantization_config": (None,), "lora_rank": (None,), "lora_alpha": (None,),
                  "activity_regularizer": (None,), "data_format": ("channels_last",), "synchronized": (False,),
                  "renorm": (False,), "renorm_clipping": (None,), "renorm_momentum": ANY, "rms_scaling": (False,),
                  "use_gate": (False,), "sliding_window": (None,), "flash_attention": (None, False),
                  "attention_axes": (None, [1], [-2]), "noise_shape": (None,), "groups": (1,), "max_value": (None,),
                  "negative_slope": (0.0, 0), "threshold": (0.0, 0), "keepdims": (False,), "use_cudnn": ANY,
                  "unroll": ANY, "stateful": (False,), "recurrent_dropout": (0.0, 0), "use_bias": (True,),
                  "recurrent_activation": ("sigmoid",), "reset_after": (True,), "go_backwards": (False,),
                  "sparse": (False,), "ragged": (False,), "optional": (False,), "seed": ANY, "dropout": (0.0, 0),
                  "zero_output_for_mask": ANY, "time_major": (False,)}
_DROP_XDL = ("input_size", "input_channels")  # xdl's own keys, inferred by Keras when it builds


def snake(name: str) -> str:
    """Keras's ``to_snake_case``: what it names a layer's group in its weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def policy_name(value, where, fail):
    """A Keras dtype (a name or a DTypePolicy's config) as xdl's: float32 or float64."""
    if isinstance(value, dict) and value.get("class_name") in ("DTypePolicy", "Policy", "FloatDTypePolicy"):
        value = value.get("config", {}).get("name") if isinstance(value.get("config"), dict) else None
    if value in (None, "float32", "float64"):
        return value
    fail(f"{where}: dtype {short(value)}; xdl computes in float32 or float64 (no mixed precision)")


# -- reading (Keras -> xdl) -------------------------------------------------------------------------


def _initializer(value):
    """Keras's serialized initializer as xdl's, or None where xdl has no such initializer (the
    layer's default then: the weights come from the file)."""
    if isinstance(value, dict):
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        config = {k: v for k, v in config.items() if not (k.endswith("_axes") and v is None)}
        value = {"class": value.get("class_name"), "config": config}
    try:
        initializers.get(value)
        if isinstance(value, dict):  # at its defaults: the class's name (what xdl's configs hold then)
            cls = initializers.CLASSES[value["class"]]
            if cls(**value["config"]).get_config() == cls().get_config():
                return value["class"]
    except (ArgumentError, TypeError, ValueError):
        return None
    return value


def _regularizer(value, where, fail):
    if value is None:
        return None
    if isinstance(value, dict) and value.get("class_name") in ("L1", "L2", "L1L2") \
            and isinstance(value.get("config"), dict):
        return {"class": value["class_name"], "config": value["config"]}
    fail(f"{where}: regularizer {short(value)}; xdl reads L1, L2 and L1L2")


def activation(value, where, fail):
    """A Keras activation (a name, or a built-in function serialized) as xdl's name."""
    if isinstance(value, dict) and str(value.get("module", "")).startswith("keras") \
            and value.get("class_name") == "function":
        value = value.get("config")
    if isinstance(value, str) and value in ACTIVATIONS:
        return value
    if value == "leaky_relu":
        fail(f"{where}: activation 'leaky_relu' slopes 0.2 in Keras and 0.01 in xdl; make it a LeakyReLU layer")
    fail(f"{where}: unknown activation {short(value)}; xdl reads {sorted(ACTIVATIONS)}")


def xdl_config(cls, config, where, fail, layer_spec):
    """Keras's config of a built-in layer as the config of xdl's ``cls``."""
    keys, out = cls.config_keys(), {}
    for key, value in config.items():
        if key == "dtype":
            value = policy_name(value, where, fail)
        elif key.endswith("_initializer"):
            value = _initializer(value)
            if value is None:
                continue
        elif key.endswith("_regularizer"):
            value = _regularizer(value, where, fail)
        elif key.endswith("_constraint"):
            if value is not None:
                fail(f"{where}: {key} {short(value)}; xdl's layers take no constraints")
            continue
        elif key == "activation":
            value = activation(value, where, fail)
        elif key in ("layer", "backward_layer") and cls.__name__ in WRAPPERS:
            value = layer_spec(value, f"{where}: its {key}")
        elif isinstance(value, dict) and "class_name" in value:
            fail(f"{where}: {key} is an object {short(value.get('class_name'))}; xdl reads plain values there")
        if keys is not None and key not in keys:
            allowed = (None,) if key.endswith("_regularizer") else KERAS_DEFAULTS.get(key)
            if allowed is ANY or (allowed is not None and value in allowed):
                continue
            taken = f" (xdl takes only {short(list(allowed))})" if allowed is not None else ""
            fail(f"{where}: {key}={short(value)} is not supported by xdl{taken}")
        out[key] = value
    if cls.__name__ == "Bidirectional" and "backward_layer" in out:
        _check_mirror(out.pop("backward_layer"), out.get("layer"), where, fail)
    return out


def _check_mirror(backward, forward, where, fail):
    """Keras saves Bidirectional's backward layer whole; xdl makes it from the forward one."""
    drop = ("name", "go_backwards")
    same = isinstance(backward, dict) and isinstance(forward, dict) and backward.get("class") == forward.get("class") \
        and {k: v for k, v in backward["config"].items() if k not in drop} \
        == {k: v for k, v in forward["config"].items() if k not in drop}
    if not same:
        fail(f"{where}: a backward layer unlike the forward one; xdl's Bidirectional runs one layer both ways")


# -- writing (xdl -> Keras) ---------------------------------------------------------------------------


def keras_object(module, name, config):
    """One of Keras's built-in objects (a layer, an initializer, an optimizer...) as its files
    hold it."""
    return {"module": module, "class_name": name, "config": config, "registered_name": None}


def keras_policy(name):
    return keras_object("keras", "DTypePolicy", {"name": name})


def _keras_initializer(value):
    if isinstance(value, dict):
        return keras_object("keras.initializers", value["class"], value.get("config", {}))
    return {"xavier_uniform": "glorot_uniform", "xavier_normal": "glorot_normal"}.get(value, value)


def keras_form(layer):
    """``(class name, config)`` of ``layer`` as Keras writes it, or None where Keras has no
    such layer computing the same (then it is written as xdl's class)."""
    kind, config = type(layer).__name__, dict(layer.get_config())
    if kind in ACTIVATION_LAYERS:
        if config.pop("approximate", "none") != "none":
            return None
        config = {k: v for k, v in config.items() if k in ("name", "dtype", "trainable")}
        kind, config["activation"] = "Activation", ACTIVATION_LAYERS[kind]
    elif kind not in KERAS_CLASS:
        return None
    if config.get("activation", "linear") not in ACTIVATIONS:
        return None
    if kind == "LeakyReLU":
        config["negative_slope"] = config.pop("alpha")
    if kind == "Normalization":  # statistics given to the constructor live in Keras's config, adapted ones in variables
        given = layer._given is not None
        config["mean"], config["variance"] = ((layer.backend.to_numpy(p.value).tolist() for p in (layer.mean, layer.variance))
                                              if given else (None, None))
    if kind in WRAPPERS:
        inner = keras_form(layer.forward_layer if kind == "Bidirectional" else layer.layer)
        if inner is None:
            return None
        config["layer"] = keras_object("keras.layers", inner[0], {**inner[1], "name": config["layer"]["config"]["name"]})
    out = {}
    for key, value in config.items():
        if key in _DROP_XDL:
            continue
        if key == "dtype":
            if value is None:
                continue
            value = keras_policy(value)
        elif key.endswith("_initializer"):
            value = _keras_initializer(value)
        elif key == "seed" and isinstance(value, int):
            value %= 2**32  # Keras's seeds are 32-bit; xdl draws 64-bit ones for layers given none
        elif key.endswith("_regularizer") and isinstance(value, dict):
            value = keras_object("keras.regularizers", value["class"], value.get("config", {}))
        out[key] = value
    return KERAS_CLASS.get(kind, kind), out


def custom_spec(layer, registered_name):
    """A layer Keras knows only by its class: xdl's config as it is, under its registered name."""
    config = dict(layer.get_config())
    if config.get("dtype") is not None:
        config["dtype"] = keras_policy(config["dtype"])
    builtin = LAYERS.get(type(layer).__name__) is type(layer) and type(layer).__module__.startswith("xdl.")
    return {"module": type(layer).__module__, "class_name": type(layer).__name__, "config": config,
            "registered_name": f"xdl>{type(layer).__name__}" if builtin else registered_name}
