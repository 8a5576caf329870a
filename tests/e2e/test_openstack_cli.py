"""The seed documents' identity sequence, verbatim, through the real ``openstack`` CLI as a
process (the identity service's one sequence so), the operator's next steps through the same CLI
in the test process, and openstacksdk, against ``caas up`` on SQLite; and that the CLI in the
test process answers as the process does.

The other e2e modules import ``osc``, ``osc_json`` and ``OPENSTACK`` from here (kept for them):
they live in tests/e2e/osc.py."""

import json
import logging
import os
import subprocess
import sys

from tests.e2e.osc import OPENSTACK, Sequence, osc, osc_forked, osc_json, osc_process, requires_cli

pytestmark = requires_cli


def test_seed_identity_sequence(server):
    """As a user types them: each kind of command once as a process (``Sequence``)."""
    seq = Sequence()
    env = server.os_env()
    tok = seq.json(env, "token", "issue")
    assert tok["id"] and tok["project_id"] and tok["user_id"]

    assert seq.json(env, "project", "create", "fabric")["name"] == "fabric"
    user = seq.json(env, "user", "create", "--password", "Fabric_123", "fabric")
    assert user["name"] == "fabric" and user["enabled"] is True
    assert seq.json(env, "role", "create", "fabric")["name"] == "fabric"
    seq(env, "role", "add", "--project", "fabric", "--user", "fabric", "fabric")
    seq(env, "role", "add", "--project", "fabric", "--user", "admin", "fabric")

    rows = seq.json(env, "role", "assignment", "list", "--project", "fabric", "--names")
    assert {(r["Role"], r["User"], r["Project"]) for r in rows} == {
        ("fabric", "fabric@Default", "fabric@Default"), ("fabric", "admin@Default", "fabric@Default")}
    assert {"admin", "fabric"} <= {u["Name"] for u in seq.json(env, "user", "list")}
    assert {"admin", "fabric"} <= {p["Name"] for p in seq.json(env, "project", "list")}
    catalog = seq.json(env, "catalog", "list")
    assert any(c["Type"] == "identity" and server.url in str(c["Endpoints"]) for c in catalog)

    victim = seq.json(env, "token", "issue")["id"]
    seq(env, "token", "revoke", victim)
    probe = dict(env, OS_TOKEN=victim, OS_AUTH_TYPE="token")
    for key in ("OS_USERNAME", "OS_PASSWORD", "OS_USER_DOMAIN_NAME"):
        probe.pop(key)
    failed = seq(probe, "project", "list", check=False)
    assert failed.returncode != 0 and "401" in (failed.stderr + failed.stdout)

    # As fabric in project fabric: a token, and no user creation.
    fab = server.os_env("fabric", "Fabric_123", "fabric")
    ftok = seq.json(fab, "token", "issue")
    assert ftok["user_id"] == user["id"]
    refused = seq(fab, "user", "create", "--password", "x", "intruder", check=False)
    assert refused.returncode != 0 and "403" in (refused.stderr + refused.stdout)
    assert "intruder" not in {u["Name"] for u in seq.json(env, "user", "list")}


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


