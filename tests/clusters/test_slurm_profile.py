"""The slurm profile's pieces that need no cloud: slurm.conf from the cluster's nodes, the munge
key, the cluster's users (login names), and each node's #cloud-config composed from the
profile's parts. The profile against a real cloud: tests/e2e/test_netns_slurm.py."""

from __future__ import annotations

import base64

import pytest
import yaml

from caas.clusters import planning, profiles, slurm, users
from caas.errors import BadRequest

NODES = [{"name": "node002", "vcpus": 2, "ram": 2048, "flavor": "m1.small"},
         {"name": "node001", "vcpus": 1, "ram": 1024, "flavor": "m1.xsmall"}]


def settings(text: str) -> list[tuple[str, str]]:
    return [tuple(line.split("=", 1)) for line in text.splitlines() if line and not line.startswith("#")]


def test_slurm_conf_has_each_node_with_its_flavors_cpus_and_memory():
    text = slurm.conf("hpc", NODES)
    lines = text.splitlines()
    assert "SlurmctldHost=hpc-head" in lines
    assert "SlurmctldParameters=enable_configless" in lines  # nodes fetch it from the head
    assert "NodeName=node001 CPUs=1 RealMemory=921 State=UNKNOWN" in lines
    assert "NodeName=node002 CPUs=2 RealMemory=1843 State=UNKNOWN" in lines
    assert "PartitionName=batch Nodes=node001,node002 Default=YES MaxTime=INFINITE State=UP" in lines
    assert sum(1 for k, _ in settings(text) if k == "PartitionName") == 1
    # one key per line, no key twice but node and partition lines
    keys = [k for k, _ in settings(text) if k not in ("NodeName", "PartitionName")]
    assert len(keys) == len(set(keys))


def test_partitions_by_flavor_add_one_per_node_flavor():
    text = slurm.conf("hpc", NODES + [{"name": "node003", "vcpus": 1, "ram": 1024, "flavor": "m1.xsmall"}], "flavor")
    parts = [v for k, v in settings(text) if k == "PartitionName"]
    assert parts[0].startswith("batch Nodes=node001,node002,node003 Default=YES")
    assert "m1_small Nodes=node002 MaxTime=INFINITE State=UP" in parts
    assert "m1_xsmall Nodes=node001,node003 MaxTime=INFINITE State=UP" in parts


def test_the_munge_key_is_the_clusters_own_and_not_its_ssh_key():
    a, b = slurm.munge_key("key one"), slurm.munge_key("key two")
    assert len(a) == 128 and a != b and a == slurm.munge_key("key one")
    assert b"key one" not in a


@pytest.mark.parametrize("cloud, login", [("admin", "admin"), ("Alice Smith", "alice_smith"), ("root", "root_user"),
                                          ("42", "u42"), ("x" * 40, "x" * 32), ("a;rm -rf /", "a_rm_-rf__"),
                                          ("$(reboot)", "__reboot_"), ("", "user"), ("slurm", "slurm_user")])
def test_a_cloud_user_name_becomes_a_login(cloud, login):
    got = users.login_for(cloud)
    assert got == login and users.LOGIN.match(got) and got not in users.RESERVED


@pytest.mark.parametrize("bad", ["Alice", "a b", "a;b", "$(x)", "-a", "1abc", "x" * 33, "root", "munge", "", "a\nb"])
def test_logins_that_are_no_login_names_are_refused(bad):
    with pytest.raises(BadRequest):
        users.check([bad])


def test_users_have_the_same_uid_on_every_node_the_creator_first():
    assert users.accounts("alice", ["bob", "alice", "carol"]) == [
        {"name": "alice", "uid": 20001}, {"name": "bob", "uid": 20002}, {"name": "carol", "uid": 20003}]


def _req(**kw) -> planning.Request:
    base = dict(name="hpc", image=None, profile="slurm", profile_version=None, node_count=2, node_flavor=None,
                head_flavor=None, key_name=None, keep_on_failure=False)
    return planning.Request(**{**base, **kw})


def test_options_belong_to_the_profile_that_takes_them():
    defaults = {"partitions": "one", "home_size": 10, "min_nodes": None, "max_nodes": None, "idle_time": 600}
    assert planning.options(_req(), profiles.PROFILES["slurm"]) == defaults
    assert planning.options(_req(partitions="flavor", home_size=3, max_nodes=8, idle_time=30),
                            profiles.PROFILES["slurm"]) == {**defaults, "partitions": "flavor", "home_size": 3,
                                                            "max_nodes": 8, "idle_time": 30}
    for bad in (dict(partitions="two"), dict(home_size=0), dict(home_size=10**6), dict(users=["Root"]),
                dict(min_nodes=1), dict(idle_time=30), dict(max_nodes=0), dict(max_nodes=1),  # -n 2 > max
                dict(max_nodes=8, min_nodes=9), dict(max_nodes=8, min_nodes=3),  # -n 2 < min
                dict(max_nodes=8, idle_time=1), dict(max_nodes=10**6)):
        with pytest.raises(BadRequest):
            planning.validate(_req(**bad))
    with pytest.raises(BadRequest, match="takes no home_size, users"):
        planning.validate(_req(profile="base", users=["bob"], home_size=2))


