"""Keras 3's weights in HDF5 (``model.weights.h5`` in a ``.keras`` zip, or a ``*.weights.h5``
file) and xdl's parameters: where each lives, in what shape.

Keras names a layer's group by its class, not its name ("layers/dense_1/vars/0" is the kernel of
the second Dense in the model's layer order), holds sublayers' variables in their own groups
("cell/vars" of an LSTM, "query_dense/vars" of a MultiHeadAttention) and keeps its own
layouts: LSTM gates i, f, c, o (xdl's i, f, o, g), GRU gates z, r, h with one (2, 3 * units)
bias (xdl's r, z, n with two), attention kernels (D, heads, key_dim) (xdl's (D, heads * key_dim)).
A ``layout(layer)`` lists one layer's Keras variables in Keras's order, each made of xdl
parameters by a reordering or reshape; the optimizer's slots follow the same maps.

Reading is bounded: only the expected datasets are opened, through hard links only (no soft or
external links, no external or virtual storage), and each one's shape and float dtype are
checked, and its size against what the file stores, before its data is read. h5py is imported
when a file is read or written, never with xdl.
"""

from __future__ import annotations

import io

import numpy

from ..errors import DependencyError, XdlError

EXPANSION = 100  # a dataset may hold at most this many times the bytes it stores (compression), as Keras's zip rule
SMALL = 2**20  # below this, any dataset (a bias of zeros compresses well)


def h5py():
    try:
        import h5py as module
    except ImportError:
        raise DependencyError("Keras's weights are HDF5 files: reading and writing them needs h5py; "
                              "pip install xdl[keras] (or save as .xdl, xdl's own format)") from None
    return module


class Var:
    """One Keras variable: its group below the layer's ("" for the layer's own, "cell", ...),
    the xdl parameters it is made of (keys below the layer's path), and the maps between."""

    __slots__ = ("from_keras", "group", "integer", "keras_shape", "keys", "to_keras")

    def __init__(self, group, keys, keras_shape, to_keras=None, from_keras=None, integer=False):
        self.group, self.keys, self.keras_shape, self.integer = group, tuple(keys), tuple(keras_shape), integer
        self.to_keras = to_keras or (lambda arrays: arrays[0])
        self.from_keras = from_keras or (lambda array: [array])


def _blocks(order):
    """Reorder the last axis in blocks (gates): ``order`` is its own inverse for xdl's tables."""
    def swap(a):
        cut = numpy.split(a, len(order), axis=-1)
        return numpy.concatenate([cut[k] for k in order], axis=-1)
    return swap


def _reshaped(var_group, key, shape, keras_shape):
    return Var(var_group, [key], keras_shape, lambda arrays: arrays[0].reshape(keras_shape),
               lambda array: [array.reshape(shape)])


LSTM_ORDER = (0, 1, 3, 2)  # xdl's i, f, o, g <-> Keras's i, f, c, o
GRU_ORDER = (1, 0, 2)  # xdl's r, z, n <-> Keras's z, r, h


def _cell(layer, group, prefix=""):
    """A recurrent layer's variables: kernel, recurrent kernel and bias in Keras's gate order."""
    params, key = layer.named_parameters(), lambda name: prefix + name  # keys of the layer holding ``layer``
    shape = {name: params[name].shape for name in ("kernel", "recurrent_kernel", "bias")}
    kind = type(layer).__name__
    if kind == "SimpleRNN":
        return [Var(group, [key(n)], shape[n]) for n in ("kernel", "recurrent_kernel", "bias")]
    swap = _blocks(LSTM_ORDER if kind == "LSTM" else GRU_ORDER)
    out = [Var(group, [key(n)], shape[n], lambda a: swap(a[0]), lambda a: [swap(a)])
           for n in ("kernel", "recurrent_kernel")]
    if kind == "LSTM":
        return out + [Var(group, [key("bias")], shape["bias"], lambda a: swap(a[0]), lambda a: [swap(a)])]
    # Keras's GRU (reset_after=True): one bias, row 0 the input's, row 1 the recurrent product's
    return out + [Var(group, [key("bias"), key("recurrent_bias")], (2, *shape["bias"]),
                      lambda a: numpy.stack([swap(a[0]), swap(a[1])]), lambda a: [swap(a[0]), swap(a[1])])]


