"""``caas up``: first start, files, a second start on the same data dir or port, SIGTERM."""

import os
import signal
import socket
import subprocess

import httpx
import pytest

from tests.conftest import TLS, CaasServer, caas_command, free_port


def test_first_start_bootstraps_and_restart_keeps_state(tmp_path):
    srv = CaasServer(tmp_path / "data", template=False).start()  # no database yet: it migrates
    password = srv.admin_password
    for name in ("caas.db", "admin-password", "clouds.yaml", "admin-openrc", "fernet-keys"):
        assert (srv.data_dir / name).exists(), name
    openrc = (srv.data_dir / "admin-openrc").read_text()
    assert "OS_AUTH_URL=" + srv.url + "/identity/v3" in openrc and "OS_PROJECT_NAME=admin" in openrc
    assert srv.stop() == 0
    # Same data dir, other port: same password, and the catalog follows the new port.
    again = CaasServer(srv.data_dir)
    again.start()
    try:
        assert again.admin_password == password
        from tests.conftest import issue_token, client_for
        with client_for(again, issue_token(again)) as c:
            urls = {e["url"] for e in c.get("/identity/v3/endpoints").json()["endpoints"]}
        assert urls and all(u.startswith(again.url + "/") for u in urls)
        assert again.url + "/identity" in urls
        assert f"127.0.0.1:{again.port}" in (again.data_dir / "clouds.yaml").read_text()
    finally:
        assert again.stop() == 0


def test_second_start_on_same_data_dir_is_refused_clearly(tmp_path):
    srv = CaasServer(tmp_path / "data").start()
    try:
        out = subprocess.run(caas_command() + ["up", "--data-dir", str(srv.data_dir), "--port", str(free_port())],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert "already running" in out.stderr and "Traceback" not in out.stderr + out.stdout
        # the first one still serves
        assert httpx.get(srv.url + "/healthz", verify=TLS).status_code == 200
    finally:
        srv.stop()


def test_port_in_use_is_refused_clearly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = subprocess.run(caas_command() + ["up", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "already in use" in out.stderr and "Traceback" not in out.stderr + out.stdout


def test_bad_arguments_are_refused_clearly(tmp_path):
    out = subprocess.run(caas_command() + ["up", "--data-dir", str(tmp_path / "d"), "--driver", "kvm"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "unknown driver" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "d").exists()


def test_netns_driver_needs_root(monkeypatch):
    from caas.config import Settings

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ValueError, match="needs root"):
        Settings(driver="netns")
    monkeypatch.delenv("CAAS_DRIVER", raising=False)
    assert Settings().driver == "fake"


def test_sigterm_stops_cleanly(tmp_path):
    srv = CaasServer(tmp_path / "data").start()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=20) == 0
    srv.log.close()
    assert "caas stopped" in srv.log_path.read_text()
    # the lock is released: it starts again
    CaasServer(srv.data_dir).start().stop()


def test_data_dir_defaults_to_caas_home(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "CAAS_HOME": str(home), "CAAS_PASSWORD_HASH_ROUNDS": "4"}
    # --agent-port 0: the default (--port + 1) may be another test's free port by now
    proc = subprocess.Popen(caas_command() + ["up", "--port", str(port), "--agent-port", "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        assert (home / "clouds.yaml").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_unreachable_database_is_refused_clearly_without_the_password(tmp_path):
    url = f"postgresql+psycopg://caas:s3cretpw@127.0.0.1:{free_port()}/caas"
    out = subprocess.run(caas_command() + ["up", "--data-dir", str(tmp_path / "d"), "--port", str(free_port()),
                                           "--database-url", url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "cannot bring the database" in out.stderr and "Connection refused" in out.stderr
    assert "s3cretpw" not in out.stderr + out.stdout and "Traceback" not in out.stderr
