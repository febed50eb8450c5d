"""The secure servers' own tooling keeps passwords out of process arguments."""

from __future__ import annotations

import os
from pathlib import Path

import coordkit
from coordkit.testing._etcd import etcd_binary, etcdctl_binary
from coordkit.testing._secure import SecureEtcdServer, User


def test_etcdctl_never_gets_a_password_as_an_argument(tmp_path: Path) -> None:
    # `etcdctl user add NAME:PASSWORD` and `--user=NAME:PASSWORD` put passwords in the process
    # list (`ps`) of every user of the machine while `coordkit dev up --secure` or a test ran.
    real = etcdctl_binary(etcd_binary())
    assert real is not None
    argv_log = tmp_path / "argv.log"
    os.symlink(etcd_binary(), tmp_path / "etcd")
    wrapper = tmp_path / "etcdctl"  # found beside the etcd binary: records each argv, then runs etcdctl
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {argv_log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    with SecureEtcdServer(users=[User("alice")], binary=str(tmp_path / "etcd")) as server:
        assert "alice" in server.etcdctl("user", "list").stdout  # as root, authenticated
        with coordkit.connect(server.url, **server.credentials("alice")) as client:
            client.put("/k", "v")  # alice's password, set through stdin, is the one in her file
        passwords = [user.password for user in server.secrets.users.values()]
    recorded = argv_log.read_text()
    assert "user add alice" in recorded and "user list" in recorded
    assert not any(password in recorded for password in passwords), "a password was in etcdctl's argv"
