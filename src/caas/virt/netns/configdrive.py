"""The OpenStack config drive of an instance, as a directory (mounted read-only at /mnt/config
inside the instance by the init).

Layout (what Nova writes, ``openstack/latest`` only): meta_data.json, network_data.json,
vendor_data.json, user_data (when given) and, for caas's stdlib-only init, cloud_config.json:
a ``#cloud-config`` user_data already parsed here with PyYAML (or cloud_config_error.txt saying
why it could not be parsed; the instance still boots).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from pathlib import Path

import yaml

from caas.virt.driver import DriverError, InstanceSpec, NicSpec

LATEST = Path("openstack/latest")
CLOUD_CONFIG = "#cloud-config"


def link_id(port_id: str) -> str:
    """Nova's name for a port's link in network_data.json."""
    return "tap" + port_id[:11]


def meta_data(spec: InstanceSpec) -> dict:
    data = {
        "uuid": spec.id,
        "name": spec.name,
        "hostname": spec.hostname,
        "availability_zone": "nova",
        "launch_index": 0,
        "project_id": "",  # InstanceSpec does not carry the project
        "meta": dict(spec.metadata),
        "devices": [],
    }
    if spec.key_data:
        data["public_keys"] = {"key": spec.key_data}
        data["keys"] = [{"name": "key", "type": "ssh", "data": spec.key_data}]
    return data


def _networks(nic: NicSpec, start: int) -> list[dict]:
    networks = []
    for n, fixed in enumerate(nic.fixed_ips):
        prefix = ipaddress.ip_network(fixed["cidr"], strict=False).prefixlen
        iface = ipaddress.ip_interface(f"{ipaddress.ip_address(fixed['ip_address'])}/{prefix}")
        v6 = iface.version == 6
        net = {
            "id": f"network{start + n}",
            "type": "ipv6" if v6 else "ipv4",
            "link": link_id(nic.port_id),
            "ip_address": str(iface.ip),
            "netmask": str(iface.netmask),
            "routes": [],
            "network_id": nic.network_id,
        }
        if fixed.get("gateway_ip"):
            gateway = ipaddress.ip_address(fixed["gateway_ip"])
            net["routes"].append({"network": "::" if v6 else "0.0.0.0",
                                  "netmask": "::" if v6 else "0.0.0.0",
                                  "gateway": str(gateway)})
        networks.append(net)
    return networks


def network_data(spec: InstanceSpec) -> dict:
    """Links in nic order (ethN is spec.nics[N]), and one network per fixed IP."""
    links, networks = [], []
    for nic in spec.nics:
        links.append({"id": link_id(nic.port_id), "vif_id": nic.port_id, "type": "bridge",
                      "ethernet_mac_address": nic.mac_address.lower(), "mtu": int(nic.mtu)})
        networks += _networks(nic, len(networks))
    return {"links": links, "networks": networks, "services": []}


def decode_user_data(user_data: str | None) -> bytes | None:
    """The user_data bytes from the API's base64 text (DriverError when it is not base64)."""
    if not user_data:
        return None
    try:
        return base64.b64decode(user_data, validate=False)
    except (binascii.Error, ValueError) as e:
        raise DriverError(f"user_data is not base64: {e}") from e


def parse_cloud_config(raw: bytes) -> tuple[dict | None, str | None]:
    """(parsed mapping, None) or (None, why not) for a ``#cloud-config`` document."""
    try:
        parsed = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        return None, f"invalid #cloud-config: {e}"
    if parsed is None:
        parsed = {}
    if not isinstance(parsed, dict):
        return None, "invalid #cloud-config: not a mapping"
    if not _fits(parsed, MAX_CLOUD_CONFIG_NODES):
        return None, (f"invalid #cloud-config: its aliases expand to more than {MAX_CLOUD_CONFIG_NODES} values "
                      "(a YAML alias bomb?)")
    return parsed, None


# YAML aliases make a small document a huge one once written out as JSON (nine nested lists of
# nine aliases are 387 million values from a few hundred bytes): the caas process itself writes
# cloud_config.json, so what the document expands to is bounded, not only its length.
MAX_CLOUD_CONFIG_NODES = 100_000


def _fits(value, budget: int) -> bool:
    """Whether ``value`` written out in full (every alias expanded) has at most ``budget``
    values; stops counting as soon as it has more."""
    stack = [value]
    while stack:
        budget -= 1
        if budget < 0:
            return False
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return True


def _write(path: Path, content: bytes, mode: int = 0o644) -> None:
    path.write_bytes(content)
    os.chmod(path, mode)


def _json(obj) -> bytes:
    # YAML can give dates or bytes (!!binary); the init only needs them as text.
    return json.dumps(obj, indent=2, default=str).encode() + b"\n"


def build(spec: InstanceSpec, target: Path) -> None:
    """Write the config drive of ``spec`` into ``target`` (made if missing, contents replaced)."""
    latest = target / LATEST
    latest.mkdir(parents=True, exist_ok=True)
    for stale in ("user_data", "cloud_config.json", "cloud_config_error.txt"):
        (latest / stale).unlink(missing_ok=True)
    _write(latest / "meta_data.json", _json(meta_data(spec)))
    try:
        _write(latest / "network_data.json", _json(network_data(spec)))
    except (KeyError, ValueError) as e:
        raise DriverError(f"bad network configuration for {spec.id}: {e}") from e
    _write(latest / "vendor_data.json", b"{}\n")
    raw = decode_user_data(spec.user_data)
    if raw is None:
        return
    _write(latest / "user_data", raw, 0o600)
    if raw.lstrip().startswith(CLOUD_CONFIG.encode()):
        parsed, error = parse_cloud_config(raw)
        if parsed is not None:
            _write(latest / "cloud_config.json", _json(parsed), 0o600)
        else:
            _write(latest / "cloud_config_error.txt", error.encode() + b"\n")
