"""labkit.files: paths a user names are checked before they are opened, and refused with the path named.

Also the public entry points that read such files (Wallet.load,
Network.load, load_public_key_file): each raises its labkit error class,
never a raw OSError, and never waits on a FIFO or reads /dev/zero for ever.
"""

from __future__ import annotations

import errno
import os

import pytest

from labkit.errors import ConfigError, InvalidKey, LabkitError
from labkit.files import (
    FileRefused,
    atomic_write,
    check_folder,
    check_new_file,
    check_regular,
    describe,
    missing_folders,
    read_regular,
)
from labkit.network import Network
from labkit.wallet import Wallet, load_public_key_file

NOT_FILES = {
    "fifo": (lambda p: os.mkfifo(p), "is a FIFO"),
    "folder": (lambda p: p.mkdir(), "is a folder, not a file"),
    "device": (lambda p: os.symlink("/dev/zero", p), "is a device"),
    "missing": (lambda p: None, "no such file or folder"),
    "through a file": (None, "a part of the path is a file"),
}


def not_a_file(tmp_path, kind: str):
    make, words = NOT_FILES[kind]
    if make is None:
        (tmp_path / "file").write_text("x")
        return tmp_path / "file" / "x.pem", words
    make(tmp_path / "x.pem")
    return tmp_path / "x.pem", words


@pytest.mark.parametrize("kind", NOT_FILES)
def test_check_and_read_refuse_what_is_not_a_regular_file(tmp_path, kind):
    path, words = not_a_file(tmp_path, kind)
    for attempt in (lambda: check_regular(path), lambda: read_regular(path, limit=100)):
        with pytest.raises(FileRefused, match=words) as info:
            attempt()
        assert info.value.filename == str(path) and str(info.value) == f"{path}: {info.value.reason}"


@pytest.mark.parametrize("kind", NOT_FILES)
def test_wallet_load_raises_invalid_key(tmp_path, kind):
    path, words = not_a_file(tmp_path, kind)
    with pytest.raises(InvalidKey, match=words):
        Wallet.load(path)
    with pytest.raises(InvalidKey, match=words):
        load_public_key_file(path)


@pytest.mark.parametrize("kind", NOT_FILES)
def test_network_load_raises_config_error(tmp_path, kind):
    path, words = not_a_file(tmp_path, kind)
    with pytest.raises(ConfigError, match=words):
        Network.load(path)


def test_read_regular_enforces_the_limit(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * 101)
    assert read_regular(path, limit=101) == b"x" * 101
    with pytest.raises(FileRefused, match="is 101 bytes; the limit is 100") as info:
        read_regular(path, limit=100)
    assert info.value.errno == errno.EFBIG


def test_check_new_file(tmp_path):
    assert check_new_file(tmp_path / "new.json") == tmp_path / "new.json"
    (tmp_path / "old.json").write_text("x")
    with pytest.raises(FileRefused, match="already exists"):
        check_new_file(tmp_path / "old.json")
    assert check_new_file(tmp_path / "old.json", overwrite=True)
    with pytest.raises(FileRefused, match="is a folder"):
        check_new_file(tmp_path, overwrite=True)
    with pytest.raises(FileRefused, match="no such file or folder"):
        check_new_file(tmp_path / "nowhere" / "new.json")
    with pytest.raises(FileRefused, match="a part of the path is a file"):
        check_new_file(tmp_path / "old.json" / "new.json")


def test_check_folder_creates_nothing(tmp_path):
    assert check_folder(tmp_path) == tmp_path
    assert check_folder(tmp_path / "a" / "b", create=True) == tmp_path / "a" / "b"
    assert missing_folders(tmp_path / "a" / "b") == [tmp_path / "a", tmp_path / "a" / "b"]
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileRefused, match="no such folder"):
        check_folder(tmp_path / "a")
    (tmp_path / "f").write_text("x")
    with pytest.raises(FileRefused, match="is a file, not a folder"):
        check_folder(tmp_path / "f", create=True)


def test_describe_names_the_path():
    assert describe(PermissionError(errno.EACCES, "Permission denied", "keys/ana.pem")) == \
        "keys/ana.pem: permission denied"
    assert describe(OSError(errno.EROFS, "Read-only file system", "/mnt/x")) == "/mnt/x: the file system is read-only"
    assert describe(OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b")) == \
        "a -> b: invalid cross-device link"
    assert describe(BrokenPipeError(errno.EPIPE, "Broken pipe")) == "broken pipe"


def test_a_failed_write_names_the_folder_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        atomic_write(tmp_path / "missing" / "x.json", b"{}")
    assert info.value.filename == str(tmp_path / "missing")  # not the temporary file's name
    with pytest.raises(FileRefused, match="missing: no such file or folder") as info:
        Wallet.generate(512, teaching=True).save(tmp_path / "missing" / "k.pem")
    assert isinstance(info.value, LabkitError) and os.listdir(tmp_path) == []


def test_a_read_only_file_system_is_named_as_such(tmp_path, monkeypatch):
    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(FileRefused, match="the file system is read-only"):
        check_new_file(tmp_path / "net.json")
    with pytest.raises(FileRefused, match="the file system is read-only"):
        check_folder(tmp_path / "new", create=True)