def test_operator_workflow(server):
    """What an operator does next: set, disable, change passwords, remove roles, delete."""
    env = server.os_env()
    pid = osc(env, "project", "create", "--description", "d", "--domain", "default", "ops1", "-f", "value",
              "-c", "id").stdout.strip()
    user = osc_json(env, "user", "create", "--project", "ops1", "--email", "a@b.c", "--password", "pw1", "opsu")
    assert user["default_project_id"] == pid and user["email"] == "a@b.c"
    osc(env, "role", "add", "--user", "opsu", "--project", "ops1", "member")
    u_env = server.os_env("opsu", "pw1", "ops1")
    assert osc_json(u_env, "token", "issue")["project_id"] == pid

    osc(env, "user", "set", "--disable", "opsu")
    assert osc(u_env, "token", "issue", check=False).returncode != 0
    osc(env, "user", "set", "--enable", "--password", "pw2", "opsu")
    assert osc(u_env, "token", "issue", check=False).returncode != 0  # the old password is gone
    u_env = server.os_env("opsu", "pw2", "ops1")
    osc(u_env, "user", "password", "set", "--original-password", "pw2", "--password", "pw3")
    u_env = server.os_env("opsu", "pw3", "ops1")
    assert osc_json(u_env, "token", "issue")["user_id"] == user["id"]

    rows = osc_json(env, "role", "assignment", "list", "--user", "opsu", "--names")
    assert [(r["Role"], r["Project"]) for r in rows] == [("member", "ops1@Default")]
    osc(env, "role", "remove", "--user", "opsu", "--project", "ops1", "member")
    assert osc_json(env, "role", "assignment", "list", "--user", "opsu") == []
    assert osc(u_env, "token", "issue", check=False).returncode != 0  # no role left on ops1

    osc(env, "project", "set", "--name", "ops2", "ops1")
    assert osc_json(env, "project", "show", "ops2")["id"] == pid
    assert osc_json(env, "domain", "show", "default")["name"] == "Default"
    assert {e["Interface"] for e in osc_json(env, "endpoint", "list")} == {"public", "internal", "admin"}
    assert [r["Region"] for r in osc_json(env, "region", "list")] == ["RegionOne"]
    osc(env, "role", "create", "tmp-role")
    osc(env, "role", "delete", "tmp-role")
    osc(env, "user", "delete", "opsu")
    osc(env, "project", "delete", "ops2")
    assert "opsu" not in {u["Name"] for u in osc_json(env, "user", "list")}
    assert "ops2" not in {p["Name"] for p in osc_json(env, "project", "list")}


# Deterministic answers (no new ids or tokens), in the shapes the tests read: JSON, a table,
# a refusal (403), a missing resource, an argparse error (exit 2, "usage: openstack ..."); and a
# member's refusal right after the admin used the same service (osc-lib caches each service's
# client per process: the member's call must not run as the admin).
SAME_ANSWERS = [("admin", "project", "show", "admin", "-f", "json"), ("admin", "role", "list"),
                ("fabric", "user", "create", "--password", "x", "intruder"), ("fabric", "server", "show", "nope"),
                ("admin", "image", "list", "--bogus"), ("fabric", "role", "assignment", "list", "--names"),
                ("admin", "image", "show", "host", "-c", "name"),
                ("fabric", "image", "create", "--disk-format", "raw", "--public", "fabric-public"),
                ("admin", "volume", "list", "--all-projects", "-c", "Name"), ("fabric", "volume", "delete", "nope")]


def test_the_cli_in_the_test_process_answers_as_the_process(server):
    """tests/e2e/osc.py's contract: ``osc`` (in the test process) and ``osc_forked`` (forked
    from the warm CLI) give the exit status, stdout and stderr that a new ``openstack`` process
    gives (for every answer's shape; ``osc`` and ``osc_forked`` for every command), for each user's environment in turn (nothing of one call's environment, session or
    logging reaches the next), and ``osc`` leaves the test process as it was."""
    osc(server.os_env(), "project", "create", "--or-show", "fabric")
    osc(server.os_env(), "user", "create", "--or-show", "--password", "Fabric_123", "fabric")
    osc(server.os_env(), "role", "add", "--project", "fabric", "--user", "fabric", "member")
    envs = {"admin": server.os_env(), "fabric": server.os_env("fabric", "Fabric_123", "fabric")}
    environ, handlers = dict(os.environ), logging.getLogger().handlers[:]
    for i, (user, *args) in enumerate(SAME_ANSWERS):
        # a new process for the first five shapes (JSON, table, 403, 404, argparse's exit 2):
        # forked and new processes differ only in what the imports left in memory
        runs = (osc, osc_forked, osc_process) if i < 5 else (osc, osc_forked)
        answers = [(p.returncode, p.stdout, p.stderr) for p in (run(envs[user], *args, check=False) for run in runs)]
        assert len(set(answers)) == 1, args
    user_ids = [[run(envs[u], "token", "issue", "-f", "value", "-c", "user_id").stdout for u in ("fabric", "admin")]
                for run in (osc, osc_forked, osc_process)]
    assert user_ids[0] == user_ids[1] == user_ids[2]
    assert dict(os.environ) == environ and logging.getLogger().handlers == handlers
