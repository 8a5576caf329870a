"""``--os-cloud`` without a cloud: every cluster and node command takes it, the journal's
directory is named safely, and a command given no --os-cloud runs as before (its client from
the seam). The commands against a cloud: tests/e2e/test_client_cli.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from caas.cli import clusters as c
from caas.cli import standalone
from caas.cli.local import CLIError
from caas.cli.main import app as caas_app


def test_every_cluster_and_node_command_takes_os_cloud():
    group = typer.main.get_command(caas_app)
    commands = [(g, name, cmd) for g in ("cluster", "node") for name, cmd in group.commands[g].commands.items()]
    assert {name for g, name, _ in commands if g == "cluster"} >= {"create", "list", "show", "events", "delete", "ssh",
                                                                   "adopt"}
    for g, name, cmd in commands:
        assert ["--os-cloud"] in [p.opts for p in cmd.params], f"caas {g} {name}"
    assert "--os-cloud" in CliRunner().invoke(caas_app, ["node", "add", "--help"]).output


def test_the_journal_directory():
    assert standalone.client_home("mine", {}) == Path("~/.local/share/caas/clients/mine").expanduser()
    assert standalone.client_home("my-cloud.v2_x", {"CAAS_CLIENT_HOME": "/tmp/h"}) == Path("/tmp/h/my-cloud.v2_x")
    for bad in ("", ".", "..", "../x", "a/b", ".hidden", "a b", "x" * 129, "é", "a;rm", "$(id)", "-rf"):
        with pytest.raises(CLIError) as exc:
            standalone.client_home(bad, {})
        assert exc.value.code == 2 and "a cloud name here is letters" in exc.value.message


def test_a_bad_name_is_refused_before_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("CAAS_CLIENT_HOME", str(tmp_path))
    out = CliRunner().invoke(caas_app, ["cluster", "list", "--os-cloud", "../etc"])
    assert out.exit_code == 2 and "a cloud name here is letters" in out.output
    assert list(tmp_path.iterdir()) == []


def test_without_os_cloud_the_seam_gives_the_client(monkeypatch):
    class Listing:
        def list_clusters(self, all_projects=False):
            return []

    monkeypatch.setattr(c, "make_client", lambda: Listing())
    out = CliRunner().invoke(caas_app, ["cluster", "list", "-f", "json"])
    assert out.exit_code == 0 and out.output.strip() == "[]"
    out = CliRunner().invoke(caas_app, ["cluster", "adopt", "demo"])
    assert out.exit_code == 2 and "works with --os-cloud NAME only" in out.output
