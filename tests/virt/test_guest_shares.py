"""The init's handling of cloud-config ``mounts`` (guest_system.mount_shares and share_target),
on a directory standing for the instance's new root, with a recording stand-in for the mount
system call (the real binds are in tests/e2e/test_netns_shares.py, as root): which entries are
bound, read-only or not, and which mount points are refused (relative, not normalised, "/",
through a symlink or a file); missing components are made 0755."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NETNS = str(Path(__file__).resolve().parents[2] / "src" / "caas" / "virt" / "netns")


@pytest.fixture(scope="module")
def guest():
    sys.path.insert(0, NETNS)  # the init imports its siblings by name, as it runs
    try:
        import guest_system
    finally:
        sys.path.remove(NETNS)
    return guest_system


class Binds:
    """What would have been bound: (source, target, read-only)."""

    def __init__(self) -> None:
        self.done: list[tuple[str, str, bool]] = []

    def bind(self, source, target, readonly=False, flags=0):
        self.done.append((source, target, readonly))


SHARES = [{"export": "172.24.4.1:/shares/a", "source": "/data/shares/a", "read_only": False},
          {"export": "172.24.4.1:/shares/b", "source": "/data/shares/b", "read_only": True}]


def test_binds_only_the_shares_given(guest, tmp_path, capfd):
    root = str(tmp_path)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "file").write_text("x")
    os.symlink("/", tmp_path / "escape")
    os.symlink("usr/bin", tmp_path / "bin")
    cloud = {"mounts": [
        ["172.24.4.1:/shares/a", "/home", "nfs", "defaults,_netdev", "0", "0"],
        ["172.24.4.1:/shares/b", "/opt/tools/deep", "nfs"],
        ["172.24.4.1:/shares/a", "/srv/ro", "nfs", "ro,noatime"],
        ["172.24.4.1:/shares/a", "/escape/home"], ["172.24.4.1:/shares/a", "/bin/x"],
        ["172.24.4.1:/shares/a", "/etc/file/x"], ["172.24.4.1:/shares/a", "home"],
        ["172.24.4.1:/shares/a", "/srv/../etc"], ["172.24.4.1:/shares/a", "/"], ["172.24.4.1:/shares/a", "//x"],
        ["172.24.4.1:/shares/a", "/a/./b"], ["172.24.4.1:/shares/c", "/c"], ["ephemeral0", "/mnt"],
        "swap", ["172.24.4.1:/shares/a"], [1, "/x"], ["172.24.4.1:/shares/a", None],
        ["172.24.4.1:/shares/a", "/n\x00ul"],
    ]}
    binds = Binds()
    guest.mount_shares(binds, root, SHARES, cloud)
    assert binds.done == [("/data/shares/a", root + "/home", False),
                          ("/data/shares/b", root + "/opt/tools/deep", True),
                          ("/data/shares/a", root + "/srv/ro", True)]
    assert oct((tmp_path / "opt" / "tools" / "deep").stat().st_mode & 0o777) == "0o755"
    assert not (tmp_path / "usr").exists() and not Path("/home/home").exists()
    out = capfd.readouterr().out
    for refused in ("/escape/home", "/bin/x", "/etc/file/x", "home", "/srv/../etc", "//x", "/a/./b"):
        assert f"mount point {refused!r} refused" in out, (refused, out)
    assert "'172.24.4.1:/shares/c' is not a share given to this instance, ignored" in out
    assert "'ephemeral0' is not a share given" in out and "mounts[13]: not a list" in out


def test_nothing_to_do(guest, tmp_path, capfd):
    binds = Binds()
    for cloud in (None, {}, {"mounts": None}):
        guest.mount_shares(binds, str(tmp_path), SHARES, cloud)
    guest.mount_shares(binds, str(tmp_path), SHARES, {"mounts": "172.24.4.1:/shares/a /home"})
    assert binds.done == [] and "mounts: not a list, ignored" in capfd.readouterr().out
    assert guest.read_shares({}) == [] and guest.read_shares({"shares_file": str(tmp_path / "none")}) == []
    (tmp_path / "s.json").write_text("{bad")
    assert guest.read_shares({"shares_file": str(tmp_path / "s.json")}) == []