def test_an_elastic_clusters_conf_knows_every_node_up_to_max_nodes():
    e = slurm.Elastic(("node001", "node002", "node003", "node004"), {"vcpus": 1, "ram": 1024, "flavor": "f"}, 1, 30)
    lines = slurm.conf("hpc", NODES[1:], "one", e).splitlines()
    assert "NodeName=node001 CPUs=1 RealMemory=921 State=UNKNOWN" in lines  # exists
    assert [line.split()[0] for line in lines if line.endswith("State=CLOUD")] == [
        "NodeName=node002", "NodeName=node003", "NodeName=node004"]  # powered down until Slurm resumes them
    assert {"ResumeProgram=" + slurm.RESUME, "SuspendProgram=" + slurm.SUSPEND, "SuspendTime=30",
            "SuspendExcNodes=node[001,002,003,004]:1", "PrivateData=cloud"} <= set(lines)
    assert "power_save_interval=1" in next(line for line in lines if line.startswith("SlurmctldParameters="))
    # a resume or a suspend changes no node list: slurmctld is not restarted for it
    grown = slurm.conf("hpc", NODES[1:] + [{"name": "node004", "vcpus": 1, "ram": 1024, "flavor": "f"}], "one", e)
    assert slurm.node_list(grown) == slurm.node_list("\n".join(lines)) and grown != "\n".join(lines) + "\n"
    assert slurm.node_list(slurm.conf("hpc", NODES)) != slurm.node_list(slurm.conf("hpc", NODES[1:]))
    assert slurm.hostlist(["node010", "node002"]) == "node[002,010]"


def _boot(role: str, **extra) -> profiles.Boot:
    return profiles.Boot(cluster_name="hpc", cluster_id="c1", hostname="hpc-head" if role == "head" else "node001",
                         role=role, hosts="127.0.0.1 localhost\n", cluster_key="PRIVATE", cluster_public_key="ssh-ed25519 C",
                         user_public_key="ssh-ed25519 U me", node_prefix="node", report="r1", extra=extra)


def test_a_slurm_nodes_cloud_config_mounts_home_makes_users_and_starts_slurm():
    extra = dict(users=[{"name": "alice", "uid": 20001}], home_export="172.24.4.1:/shares/s1",
                 slurm_conf=slurm.conf("hpc", NODES))
    head = yaml.safe_load(profiles.compose(profiles.PROFILES["slurm"], _boot("head", **extra)))
    node = yaml.safe_load(profiles.compose(profiles.PROFILES["slurm"], _boot("compute", **extra)))
    for cfg in (head, node):
        assert cfg["mounts"] == [["172.24.4.1:/shares/s1", "/home", "nfs", "defaults,_netdev", "0", "0"]]
        key = next(f for f in cfg["write_files"] if f["path"] == slurm.MUNGE_KEY)
        assert base64.b64decode(key["content"]) == slurm.munge_key("PRIVATE") and key["permissions"] == "0400"
        scripts = "\n".join(c[-1] for c in cfg["runcmd"])
        assert "useradd -M -d /home/alice -s /bin/bash -u 20001 -g 20001 alice" in scripts
        assert cfg["runcmd"][-1 if cfg is head else -2][-1].endswith(profiles.READY_MARKER)
    paths = [f["path"] for f in head["write_files"]]
    assert slurm.CONF in paths and users.KEYS in paths and slurm.CONF not in [f["path"] for f in node["write_files"]]
    head_script = "\n".join(c[-1] for c in head["runcmd"])
    assert "/usr/sbin/slurmctld" in head_script and "install -d -o alice -g alice -m 0700 /home/alice/.ssh" in head_script
    node_script = "\n".join(c[-1] for c in node["runcmd"])
    assert "--conf-server hpc-head" in node_script and "/home/alice/.ssh" not in node_script
    assert "ssh head" in node["runcmd"][-1][-1]  # the report comes last, once Slurm runs
    # the user's key reaches the head as a file, never through a shell
    assert "ssh-ed25519 U me" not in head_script


def test_base_cloud_config_is_as_before():
    cfg = yaml.safe_load(profiles.compose(profiles.PROFILES["base"], _boot("compute")))
    assert [f["path"] for f in cfg["write_files"]] == ["/etc/caas-cluster.json", "/etc/hosts", "/root/.ssh/id_cluster",
                                                       "/root/.ssh/id_cluster.pub", "/root/.ssh/config"]
    assert len(cfg["runcmd"]) == 2 and "mounts" not in cfg and "packages" not in cfg
    none = yaml.safe_load(profiles.compose(profiles.PROFILES["none"], _boot("head")))
    assert [f["path"] for f in none["write_files"]] == ["/etc/caas-cluster.json"] and len(none["runcmd"]) == 1
