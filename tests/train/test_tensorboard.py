"""callbacks.TensorBoard: event files written without TensorFlow, read back with TensorBoard's
own reader (skipped when the tensorboard package is not installed)."""

from __future__ import annotations

import glob
import os
import re
import shutil

import numpy as np
import pytest

import xdl
from tests.train.test_callbacks import data, model
from xdl.io.events import crc32c, masked_crc32c

tb = pytest.importorskip("tensorboard", reason="tensorboard is not installed (pip install tensorboard)")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, graph_pb2
from tensorboard.compat.tensorflow_stub import errors as tb_errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

NAME = re.compile(r"events\.out\.tfevents\.\d{10}\.[^/]+\.\d+\.\d+\.v2$")


def scalars(directory):
    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0, "histograms": 0})  # keep every event
    acc.Reload()
    return acc, {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def records(path):
    reader = pywrap_tensorflow.PyRecordReader_New(str(path))
    out = []
    while True:
        try:
            reader.GetNext()
        except tb_errors.OutOfRangeError:
            return out
        out.append(reader.record())


def test_crc32c_matches_tensorboards():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    for data_ in (b"", b"a", bytes(range(256)) * 3):
        assert masked_crc32c(data_) == pywrap_tensorflow.masked_crc32c(data_)


def test_epoch_scalars_read_back_by_tensorboard(tmp_path):
    X, y = data()
    net = model()
    history = net.fit(X, y, epochs=3, batch_size=16, validation_data=(X, y), verbose=0,
                      callbacks=[xdl.callbacks.TensorBoard(log_dir=tmp_path / "logs")])
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]
    for which in ("train", "validation"):
        files = os.listdir(tmp_path / "logs" / which)
        assert len(files) == 1 and NAME.match(files[0]), files
    acc, train = scalars(tmp_path / "logs" / "train")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train)
    for name in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{name}"]] == [0, 1, 2]
        assert [v for _, v in train[f"epoch_{name}"]] == pytest.approx(history.history[name], rel=1e-6)
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.1] * 3)
    _, val = scalars(tmp_path / "logs" / "validation")
    assert set(val) == {"epoch_loss", "epoch_accuracy"}
    for name in ("loss", "accuracy"):
        assert [v for _, v in val[f"epoch_{name}"]] == pytest.approx(history.history[f"val_{name}"], rel=1e-6)
    # the graph: the layers as a chain
    graph = graph_pb2.GraphDef.FromString(acc.Graph().SerializeToString())
    assert [n.op for n in graph.node] == ["Placeholder", "Dense", "ReLU", "Dense"]
    assert list(graph.node[1].input) == [graph.node[0].name]
    # the first record names the file version
    first = event_pb2.Event.FromString(records(glob.glob(str(tmp_path / "logs" / "train" / "*"))[0])[0])
    assert first.file_version == "brain.Event:2"


def test_batch_scalars_every_n_batches(tmp_path):
    X, y = data()
    net = model()
    net.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[xdl.TensorBoard(tmp_path, update_freq=2)])
    assert os.listdir(tmp_path) == ["train"]  # no validation: no validation folder
    _, train = scalars(tmp_path / "train")
    # 6 batches an epoch, 12 steps: steps 2, 4, ..., 12
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6, 8, 10, 12]
    assert "batch_accuracy" in train
    assert all(np.isfinite(v) for _, v in train["batch_loss"])
    # update_freq="batch": every batch
    net.fit(X, y, epochs=1, batch_size=8, verbose=0, callbacks=[xdl.TensorBoard(tmp_path / "b", update_freq="batch")])
    _, train = scalars(tmp_path / "b" / "train")
    assert len(train["batch_loss"]) == 6


def test_resumed_run_writes_new_files_and_histograms(tmp_path):
    X, y = data()
    net = model()
    callback = xdl.TensorBoard(tmp_path, histogram_freq=1, write_steps_per_second=True)
    net.fit(X, y, epochs=1, verbose=0, callbacks=[callback])
    net.fit(X, y, epochs=2, initial_epoch=1, verbose=0, callbacks=[callback])
    assert len(os.listdir(tmp_path / "train")) == 2
    acc, train = scalars(tmp_path / "train")
    assert [s for s, _ in train["epoch_loss"]] == [0, 1]
    assert len(train["epoch_steps_per_second"]) == 2
    first = net.layers[0]
    assert f"{first.name}/weights" in acc.Tags()["histograms"]
    histograms = acc.Histograms(f"{first.name}/weights")
    assert [h.step for h in histograms] == [0, 1]
    weights = first.named_parameters()["weights"]
    assert histograms[-1].histogram_value.num == 32
    assert histograms[-1].histogram_value.max == pytest.approx(float(np.max(xdl.to_numpy(weights.value))))


def test_a_corrupt_record_is_detected(tmp_path):
    X, y = data()
    model().fit(X, y, epochs=1, verbose=0, callbacks=[xdl.TensorBoard(tmp_path)])
    path = glob.glob(str(tmp_path / "train" / "*"))[0]
    assert len(records(path)) >= 2  # version, graph, scalars: every crc checks
    bad = tmp_path / "bad"
    shutil.copy(path, bad)
    raw = bytearray(bad.read_bytes())
    raw[14] ^= 0xFF  # a byte of the first record's data (after its 8-byte length and 4-byte crc)
    bad.write_bytes(bytes(raw))
    with pytest.raises(tb_errors.DataLossError):
        records(bad)


@pytest.mark.parametrize("kwargs", [{"update_freq": "step"}, {"update_freq": 0}, {"histogram_freq": -1},
                                    {"write_graph": "yes"}, {"log_dir": 3}, {"profile_batch": "a,b"}])
def test_bad_arguments(kwargs):
    with pytest.raises(xdl.XdlError):
        xdl.TensorBoard(**kwargs)


def test_functional_graph_keeps_its_connections(tmp_path):
    inputs = xdl.Input(shape=(4,))
    left, right = xdl.Dense(units=8)(inputs), xdl.Dense(units=8)(inputs)
    net = xdl.Model(inputs=inputs, outputs=xdl.Dense(units=2)(xdl.Add()([left, right])))
    net.compile(loss="mse", optimizer="sgd")
    net.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0, callbacks=[xdl.TensorBoard(tmp_path)])
    acc = EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    nodes = {n.name: (n.op, list(n.input)) for n in acc.Graph().node}
    add = next(name for name, (op, _) in nodes.items() if op == "Add")
    assert [nodes[i][0] for i in nodes[add][1]] == ["Dense", "Dense"]
    assert sum(op == "Placeholder" for op, _ in nodes.values()) == 1
