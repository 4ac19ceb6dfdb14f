"""Issue 17: hostile files, failing disks, mismatched processes, bad input. Each test names
the item it covers; the fuzzing of whole files is in test_hostile_files.py (and, at length,
tests/fuzz_files.py)."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pathlib
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
from test_hostile_files import _set, join, load_bytes, split, valid_file, with_meta

import xdl

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return valid_file(tmp_path_factory.mktemp("faults") / "m.xdl")


def mutated(checkpoint, mutate):
    header, body = split(checkpoint)
    mutate(header)
    return join(header, body)


def refused(tmp_path, data, match):
    with pytest.raises(xdl.ModelFileError, match=match):
        load_bytes(tmp_path, data)


def raw(key, old, new):
    """Replace text in metadata entry ``key`` (for JSON a Python writer would not make)."""
    def mutate(header):
        text = header["__metadata__"][key]
        assert old in text
        header["__metadata__"][key] = text.replace(old, new, 1)
    return mutate


# -- items 1-9: loading --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["model", "training"])
def test_item1_deep_nesting_inside_a_value_is_refused_before_parsing(tmp_path, checkpoint, key):
    deep = "[" * 900 + "]" * 900  # within the JSON parser's limit, beyond what every later check can walk
    old = '"class": "Dense"' if key == "model" else '"class": "CrossEntropy"'
    new = old.replace('"Dense"', deep).replace('"CrossEntropy"', deep)
    refused(tmp_path, mutated(checkpoint, raw(key, old, new)), r"nests more than 144 levels deep \(90\d\)")


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN", "1e999"])
def test_item2_non_finite_numbers_are_refused(tmp_path, checkpoint, text):
    data = mutated(checkpoint, raw("model", '"alpha": 0.1', f'"alpha": {text}'))
    refused(tmp_path, data, r"malformed architecture metadata: not JSON: .*(not a JSON number|overflows a float)")
    data = mutated(checkpoint, raw("model", '"input_shape": [3]', f'"input_shape": [{text}]'))
    refused(tmp_path, data, "not JSON")


@pytest.mark.parametrize("where", [["losses", 0, "class"], ["optimizer", "class"], ["metrics", 0, 0, "class"]])
@pytest.mark.parametrize("value", [["MSE"], {"MSE": 1}, 3, None])
def test_item3_a_class_name_that_is_not_a_string(tmp_path, checkpoint, where, value):
    data = mutated(checkpoint, lambda h: with_meta(h, "training", lambda t: _set(t, where, value)))
    refused(tmp_path, data, r"unknown (loss|optimizer|metric)")


def test_item3_duplicate_keys_are_refused(tmp_path, checkpoint):
    data = mutated(checkpoint, raw("training", '"epoch": 1', '"epoch": 1, "epoch": 0'))
    refused(tmp_path, data, "the key 'epoch' appears twice")


@pytest.mark.parametrize("index", ["\u00b2", "\u0663", "9" * 5000, "-0", "+1", " 1"])
def test_item4_version_1_state_names_hold_ascii_digits_only(tmp_path, index):
    header, body = split((pathlib.Path(__file__).parent / "data" / "mlp_adam_checkpoint.xdl").read_bytes())
    header[f"optimizer.{index}.m"] = header.pop("optimizer.3.m")
    refused(tmp_path, join(header, body), "names no parameter of the model")


def test_item5_huge_metadata_is_refused_before_it_is_parsed(tmp_path, checkpoint):
    bomb = "[" + "{}, " * 5_000_000 + "{}]"  # 20 MB of text, ~400 MB once parsed
    data = mutated(checkpoint, lambda h: h["__metadata__"].update(model=bomb))
    path = tmp_path / "bomb.xdl"
    path.write_bytes(data)
    del data, bomb
    tracemalloc.start()
    try:
        with pytest.raises(xdl.ModelFileError, match=r"is 20,000,00\d characters, more than the 4,194,304"):
            xdl.NeuralNetwork.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20, f"refusing the file cost {peak / 2**20:.0f} MB"


def test_item6_input_shape_with_millions_of_axes(tmp_path, checkpoint):
    data = mutated(checkpoint, lambda h: with_meta(h, "model", lambda m: m["config"].update(
        input_shape=[1] * 100_000)))
    refused(tmp_path, data, "a shape must be a list of at most 64 sizes")


def _architecture_file(tmp_path, model, mutate):
    model.save(tmp_path / "arch.xdl")
    header, body = split((tmp_path / "arch.xdl").read_bytes())
    with_meta(header, "model", mutate)
    return join(header, body)


@pytest.mark.parametrize("axis,match", [(7, "axis 7 is out of range for input"),
                                        (10**30, "axis must be an int"), (-3, "axis -3 is out of range")])
def test_item7_softmax_axis_out_of_range(tmp_path, axis, match):
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=2), xdl.Softmax()])
    model.predict(np.ones((1, 3)))
    data = _architecture_file(tmp_path, model, lambda m: _set(m, ["config", "layers", 1, "config", "axis"], axis))
    refused(tmp_path, data, match + "|larger than 2\\*\\*64")
    with pytest.raises((ValueError, xdl.ShapeError), match=match):  # the API refuses the same
        xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=2), xdl.Softmax(axis=axis)]).predict(np.ones((2, 3)))


@pytest.mark.parametrize("dilation", [[2**64, 1], [10_000, 10_000]])
def test_item7_conv_dilation_that_would_pad_gigabytes(tmp_path, dilation):
    model = xdl.NeuralNetwork([xdl.Conv2D(1, 2, 3, padding="same")])
    model.predict(np.ones((1, 8, 8, 1)))
    data = _architecture_file(tmp_path, model,
                              lambda m: _set(m, ["config", "layers", 0, "config", "dilation"], dilation))
    refused(tmp_path, data, "dilation .* spreads its 3-tap window")
    with pytest.raises(xdl.ShapeError, match="outer taps would read padding only"):
        xdl.Conv2D(1, 2, 3, padding="same", dilation=dilation).forward(np.ones((1, 8, 8, 1)))


def test_item7_lstm_with_return_state_in_a_sequential(tmp_path):
    model = xdl.NeuralNetwork([xdl.Embedding(10, 4), xdl.LSTM(5), xdl.Dense(output_size=2)])
    model.predict(np.zeros((2, 6), dtype=np.int64))
    data = _architecture_file(tmp_path, model,
                              lambda m: _set(m, ["config", "layers", 1, "config", "return_state"], True))
    refused(tmp_path, data, "gives 3 outputs")


@pytest.mark.parametrize("mutate,match", [
    (lambda t: t.update(iterations=10**400), "larger than 2\\*\\*64"),
    (lambda t: t.update(data_seed=-5), "data_seed must be an int in"),
    (lambda t: t.update(data_seed="x"), "data_seed must be an int in"),
    (lambda t: _set(t, ["metrics", 0, 0, "config", "binary"], "GRU"), "binary must be True or False"),
    (lambda t: _set(t, ["metrics", 0, 0, "config", "threshold"], "abc"), "threshold must be a finite number"),
    (lambda t: _set(t, ["losses", 0, "config", "from_logits"], "no"), "from_logits must be True or False"),
    (lambda t: _set(t, ["optimizer", "config", "learning_rate"],
                    {"class": "ExponentialDecay", "config": {"initial_learning_rate": 1.0, "decay_steps": 1,
                                                             "decay_rate": 1e308}}), "decay_rate must be"),
], ids=["iterations", "seed", "seed-type", "binary", "threshold", "from_logits", "schedule"])
def test_item8_training_metadata_that_would_break_fit(tmp_path, checkpoint, mutate, match):
    refused(tmp_path, mutated(checkpoint, lambda h: with_meta(h, "training", mutate)), match)


@pytest.mark.parametrize("make", [
    lambda v: xdl.SGD(learning_rate=v), lambda v: xdl.Adam(weight_decay=v), lambda v: xdl.LeakyReLU(alpha=v),
    lambda v: xdl.CosineDecay(v, 10), lambda v: xdl.Adam(epsilon=v), lambda v: xdl.Huber(delta=v),
    lambda v: xdl.SGD(0.1, clipnorm=v)], ids=["sgd-lr", "adam-wd", "leaky", "cosine", "eps", "huber", "clipnorm"])
@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400])
def test_item9_constructors_refuse_non_finite_values(make, value):
    with pytest.raises(ValueError, match=r"\(finite\)"):
        make(value)


def test_item9_the_same_value_from_a_file(tmp_path, checkpoint):
    data = mutated(checkpoint, lambda h: with_meta(h, "training", lambda t: _set(
        t, ["optimizer", "config", "weight_decay"], 1e300)))
    load_bytes(tmp_path, data)  # large but finite: accepted, as by the constructor
    data = mutated(checkpoint, raw("training", '"beta_1": 0.9', '"beta_1": 0.9, "weight_decay": 1e400'))
    refused(tmp_path, data, "overflows a float")


# -- items 10-12: saving ---------------------------------------------------------------------------

def _small_model():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=2)])
    model.compile(loss="mse", optimizer="sgd")
    model.predict(np.ones((1, 3)))
    return model


def _no_space(monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)


def test_item10_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    model, path = _small_model(), tmp_path / "m.xdl"
    model.save(path)
    before = path.read_bytes()
    _no_space(monkeypatch)
    with pytest.raises(xdl.ModelSaveError, match=r"cannot save '.*m\.xdl': no space left on the device .*"
                                                 r"the previous file is unchanged") as caught:
        model.save(path)
    assert caught.value.errno == errno.ENOSPC and ".tmp" not in str(caught.value)
    monkeypatch.undo()
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.xdl"]


@pytest.mark.parametrize("case", ["missing-folder", "folder", "empty"])
def test_item10_other_failures_name_the_file_as_given(tmp_path, case):
    path = {"missing-folder": str(tmp_path / "nope" / "deeper" / "m.xdl"), "folder": str(tmp_path), "empty": ""}[case]
    with pytest.raises(xdl.ModelSaveError, match=f"cannot save {path!r}") as caught:
        _small_model().save(path)
    assert ".tmp" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_item10_a_pipe_or_device_is_written_through_not_replaced(tmp_path):
    """As open(path, "wb") would: saving to /dev/stdout or a pipe writes into it (a rename
    over it would replace a device node with a file, as root)."""
    pipe, received = tmp_path / "pipe", []
    os.mkfifo(pipe)
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    _small_model().save(pipe)
    reader.join(10)
    if reader.is_alive():  # the save did not open the pipe: unblock the reader before failing
        # without blocking: a reader that already read and is still finishing would never
        # open again, and a blocking open would then wait for it forever
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode), "the pipe was replaced by a file"
    (tmp_path / "copy.xdl").write_bytes(received[0])
    assert xdl.NeuralNetwork.load(tmp_path / "copy.xdl").layers[0].output_size == 2


def test_item11_checkpoint_on_a_full_disk_leaves_epoch_and_history_agreeing(tmp_path, monkeypatch):
    model = _small_model()
    X, Y = np.ones((8, 3)), np.ones((8, 2))

    class FullAfter(xdl.Callback):  # the disk fills up before epoch 3's checkpoint
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:
                _no_space(monkeypatch)

    with pytest.raises(xdl.ModelSaveError, match=r"ModelCheckpoint after epoch 3: cannot save .*no space left.*"
                                                 "epoch 3 trained .* but not saved"):
        model.fit(X, Y, epochs=5, verbose=0, callbacks=[FullAfter(), xdl.ModelCheckpoint(tmp_path / "c.xdl",
                                                                                         save_best_only=False)])
    monkeypatch.undo()
    assert model.epoch == 3 and len(model.history.epoch) == 3


def test_item12_a_symlink_is_written_through(tmp_path):
    model = _small_model()
    model.save(tmp_path / "real.xdl")
    os.symlink(tmp_path / "real.xdl", tmp_path / "link.xdl")
    model.layers[0].weights = np.zeros((3, 2))
    model.save(tmp_path / "link.xdl")
    assert os.path.islink(tmp_path / "link.xdl")
    np.testing.assert_array_equal(xdl.to_numpy(xdl.NeuralNetwork.load(tmp_path / "real.xdl").layers[0].weights), 0)


# -- item 13: data-parallel runs -------------------------------------------------------------------

MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([str(pathlib.Path(sys.executable).parent),
                                                        os.environ.get("PATH", "")]))
needs_mpi = pytest.mark.skipif(not (MPIEXEC and __import__("importlib").util.find_spec("mpi4py")),
                               reason='mpi4py or mpiexec missing: pip install -e ".[mpi]"')


def faults_run(mode, out, timeout=90):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, str(ROOT / "tests" / "faults_worker.py"), mode,
                             str(out)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    start = time.monotonic()
    try:
        output = proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"mpiexec -n 2 faults_worker.py {mode} hung for {timeout}s")
    results = [json.loads((out / f"rank{r}.json").read_text()) if (out / f"rank{r}.json").exists() else None
               for r in range(2)]
    return proc.returncode, output, results, time.monotonic() - start


@needs_mpi
@pytest.mark.parametrize("mode,match", [("samples", "samples: 100 on rank 0, 201 on rank 1"),
                                        ("batch", "batch_size: 16 on rank 0, 32 on rank 1"),
                                        ("epochs", "epochs: 2 on rank 0, 3 on rank 1"),
                                        ("nan", "rank 1 of 2 failed preparing its data: .*NaN")])
def test_item13_processes_that_disagree_all_fail_with_the_difference(tmp_path, mode, match):
    rc, output, results, _ = faults_run(mode, tmp_path)
    assert rc == 0, output
    for result in results:
        assert "DisagreementError" in result["error"], result
        assert __import__("re").search(match, result["error"]), result["error"]


@needs_mpi
def test_item13_a_stalled_rank_ends_the_run_after_the_timeout(tmp_path):
    rc, output, results, seconds = faults_run("stall", tmp_path, timeout=60)
    assert rc != 0 and "waited more than 2 s in the agreement check when fit starts" in output, output
    assert seconds < 30  # rank 1 sleeps 30 s: the timeout, not the sleep, ended it


@needs_mpi
def test_item13_and_15_a_nan_on_one_rank_stops_every_rank(tmp_path):
    rc, output, results, _ = faults_run("nanloss", tmp_path)
    assert rc == 0, output
    for result in results:
        assert result["epochs"] == 1 and result["finite"], result
    assert any("the loss is not finite" in w for w in results[0]["warnings"]), results[0]


def test_item13_timeout_is_checked():
    from xdl.train.distributed import DataParallel

    class Comm:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 2

    for bad in (0, -1, math.inf, "5", True):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            DataParallel(Comm(), timeout=bad)


# -- items 14-19: training and inference -----------------------------------------------------------

def test_item14_inference_keeps_nothing_afterwards():
    """predict keeps no backward caches: after it returns (and its output is dropped) the
    layers hold no more memory than before; evaluate likewise."""
    xdl.seed(0)
    model = xdl.NeuralNetwork([xdl.Embedding(50, 8), xdl.LSTM(16, return_sequences=True), xdl.GRU(8),
                               xdl.Dense(output_size=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    X = np.random.default_rng(0).integers(0, 50, (4000, 5))
    y = np.zeros(4000, dtype=np.int64)
    model.predict(X[:2])
    model.evaluate(X[:2], y[:2])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = model.predict(X)
        assert tuple(out.shape) == (4000, 3)
        del out
        model.evaluate(X, y)
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 2**20, f"{retained / 2**20:.1f} MB kept after predict and evaluate"


def test_item15_a_nan_in_the_data_stops_fit_within_a_bounded_number_of_steps(be):
    from xdl.train.loop import CHECK_STEPS

    xdl.seed(0)
    X = np.random.default_rng(0).standard_normal((1000, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    X[45 * 8 + 3, 2] = np.nan  # in batch 46 of 125 (batch_size 8, no shuffling)
    model = xdl.NeuralNetwork([xdl.Dense(input_size=4, output_size=6), xdl.Tanh(), xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer=xdl.Adam(0.01))
    steps = []

    class Count(xdl.Callback):
        def on_train_begin(self, logs=None):
            original = self.model.train_step
            self.model.train_step = lambda batch: steps.append(1) or original(batch)

    with pytest.warns(RuntimeWarning, match=r"not finite \(NaN or inf\) at batch 46 of epoch 1; training stopped, "
                                            r"the weights and optimizer state put back to those after batch 32"):
        history = model.fit(X, y, epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[Count()])
    assert len(steps) <= 46 + CHECK_STEPS and len(history.epoch) == 1
    assert all(np.isfinite(xdl.to_numpy(p.value)).all() for p in model.parameters())
    assert model.optimizer.iterations == 32
    assert np.isfinite(xdl.to_numpy(model.predict(X[:8]))).all()


def test_item16_float_labels_for_cross_entropy_are_refused():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=3)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    for labels in ([np.nan, 0, 1], [3.5, 0, 1], [42.0, 0, 1]):
        with pytest.raises(ValueError, match="whole numbers|must lie in"):
            model.fit(np.ones((3, 3)), np.array(labels), epochs=1, verbose=0)


def test_item17_embedding_indices_out_of_range(be):
    model = xdl.NeuralNetwork([xdl.Embedding(10, 4), xdl.LSTM(5), xdl.Dense(output_size=2)])
    model.compile(loss=xdl.CrossEntropy(from_logits=True), optimizer="sgd")
    good = np.zeros((2, 6), dtype=np.int64)
    model.predict(good)
    for bad, seen in ((-1, "from -1 to 0"), (10, "from 0 to 10")):
        X = good.copy()
        X[1, 3] = bad
        for call in (lambda: model.predict(X), lambda: model.fit(X, np.array([0, 1]), epochs=1, verbose=0),
                     lambda: model.evaluate(X, np.array([0, 1])), lambda: model.layers[0].forward(X)):
            match = rf"indices in \[0, 9\] \(vocab_size 10\); got indices {seen}"
            with pytest.raises(xdl.IndexRangeError, match=match):
                call()


EMPTY = {
    "cnn": (lambda: [xdl.Conv2D(1, 2, 3), xdl.MaxPool2D(2), xdl.Conv2D(2, 2, 1, padding="same"), xdl.AvgPool2D(2),
                     xdl.Flatten(), xdl.Dense(output_size=2)], (8, 8, 1), np.float64),
    "cnn-global": (lambda: [xdl.Conv2D(1, 2, 3, stride=2), xdl.BatchNorm(), xdl.ReLU(), xdl.GlobalAveragePooling2D(),
                            xdl.Dense(output_size=2)], (8, 8, 1), np.float64),
    "embedding-lstm": (lambda: [xdl.Embedding(10, 4), xdl.LSTM(5, return_sequences=True), xdl.GRU(3)], (6,), np.int64),
    "rnn": (lambda: [xdl.SimpleRNN(4), xdl.LayerNorm(), xdl.Dropout(0.5), xdl.Dense(output_size=2), xdl.Softmax()],
            (5, 3), np.float64),
    "reshape": (lambda: [xdl.Reshape((2, 3)), xdl.LeakyReLU(0.1), xdl.Sigmoid(), xdl.Flatten()], (6,), np.float64),
}


@pytest.mark.parametrize("case", list(EMPTY))
def test_item18_empty_batches_pass_every_layer(be, case):
    layers, shape, dtype = EMPTY[case]
    model = xdl.NeuralNetwork(layers())
    one = model.predict(np.ones((1, *shape), dtype=dtype))
    empty = model.predict(np.ones((0, *shape), dtype=dtype))
    assert tuple(empty.shape) == (0,) + tuple(one.shape[1:])
    y = model.forward(np.ones((0, *shape), dtype=dtype), training=True)
    model.backward(np.zeros(tuple(y.shape)))  # and back


def test_item19_masked_arrays_and_meta_tensors_get_named_errors():
    model = _small_model()
    masked = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(xdl.InputError, match=r"neural_network.*: X: got a masked array .*x\.filled\(value\)"):
        model.predict(masked)
    with pytest.raises(xdl.InputError, match="masked array"):
        model.fit(np.ones((2, 3)), np.ma.masked_array(np.ones((2, 2))), epochs=1, verbose=0)
    torch = pytest.importorskip("torch")
    if model.backend.name != "torch":
        with pytest.raises(xdl.BackendError, match="cannot read the data of a Tensor on device meta"):
            model.predict(torch.ones((2, 3), device="meta"))

