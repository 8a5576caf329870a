"""The seed documents' identity sequence, verbatim, through the real ``openstack`` CLI and
openstacksdk against ``caas up`` (SQLite and PostgreSQL)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPENSTACK = shutil.which("openstack", path=str(Path(sys.executable).parent)) or shutil.which("openstack")
pytestmark = pytest.mark.skipif(OPENSTACK is None, reason="python-openstackclient is not installed")


def osc(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, f"openstack {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def osc_json(env: dict, *args: str):
    return json.loads(osc(env, *args, "-f", "json").stdout)


def test_seed_identity_sequence(server):
    env = server.os_env()
    tok = osc_json(env, "token", "issue")
    assert tok["id"] and tok["project_id"] and tok["user_id"]

    assert osc_json(env, "project", "create", "fabric")["name"] == "fabric"
    user = osc_json(env, "user", "create", "--password", "Fabric_123", "fabric")
    assert user["name"] == "fabric" and user["enabled"] is True
    assert osc_json(env, "role", "create", "fabric")["name"] == "fabric"
    osc(env, "role", "add", "--project", "fabric", "--user", "fabric", "fabric")
    osc(env, "role", "add", "--project", "fabric", "--user", "admin", "fabric")

    rows = osc_json(env, "role", "assignment", "list", "--project", "fabric", "--names")
    assert {(r["Role"], r["User"], r["Project"]) for r in rows} == {
        ("fabric", "fabric@Default", "fabric@Default"), ("fabric", "admin@Default", "fabric@Default")}
    assert {"admin", "fabric"} <= {u["Name"] for u in osc_json(env, "user", "list")}
    assert {"admin", "fabric"} <= {p["Name"] for p in osc_json(env, "project", "list")}
    catalog = osc_json(env, "catalog", "list")
    assert any(c["Type"] == "identity" and server.url in str(c["Endpoints"]) for c in catalog)

    victim = osc_json(env, "token", "issue")["id"]
    osc(env, "token", "revoke", victim)
    probe = dict(env, OS_TOKEN=victim, OS_AUTH_TYPE="token")
    for key in ("OS_USERNAME", "OS_PASSWORD", "OS_USER_DOMAIN_NAME"):
        probe.pop(key)
    failed = osc(probe, "project", "list", check=False)
    assert failed.returncode != 0 and "401" in (failed.stderr + failed.stdout)

    # As fabric in project fabric: a token, and no user creation.
    fab = server.os_env("fabric", "Fabric_123", "fabric")
    ftok = osc_json(fab, "token", "issue")
    assert ftok["user_id"] == user["id"]
    refused = osc(fab, "user", "create", "--password", "x", "intruder", check=False)
    assert refused.returncode != 0 and "403" in (refused.stderr + refused.stdout)
    assert "intruder" not in {u["Name"] for u in osc_json(env, "user", "list")}


def test_openstacksdk_clouds_yaml(server):
    """openstack.connect(cloud="caas") with the clouds.yaml that caas up wrote."""
    code = (
        "import openstack, json\n"
        "conn = openstack.connect(cloud='caas')\n"
        "print(json.dumps(sorted(p.name for p in conn.identity.projects())))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(server.data_dir / "clouds.yaml")
    # Make sure fabric exists whatever ran before.
    osc(server.os_env(), "project", "create", "--or-show", "fabric")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fabric" in json.loads(out.stdout.strip().splitlines()[-1])