def _attention(layer):
    params, out = layer.named_parameters(), []
    h = layer.num_heads
    for part in ("query", "key", "value", "output"):
        kernel = params[f"{part}_kernel"].shape
        keras = (h, kernel[0] // h, kernel[1]) if part == "output" else (kernel[0], h, kernel[1] // h)
        out.append(_reshaped(f"{part}_dense", f"{part}_kernel", kernel, keras))
        if f"{part}_bias" in params:
            bias = params[f"{part}_bias"].shape
            out.append(_reshaped(f"{part}_dense", f"{part}_bias", bias, bias if part == "output" else (h, bias[0] // h)))
    return out


_NAMES = {"Dense": ("weights", "bias"), "Conv1D": ("weights", "bias"), "Conv2D": ("weights", "bias"),
          "Conv1DTranspose": ("weights", "bias"), "Conv2DTranspose": ("weights", "bias"),  # (k..., out, in) both
          "DepthwiseConv2D": ("depthwise_kernel", "bias"),
          "SeparableConv2D": ("depthwise_kernel", "pointwise_kernel", "bias"),
          "Embedding": ("embeddings",), "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance"),
          "BatchNorm": ("gamma", "beta", "moving_mean", "moving_variance"), "LayerNormalization": ("gamma", "beta"),
          "LayerNorm": ("gamma", "beta")}


def layout(layer, mapped=True):
    """``layer``'s Keras variables in Keras's order. ``mapped``: a layer written in Keras's form
    (keras_config.py); else a layer Keras knows only by its class (the user's own): its
    parameters as they come, trainable first, as Keras orders a layer's variables."""
    kind, params = type(layer).__name__, layer.named_parameters()
    if not mapped:
        ordered = sorted(params, key=lambda k: not params[k].trainable)
        return [Var("", [k], params[k].shape) for k in ordered]
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        return _cell(layer, "cell")
    if kind == "Bidirectional":
        return [*_cell(layer.forward_layer, "forward_layer/cell", layer.forward_layer.name + "/"),
                *_cell(layer.backward_layer, "backward_layer/cell", layer.backward_layer.name + "/")]
    if kind == "MultiHeadAttention":
        return _attention(layer)
    if kind == "Normalization":  # adapted: mean, variance and adapt's sample count (xdl keeps no count);
        if layer._given is not None:  # given to the constructor: Keras keeps them in the config, no variables
            return []
        shape = params["mean"].shape
        return [Var("", ["mean"], shape), Var("", ["variance"], shape),
                Var("", [], (), lambda arrays: numpy.zeros((), numpy.int32), lambda array: [], integer=True)]
    if kind == "TimeDistributed":  # the wrapped layer's variables, in Keras's group "layer"
        prefix = layer.layer.name + "/"
        return [Var("layer/" + v.group if v.group else "layer", [prefix + k for k in v.keys], v.keras_shape,
                    v.to_keras, v.from_keras) for v in layout(layer.layer)]
    names = [n for n in _NAMES.get(kind, ()) if n in params]
    if len(names) != len(params):  # a layer of the table whose parameters xdl has changed: never guess
        raise XdlError(f"{kind}: no Keras layout for parameters {sorted(set(params) - set(names))}")
    return [Var("", [n], params[n].shape) for n in names]


# -- reading --------------------------------------------------------------------------------------


class Reader:
    """An HDF5 file's datasets, opened by path and checked before any data is read; every
    fault is ``fail(message)``."""

    def __init__(self, data: bytes, fail):
        module, self.fail = h5py(), fail
        self._links = module.HardLink
        self._kinds = (module.Group, module.Dataset)
        try:
            self.file = module.File(io.BytesIO(data), "r")
        except Exception as e:  # noqa: BLE001 (h5py's and HDF5's errors for what is not HDF5)
            fail(f"not an HDF5 file ({type(e).__name__}: {str(e)[:200]})")

    def _get(self, path, kind):
        node = self.file
        for part in path.split("/"):
            try:
                link = node.get(part, getlink=True) if isinstance(node, self._kinds[0]) else None
                if link is not None and not isinstance(link, self._links):
                    self.fail(f"{path!r}: {part!r} is a {type(link).__name__}; only hard links are read")
                node = node.get(part) if link is not None else None
            except (KeyError, ValueError, OSError, RuntimeError, TypeError) as e:
                self.fail(f"{path!r} cannot be opened ({type(e).__name__}: {str(e)[:200]})")
            if node is None:
                return None
        return node if isinstance(node, kind) else self.fail(f"{path!r} is not an HDF5 {kind.__name__.lower()}")

    def has(self, path) -> bool:
        return self._get(path, self._kinds[0]) is not None

    def count(self, path) -> int:
        """How many entries the group at ``path`` holds (0 when there is none)."""
        group = self._get(path, self._kinds[0])
        try:
            return 0 if group is None else len(group)
        except Exception as e:  # noqa: BLE001
            self.fail(f"{path!r} cannot be read ({type(e).__name__}: {str(e)[:200]})")

    def array(self, path, shape, what, integer=False):
        """The float (or ``integer``) dataset at ``path``, which must have ``shape``."""
        ds = self._get(path, self._kinds[1])
        if ds is None:
            self.fail(f"missing weight {path!r} ({what}, shape {shape})")
        try:
            dtype, found, virtual, external = ds.dtype, ds.shape, ds.is_virtual, ds.external
            stored = ds.id.get_storage_size()
            bf16 = "dtype" in ds.attrs
        except Exception as e:  # noqa: BLE001
            self.fail(f"{path!r} cannot be read ({type(e).__name__}: {str(e)[:200]})")
        if virtual or external:
            self.fail(f"{path!r} keeps its data outside the file (virtual or external storage); refused")
        if found != tuple(shape):
            self.fail(f"weight {path!r} has shape {found}, {what} expects {tuple(shape)}")
        kinds = "iu" if integer else "f"
        if bf16 or dtype.kind not in kinds or dtype.itemsize not in (2, 4, 8):
            expected = "an integer" if integer else "float16, 32 or 64"
            self.fail(f"weight {path!r} has dtype {'bfloat16' if bf16 else dtype}, expected {expected}")
        size = int(numpy.prod(found, dtype=numpy.int64)) * dtype.itemsize
        if size > max(SMALL, EXPANSION * stored):
            self.fail(f"weight {path!r} holds {size:,} bytes in {stored:,} stored, more than {EXPANSION}x")
        try:
            return numpy.asarray(ds[()])
        except Exception as e:  # noqa: BLE001
            self.fail(f"weight {path!r} cannot be read ({type(e).__name__}: {str(e)[:200]})")

    def close(self):
        self.file.close()


def read_layer(reader, path, layer, mapped=True):
    """``{parameter key: array}`` for ``layer`` from its group ``path`` ("layers/dense_1")."""
    values, counts = {}, {}
    for var in layout(layer, mapped):
        index = counts[var.group] = counts.get(var.group, -1) + 1
        group = f"{path}/{var.group}" if var.group else path
        what = f"{layer.describe()}'s {' and '.join(var.keys)}"
        arrays = var.from_keras(reader.array(f"{group}/vars/{index}", var.keras_shape, what, var.integer))
        values.update(zip(var.keys, arrays))
    for group, last in counts.items():  # as Keras's load_own_variables: the count must match too
        group = f"{path}/{group}" if group else path
        if reader.count(f"{group}/vars") != last + 1:
            reader.fail(f"{group!r} holds {reader.count(f'{group}/vars')} variables, {layer.describe()} has {last + 1}")
    return values


# -- writing --------------------------------------------------------------------------------------


def layer_groups(path, layer, mapped=True):
    """``{group path: [arrays]}`` of ``layer`` written at ``path``, in Keras's variable order."""
    params, groups = layer.named_parameters(), {}
    be = layer.backend
    for var in layout(layer, mapped):
        group = f"{path}/{var.group}" if var.group else path
        arrays = [be.to_numpy(params[k].value) for k in var.keys]
        groups.setdefault(group, []).append(numpy.require(var.to_keras(arrays), requirements="C"))  # 0-d stays 0-d
    return groups


def write(groups: dict, names: dict, root_name: str) -> bytes:
    """An HDF5 file holding ``{group: [arrays]}`` as Keras writes it: "{group}/vars/{i}", each
    "vars" named (attribute "name") by ``names[group]``."""
    module, buffer = h5py(), io.BytesIO()
    with module.File(buffer, "w") as f:
        f.create_group("vars").attrs["name"] = root_name
        for group, arrays in groups.items():
            target = f.require_group(group).create_group("vars")
            target.attrs["name"] = names.get(group, group.rpartition("/")[2])
            for i, array in enumerate(arrays):
                target[str(i)] = array
    return buffer.getvalue()
