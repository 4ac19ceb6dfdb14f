"""Issue 35: temporaries that killed saves left behind are cleaned whatever file they were for
(``ModelCheckpoint("ck_{epoch:03d}.xdl")`` never saves the same name twice), but only once
provably orphaned; and a path that names a folder ("out/") is refused instead of written as a
file named "out"."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys

import pytest

import xdl
from tests.helpers import small_classifier, three_classes

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX processes and flock")


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# A writer as atomic_write is one: creates its temporary (the name may hold "{pid}", its own),
# takes the exclusive flock, says so, and waits until killed or its stdin closes.
HOLDER = """
import fcntl, os, sys
path = sys.argv[1].format(pid=os.getpid())
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
os.write(fd, b"partial")
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print(path, flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def holder(template):
    """A live process holding the lock of ``template`` (formatted with its pid): yields (process, path)."""
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(template)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as child:
        try:
            path = child.stdout.readline().strip()
            assert path, "the holder did not start"
            yield child, path
        finally:
            child.kill()


def killed_writer(template):
    """The temporary of a writer SIGKILLed while it held the file locked (as kill -9 mid-save)."""
    with holder(template) as (child, path):
        child.kill()
        child.wait()
    return path


def test_orphans_of_any_checkpoint_name_are_removed_live_writers_and_other_files_kept(model, tmp_path):
    dead = dead_pid()
    orphans = [tmp_path / f".ck_013.xdl.{dead}.0123abcd.tmp",  # the issue's: another epoch's name
               killed_writer(tmp_path / ".ck_012.xdl.{pid}.89abcdef.tmp"),
               tmp_path / f".model.v2.final.safetensors.{dead}.deadbeef.tmp"]  # dots in the name
    kept = [tmp_path / f".ck_010.xdl.{os.getpid()}.89abcdef.tmp",  # this process: another thread's save
            tmp_path / ".my.notes.tmp", tmp_path / "notes.tmp",  # users' files
            tmp_path / f"ck_013.xdl.{dead}.0123abcd.tmp",  # no leading dot
            tmp_path / f".ck_013.xdl.{dead}.0123ABCD.tmp",  # not xdl's hex
            tmp_path / f".ck_013.xdl.{dead}.0123abc.tmp",  # 7 hex digits
            tmp_path / f".ck_013.xdl.x{dead}.0123abcd.tmp",  # no pid
            tmp_path / f".{dead}.0123abcd.tmp",  # no name
            tmp_path / f".ck_013.xdl.{dead}.0123abcd.tmp.bak",
            tmp_path / f".ck_013.xdl.{10**30}.0123abcd.tmp"]  # no such pid number: not provably gone
    for p in orphans[:1] + orphans[2:] + kept:
        pathlib.Path(p).write_bytes(b"partial")
    folder = tmp_path / f".ck_009.xdl.{dead}.0123abcd.tmp"  # a folder, not a file: kept
    folder.mkdir()
    link = tmp_path / f".ck_008.xdl.{dead}.0123abcd.tmp"  # a symlink: kept, and its target too
    link.symlink_to(tmp_path / "notes.tmp")
    with holder(tmp_path / ".ck_011.xdl.{pid}.fedcba98.tmp") as (_, live), \
            holder(tmp_path / f".ck_007.xdl.{dead}.00000000.tmp") as (_, reused):  # the name's pid is gone,
        # but a live process holds the lock (a forked child, another pid namespace): kept
        assert all(os.path.exists(p) for p in orphans)
        model.save(tmp_path / "ck_014.xdl")
        assert [p for p in orphans if os.path.exists(p)] == []
        for p in kept + [live, reused]:
            assert pathlib.Path(p).read_bytes() == b"partial", p
        assert folder.is_dir() and link.is_symlink()
    assert os.path.isfile(tmp_path / "ck_014.xdl")


# A first run whose checkpoint after epoch 13 is killed midway (kill -9 while it writes).
KILLED_FIT = """
import os, sys
import xdl
from xdl.io import files
from tests.helpers import small_classifier, three_classes
def hang(fd, data):
    os.write(fd, bytes(data)[:10])
    print("writing", flush=True)
    sys.stdin.read()
files._write_all = hang
with xdl.use_backend("numpy"):
    model = small_classifier()
    X, y = three_classes()
    model.fit(X, y, epochs=13, initial_epoch=12, verbose=0,
              callbacks=[xdl.ModelCheckpoint(os.path.join(sys.argv[1], "ck_{epoch:03d}.xdl"))])
"""


def test_a_new_fit_cleans_what_a_killed_per_epoch_checkpoint_left(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDL_")}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    with subprocess.Popen([sys.executable, "-c", KILLED_FIT, str(tmp_path)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env, cwd=root) as child:
        try:
            assert child.stdout.readline().strip() == "writing"
        finally:
            child.kill()
    left = os.listdir(tmp_path)
    assert len(left) == 1 and left[0].startswith(".ck_013.xdl.") and left[0].endswith(".tmp"), left
    with xdl.use_backend("numpy"):
        model = small_classifier()
        X, y = three_classes()
        model.fit(X, y, epochs=14, initial_epoch=13, verbose=0,
                  callbacks=[xdl.ModelCheckpoint(str(tmp_path / "ck_{epoch:03d}.xdl"))])
    assert os.listdir(tmp_path) == ["ck_014.xdl"]


def check_names_a_folder(info, given):
    err = info.value
    assert isinstance(err, xdl.ModelSaveError) and isinstance(err, xdl.XdlError) and isinstance(err, OSError)
    message = str(err)
    assert repr(given) in message and "names a folder" in message and "model.xdl" in message, message
    assert ".tmp" not in message, message
    return err


@pytest.mark.parametrize("sep", [os.sep] + ([os.altsep] if os.altsep else []))
def test_a_path_ending_in_a_separator_is_refused_not_written_as_a_file(model, tmp_path, sep):
    given = str(tmp_path / "newdir") + sep
    with pytest.raises(xdl.ModelSaveError) as info:
        model.save(given)
    err = check_names_a_folder(info, given)
    assert isinstance(err, IsADirectoryError) and err.filename == given
    assert os.listdir(tmp_path) == []


def test_a_file_path_with_a_trailing_separator_does_not_replace_the_file(model, tmp_path):
    (tmp_path / "m.xdl").write_bytes(b"previous")
    given = str(tmp_path / "m.xdl") + os.sep
    with pytest.raises(xdl.ModelSaveError) as info:
        model.save(given)
    check_names_a_folder(info, given)
    assert (tmp_path / "m.xdl").read_bytes() == b"previous" and os.listdir(tmp_path) == ["m.xdl"]


def test_an_existing_folder_with_a_trailing_separator_stays_a_folder_error(model, tmp_path):
    (tmp_path / "out").mkdir()
    given = str(tmp_path / "out") + os.sep
    with pytest.raises(IsADirectoryError) as info:
        model.save(given)
    assert isinstance(info.value, xdl.ModelSaveError) and repr(given) in str(info.value)
    assert os.listdir(tmp_path / "out") == []


def test_a_checkpoint_into_a_folder_name_stops_with_the_folder_error(tmp_path):
    given = str(tmp_path / "ckpts") + os.sep
    with xdl.use_backend("numpy"):
        model = small_classifier()
        X, y = three_classes()
        with pytest.raises(xdl.ModelSaveError) as info:
            model.fit(X, y, epochs=1, verbose=0, callbacks=[xdl.ModelCheckpoint(given)])
    check_names_a_folder(info, given)
    assert "ModelCheckpoint after epoch 1" in str(info.value)
    assert os.listdir(tmp_path) == []
