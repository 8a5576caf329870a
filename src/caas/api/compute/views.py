"""Nova's server views: the domain's Server rows, with their ports and volume attachments,
rendered for the request's microversion (2.3, 2.9, 2.16, 2.19, 2.26, 2.47 change fields) and
with the self and bookmark links of the API the request came in on."""

from __future__ import annotations

from caas.api.compute.links import links
from caas.api.framework import Call
from caas.compute.common import isotime, isotime_us
from caas.compute.models import Server
from caas.compute.server_state import host_id, status_of
from caas.network.ipam import ip_text


def server_views(call: Call, ctx, rows: list[Server], detail: bool = True) -> list[dict]:
    """The views of many servers, with what they show of the other services read in a few
    queries (``call.services.compute.servers.queries.server_resources``)."""
    if not detail:
        return [{"id": r.id, "name": r.name, "links": links(call, "servers", r.id)} for r in rows]
    queries = call.services.compute.servers.queries
    ports, volumes = queries.server_resources(rows)
    statuses = queries.host_statuses(rows) if ctx.is_admin and call.version >= (2, 16) else {}
    return [server_view(call, ctx, r, ports.get(r.id, []), volumes.get(r.id), statuses) for r in rows]


def _addresses(ports) -> dict[str, list[dict]]:
    addresses: dict[str, list[dict]] = {}
    for p in ports:
        entries = addresses.setdefault(p.network_name, [])
        for f in p.fixed_ips:
            entries.append({"version": 6 if ":" in f["ip_address"] else 4, "addr": f["ip_address"],
                            "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac_address})
        for addr in p.floating_ips:
            entries.append({"version": 6 if ":" in addr else 4, "addr": addr, "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": p.mac_address})
    return addresses


def _flavor(call: Call, r: Server) -> dict:
    """The embedded flavor from 2.47; a link to it before."""
    fl = r.flavor or {}
    if call.version >= (2, 47):
        return {"vcpus": fl.get("vcpus"), "ram": fl.get("ram"), "disk": fl.get("disk"),
                "ephemeral": fl.get("ephemeral", 0), "swap": fl.get("swap", 0), "original_name": fl.get("name"),
                "extra_specs": dict(fl.get("extra_specs") or {})}
    return {"id": r.flavor_id, "links": [{"rel": "bookmark", "href": f"{call.base_url}/compute/flavors/{r.flavor_id}"}]}


def server_view(call: Call, ctx, r: Server, ports: list, attachments: list[dict] | None,
                host_statuses: dict[str, str] | None = None) -> dict:
    """One server's detailed view at the request's microversion; ``host_statuses``: the
    ``host_status`` of its host (2.16, admins), by host name."""
    version, base = call.version, call.base_url
    status = status_of(r.status, r.task_state)
    view = {
        "id": r.id, "name": r.name, "status": status, "tenant_id": r.project_id, "user_id": r.user_id,
        "metadata": dict(r.metadata_ or {}), "hostId": host_id(r.project_id, r.host),
        "image": {"id": r.image_id, "links": [{"rel": "bookmark", "href": f"{base}/compute/images/{r.image_id}"}]},
        "flavor": _flavor(call, r), "created": isotime(r.created_at), "updated": isotime(r.updated_at),
        "addresses": _addresses(ports), "accessIPv4": r.access_ipv4,
        "accessIPv6": ip_text(r.access_ipv6) if r.access_ipv6 else "",  # rows stored before it was canonical
        "links": links(call, "servers", r.id), "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": r.availability_zone or "", "config_drive": "True" if r.config_drive else "",
        "key_name": r.key_name, "OS-SRV-USG:launched_at": isotime_us(r.launched_at),
        "OS-SRV-USG:terminated_at": None, "OS-EXT-STS:task_state": r.task_state,
        "OS-EXT-STS:vm_state": r.status, "OS-EXT-STS:power_state": r.power_state,
        "os-extended-volumes:volumes_attached": [
            {"id": a["volume_id"], **({"delete_on_termination": False} if version >= (2, 3) else {})}
            for a in attachments or []],
    }
    if status in ("BUILD", "ACTIVE"):
        view["progress"] = 100 if status == "ACTIVE" else 0
    groups = sorted({g for p in ports for g in p.security_groups})
    if groups:
        view["security_groups"] = [{"name": g} for g in groups]
    if r.fault and r.status == "error":
        view["fault"] = _fault(ctx, r.fault)
    if ctx.is_admin:
        view.update(_admin_fields(version, r, host_statuses or {}))
    if version >= (2, 9):
        view["locked"] = r.locked
    if version >= (2, 19):
        view["description"] = r.description
    if version >= (2, 26):
        view["tags"] = list(r.tags or [])
    return view


def _fault(ctx, fault: dict) -> dict:
    """A server's fault; the details of an internal (500) one for admins only."""
    out = {"code": fault["code"], "created": fault["created"], "message": fault["message"]}
    if ctx.is_admin or fault["code"] != 500:
        out["details"] = fault.get("details", "")
    return out


def _admin_fields(version, r: Server, host_statuses: dict[str, str]) -> dict:
    out = {"OS-EXT-SRV-ATTR:host": r.host, "OS-EXT-SRV-ATTR:hypervisor_hostname": r.host,
           "OS-EXT-SRV-ATTR:instance_name": "instance-" + r.id.replace("-", "")[:8]}
    if version >= (2, 3):
        out.update({"OS-EXT-SRV-ATTR:reservation_id": r.reservation_id, "OS-EXT-SRV-ATTR:launch_index": r.launch_index,
                    "OS-EXT-SRV-ATTR:hostname": r.hostname, "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "", "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": r.user_data})
    if version >= (2, 16):
        out["host_status"] = host_statuses.get(r.host, "") if r.host else ""
    return out


def attachment_view(a: dict) -> dict:
    return {"id": a["volume_id"], "serverId": a["server_id"], "volumeId": a["volume_id"], "device": a["device"]}
