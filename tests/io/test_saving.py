"""Saving where things go wrong: every failure names the user's file and why, the old file
stays whole (a full disk during a checkpoint leaves the epoch and History agreeing), killed saves
leave no debris for long, and the file written is the one ``open(path, "wb")`` would write
(mode, symlinks, pipes)."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import xdl
from xdl.io import files as io

NOT_ROOT = hasattr(os, "geteuid") and os.geteuid() != 0


def check_error(info, path, *words):
    err = info.value
    assert isinstance(err, xdl.XdlError) and isinstance(err, OSError) and isinstance(err, xdl.ModelSaveError)
    message = str(err)
    assert repr(os.fspath(path)) in message, message
    assert ".tmp" not in message, message
    for word in words:
        assert word in message, message
    return err


def leftovers(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_missing_folder_names_the_users_path(model, tmp_path):
    path = tmp_path / "no" / "such" / "m.xdl"
    with pytest.raises(FileNotFoundError) as info:
        model.save(path)
    check_error(info, path, "does not exist")


def test_empty_path(model):
    with pytest.raises(OSError) as info:
        model.save("")
    check_error(info, "", "empty")


def test_a_folder_at_the_path(model, tmp_path):
    (tmp_path / "d.xdl").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        model.save(tmp_path / "d.xdl")
    check_error(info, tmp_path / "d.xdl", "folder")
    assert (tmp_path / "d.xdl").is_dir() and leftovers(tmp_path) == []


@pytest.mark.parametrize("code, words", [(errno.EROFS, "read-only"), (errno.EACCES, "permission")])
def test_read_only_or_unwritable_folder(model, tmp_path, monkeypatch, code, words):
    path = tmp_path / "m.xdl"
    model.save(path)
    before = path.read_bytes()

    def refuse(folder, name):
        raise OSError(code, os.strerror(code), os.path.join(folder, f".{name}.1.abcdef12.tmp"))

    monkeypatch.setattr(io, "_open_temporary", refuse)
    with pytest.raises(OSError) as info:
        model.save(path)
    err = check_error(info, path, words, "previous file is unchanged")
    assert err.errno == code and err.filename == str(path)
    assert path.read_bytes() == before


@pytest.mark.skipif(not NOT_ROOT, reason="root writes into any folder")
def test_unwritable_folder_for_real(model, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as info:
            model.save(folder / "m.xdl")
        check_error(info, folder / "m.xdl", "permission")
    finally:
        folder.chmod(0o755)


def test_full_disk_leaves_the_old_file_whole(model, tmp_path, monkeypatch):
    path = tmp_path / "m.xdl"
    model.save(path)
    before = path.read_bytes()

    def full(fd, data):
        os.write(fd, bytes(data)[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io, "_write_all", full)
    with pytest.raises(OSError) as info:
        model.save(path)
    check_error(info, path, "no space left")
    assert path.read_bytes() == before and leftovers(tmp_path) == []
    assert xdl.NeuralNetwork.load(path).layers[0].weights.shape == (2, 3)


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(model, tmp_path):
    stale = tmp_path / f".m.xdl.{dead_pid()}.0123abcd.tmp"
    mine = tmp_path / f".m.xdl.{os.getpid()}.89abcdef.tmp"  # a live writer: this process
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        theirs = tmp_path / f".m.xdl.{child.pid}.deadbeef.tmp"  # a live writer: another process
        other = tmp_path / f".other.xdl.{dead_pid()}.0123abcd.tmp"  # another target's: orphaned too
        for p in (stale, mine, theirs, other):
            p.write_bytes(b"partial")
        model.save(tmp_path / "m.xdl")
        assert not stale.exists() and not other.exists()
        assert mine.read_bytes() == theirs.read_bytes() == b"partial"
    finally:
        child.kill()
        child.wait()


KILLED = """
import os, sys
import numpy as np
import xdl
from xdl.io import files
m = xdl.NeuralNetwork([xdl.Dense(input_size=2, output_size=3)])
m.predict(np.ones((1, 2)))
def hang(fd, data):
    os.write(fd, bytes(data)[:10])
    print("writing", flush=True)
    sys.stdin.read()
