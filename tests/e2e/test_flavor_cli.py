"""The seed documents' flavor sequence (DevStack's defaults deleted by name, the Amazon-like
flavors created as ``nova flavor-create NAME auto RAM DISK VCPUS --is-public True`` translates
to the ``openstack`` CLI, GPU flavors with ``pci_passthrough:alias``, the CaaS seed's
``m1.xsmall``), key pairs and server groups, through the real CLI and openstacksdk, against a
``caas up`` with Nova's ``K20m`` PCI alias configured, on SQLite. The seed's flavor sequence is
the flavor service's one sequence through the CLI as a process (each kind of command once; its
repeats with other values, and the other checks, run the same CLI in the test process,
tests/e2e/osc.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.compute.conftest import own_server
from tests.e2e.osc import Sequence, osc, osc_json, requires_cli

pytestmark = requires_cli

ALIASES = json.dumps([{"name": "K20m", "vendor_id": "10de", "product_id": "1028"}])
DEVSTACK = ["cirros256", "ds1G", "ds2G", "ds4G", "ds512M", "m1.large", "m1.medium", "m1.small", "m1.tiny",
            "m1.xlarge"]
# The seed: nova flavor-create NAME auto RAM DISK VCPUS --is-public True
SEED = [("m1.16xlarge", 262144, 160, 96), ("m1.8xlarge", 131072, 80, 48), ("m1.4xlarge", 65536, 40, 24),
        ("m1.2xlarge", 32768, 40, 12), ("m1.xlarge", 16384, 30, 6), ("m1.large", 8192, 20, 3),
        ("m1.medium", 4096, 20, 2), ("m1.small", 2048, 20, 1)]
GPU = [("g1.2xlarge", 32768, 40, 12, "K20m:1"), ("g1.4xlarge", 65536, 40, 24, "K20m:2")]


@pytest.fixture(scope="module", params=["sqlite"])  # the CLI's requests do not depend on the backend
def cloud(request, tmp_path_factory):
    own = own_server(request, tmp_path_factory, {"CAAS_PCI_ALIASES": ALIASES})
    yield own
    own.finish()


def test_seed_flavor_sequence(cloud):
    """As a user types them: each kind of command once as a process (``Sequence``)."""
    seq = Sequence()
    env = cloud.srv.os_env()
    for name in DEVSTACK:  # one command each, as the seed runs them
        seq(env, "flavor", "delete", name)
    for name, ram, disk, vcpus in SEED:
        seq(env, "flavor", "create", "--id", "auto", "--ram", str(ram), "--disk", str(disk), "--vcpus", str(vcpus),
            "--public", name)
    for name, ram, disk, vcpus, alias in GPU:
        seq(env, "flavor", "create", "--id", "auto", "--ram", str(ram), "--disk", str(disk), "--vcpus", str(vcpus),
            "--public", name)
        seq(env, "flavor", "set", "--property", f"pci_passthrough:alias={alias}", name)
    made = seq.json(env, "flavor", "create", "--vcpus", "1", "--ram", "1024", "--disk", "10", "--ephemeral",
                            "10", "--public", "m1.xsmall")
    assert (made["vcpus"], made["ram"], made["disk"], made["OS-FLV-EXT-DATA:ephemeral"]) == (1, 1024, 10, 10)
    assert made["os-flavor-access:is_public"] is True

    rows = {r["Name"]: r for r in seq.json(env, "flavor", "list")}
    expected = {name: (ram, disk, vcpus) for name, ram, disk, vcpus in SEED}
    expected.update({name: (ram, disk, vcpus) for name, ram, disk, vcpus, _ in GPU})
    expected["m1.xsmall"] = (1024, 10, 1)
    expected.update({"m1.nano": (128, 1, 1), "m1.micro": (192, 1, 1)})  # the seed leaves these two
    assert {n: (r["RAM"], r["Disk"], r["VCPUs"]) for n, r in rows.items()} == expected
    assert all(r["Is Public"] is True for r in rows.values())
    assert rows["m1.xsmall"]["Ephemeral"] == 10
    new_ids = [rows[n]["ID"] for n, *_ in SEED + GPU]
    assert all(len(i) == 36 for i in new_ids) and len(set(new_ids)) == len(new_ids)

    shown = seq.json(env, "flavor", "show", "g1.2xlarge")
    assert shown["properties"] == {"pci_passthrough:alias": "K20m:1"}
    assert (shown["ram"], shown["disk"], shown["vcpus"]) == (32768, 40, 12)
    assert seq.json(env, "flavor", "show", "g1.4xlarge")["properties"] == {"pci_passthrough:alias": "K20m:2"}
    long = {r["Name"]: r for r in seq.json(env, "flavor", "list", "--long")}
    assert long["g1.4xlarge"]["Properties"] == {"pci_passthrough:alias": "K20m:2"}

    # A malformed alias is refused (OSC reports the failed property set); one the cloud does
    # not know is stored, as Nova does, and the boot is refused in Nova's words.
    refused = seq(env, "flavor", "set", "--property", "pci_passthrough:alias=K40", "m1.small", check=False)
    assert refused.returncode != 0 and "Invalid PCI alias" in refused.stderr
    assert seq.json(env, "flavor", "show", "m1.small")["properties"] == {}
    seq(env, "flavor", "set", "--property", "pci_passthrough:alias=K40:1", "m1.small")
    assert seq.json(env, "flavor", "show", "m1.small")["properties"] == {"pci_passthrough:alias": "K40:1"}
    refused = seq(env, "--os-compute-api-version", "2.37", "server", "create", "--flavor", "m1.small",
                          "--image", "host", "--nic", "none", "k40-server", check=False)
    assert refused.returncode != 0 and "PCI alias K40 is not defined" in refused.stderr, refused.stderr
    assert seq.json(env, "server", "list", "--name", "k40-server") == []
    seq(env, "flavor", "unset", "--property", "pci_passthrough:alias", "m1.small")
    seq(env, "flavor", "unset", "--property", "pci_passthrough:alias", "g1.4xlarge")
    assert seq.json(env, "flavor", "show", "g1.4xlarge")["properties"] == {}
    # Deleting a name twice fails the second time; the rest stays.
    seq(env, "flavor", "delete", "m1.16xlarge")
    assert seq(env, "flavor", "delete", "m1.16xlarge", check=False).returncode != 0


def test_private_flavor_cli(cloud):
    env = cloud.srv.os_env()
    osc(env, "project", "create", "--or-show", "flavorfolk")
    made = osc_json(env, "flavor", "create", "--ram", "512", "--disk", "1", "--vcpus", "1", "--private",
                    "--project", "flavorfolk", "--description", "only for flavorfolk",
                    "--os-compute-api-version", "2.55", "p1.small")
    assert made["os-flavor-access:is_public"] is False and made["description"] == "only for flavorfolk"
    shown = osc_json(env, "flavor", "show", "p1.small")
    project = osc_json(env, "project", "show", "flavorfolk")["id"]
    assert shown["access_project_ids"] == [project]
    assert "p1.small" in {r["Name"] for r in osc_json(env, "flavor", "list", "--private")}
    osc(env, "flavor", "unset", "--project", "flavorfolk", "p1.small")
    assert osc_json(env, "flavor", "show", "p1.small")["access_project_ids"] == []
    osc(env, "flavor", "delete", "p1.small")


def test_keypair_cli(cloud, tmp_path):
    env = cloud.srv.os_env()
    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    path = tmp_path / "id_ed25519.pub"
    path.write_text(public + " tester@example\n")
    k1 = osc_json(env, "keypair", "create", "--public-key", str(path), "k1")
    assert k1["name"] == "k1" and k1["type"] == "ssh" and len(k1["fingerprint"].split(":")) == 16
    generated = osc(env, "keypair", "create", "k2").stdout
    assert generated.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    serialization.load_ssh_private_key(generated.encode(), None)
    rows = {r["Name"]: r for r in osc_json(env, "keypair", "list")}
    assert set(rows) == {"k1", "k2"} and rows["k1"]["Fingerprint"] == k1["fingerprint"]
    shown = osc_json(env, "keypair", "show", "k1")
    assert shown["fingerprint"] == k1["fingerprint"] and shown["user_id"]
    assert osc(env, "keypair", "show", "--public-key", "k1").stdout.strip() == public + " tester@example"
    dup = osc(env, "keypair", "create", "--public-key", str(path), "k1", check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    osc(env, "keypair", "delete", "k1", "k2")
    assert osc_json(env, "keypair", "list") == []


def test_server_group_cli(cloud):
    env = cloud.srv.os_env()
    g = osc_json(env, "server", "group", "create", "--policy", "anti-affinity", "g1")
    assert (g["name"], g["policies"], g["members"]) == ("g1", ["anti-affinity"], [])
    assert g["project_id"] and g["user_id"]
    assert osc_json(env, "server", "group", "list") == [{"ID": g["id"], "Name": "g1", "Policies": ["anti-affinity"]}]
    assert osc_json(env, "server", "group", "show", "g1") == g
    soft = osc_json(env, "server", "group", "create", "--policy", "soft-affinity", "g2")
    assert soft["policies"] == ["soft-affinity"]
    osc(env, "server", "group", "delete", "g1", "g2")
    assert osc_json(env, "server", "group", "list") == []


SDK_SCRIPT = """
import json, openstack
conn = openstack.connect(cloud="caas")
f = conn.compute.create_flavor(name="sdk.flavor", ram=2048, vcpus=2, disk=20, is_public=True)
conn.compute.create_flavor_extra_specs(f, {"pci_passthrough:alias": "K20m:1", "hw:cpu_policy": "shared"})
specs = conn.compute.fetch_flavor_extra_specs(f).extra_specs
found = conn.compute.find_flavor("sdk.flavor")
cloud_flavor = conn.get_flavor("sdk.flavor")
kp = conn.compute.create_keypair(name="sdk-key")
listed = [k.name for k in conn.compute.keypairs()]
sg = conn.compute.create_server_group(name="sdk-group", policies=["affinity"])
groups = [g.name for g in conn.compute.server_groups()]
out = {"flavor_id": f.id, "found": found.id, "specs": specs, "cloud_specs": dict(cloud_flavor.extra_specs),
       "cloud_ram": cloud_flavor.ram, "private_key": (kp.private_key or "")[:31], "fingerprint": kp.fingerprint,
       "listed": listed, "sg_policies": sg.policies, "groups": groups}
conn.compute.delete_server_group(sg)
conn.compute.delete_keypair(kp)
conn.compute.delete_flavor(f)
out["after"] = {"flavor": conn.compute.find_flavor("sdk.flavor") is None,
                "keys": [k.name for k in conn.compute.keypairs()],
                "groups": [g.name for g in conn.compute.server_groups()]}
print(json.dumps(out))
"""


def test_openstacksdk_compute(cloud):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(cloud.srv.data_dir / "clouds.yaml")
    out = subprocess.run([sys.executable, "-c", SDK_SCRIPT], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["found"] == result["flavor_id"]
    assert result["specs"] == {"pci_passthrough:alias": "K20m:1", "hw:cpu_policy": "shared"}
    assert result["cloud_specs"] == result["specs"] and result["cloud_ram"] == 2048
    assert result["private_key"] == "-----BEGIN RSA PRIVATE KEY-----"
    assert len(result["fingerprint"].split(":")) == 16 and "sdk-key" in result["listed"]
    assert result["sg_policies"] == ["affinity"] and "sdk-group" in result["groups"]
    assert result["after"] == {"flavor": True, "keys": [], "groups": []}