files._write_all = hang
m.save(sys.argv[1])
"""


def test_a_save_killed_midway_is_cleaned_up_by_the_next(model, tmp_path):
    path = tmp_path / "m.xdl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDL_")}
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "writing"
        assert len(leftovers(tmp_path)) == 1
        child.kill()
    finally:
        child.kill()
        child.wait()
    assert len(leftovers(tmp_path)) == 1
    model.save(path)
    assert leftovers(tmp_path) == [] and os.listdir(tmp_path) == ["m.xdl"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_file_mode_follows_the_umask(model, tmp_path, umask):
    old = os.umask(umask)
    try:
        model.save(tmp_path / "m.xdl")
        with open(tmp_path / "plain", "wb"):
            pass
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "m.xdl").st_mode)
    assert mode == 0o666 & ~umask == stat.S_IMODE(os.stat(tmp_path / "plain").st_mode)


def test_replacing_a_file_keeps_its_mode(model, tmp_path):
    path = tmp_path / "m.xdl"
    model.save(path)
    path.chmod(0o640)
    model.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_a_symlink_is_written_through(model, tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.xdl"
    target.write_bytes(b"old")
    link = tmp_path / "latest.xdl"
    link.symlink_to(target)
    model.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert xdl.NeuralNetwork.load(target).layers[0].weights.shape == (2, 3)
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(model, tmp_path):
    link = tmp_path / "latest.xdl"
    link.symlink_to(tmp_path / "new.xdl")
    model.save(link)
    assert link.is_symlink() and (tmp_path / "new.xdl").is_file()


@pytest.mark.parametrize("name, fmt", [("model.h5", "HDF5"), ("model.pt", "PyTorch"), ("m.pkl", "pickle")])
def test_a_name_that_promises_another_format_warns(model, tmp_path, name, fmt):
    with pytest.warns(UserWarning, match=rf"{fmt}.*safetensors.*\.xdl or \.safetensors") as record:
        model.save(tmp_path / name)
    assert record[0].filename == __file__  # points at the caller's save()
    assert xdl.NeuralNetwork.load(tmp_path / name).layers[0].weights.shape == (2, 3)


@pytest.mark.parametrize("name", ["m.xdl", "m.safetensors", "model", "run.ckpt", "m.keras", "m.weights.h5"])
def test_fitting_names_do_not_warn(model, tmp_path, name):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / name)


def _small_model():
    model = xdl.NeuralNetwork([xdl.Dense(input_size=3, output_size=2)])
    model.compile(loss="mse", optimizer="sgd")
    model.predict(np.ones((1, 3)))
    return model


def _no_space(monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(os, "write", full)


def test_a_full_disk_names_the_file_with_its_errno_and_keeps_the_old_one(tmp_path, monkeypatch):
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
def test_a_missing_folder_a_folder_or_no_name_name_the_file_as_given(tmp_path, case):
    path = {"missing-folder": str(tmp_path / "nope" / "deeper" / "m.xdl"), "folder": str(tmp_path), "empty": ""}[case]
    with pytest.raises(xdl.ModelSaveError, match=f"cannot save {path!r}") as caught:
        _small_model().save(path)
    assert ".tmp" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_or_device_is_written_through_not_replaced(tmp_path):
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


def test_checkpoint_on_a_full_disk_leaves_epoch_and_history_agreeing(tmp_path, monkeypatch):
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


def test_a_symlink_to_an_earlier_save_gets_the_new_weights(tmp_path):
    model = _small_model()
    model.save(tmp_path / "real.xdl")
    os.symlink(tmp_path / "real.xdl", tmp_path / "link.xdl")
    model.layers[0].weights = np.zeros((3, 2))
    model.save(tmp_path / "link.xdl")
    assert os.path.islink(tmp_path / "link.xdl")
    np.testing.assert_array_equal(xdl.to_numpy(xdl.NeuralNetwork.load(tmp_path / "real.xdl").layers[0].weights), 0)
