"""Typed requests of the servers API: the wire body and query parsed into the domain's request
types (compute/boot.py, compute/queries.py), with Nova's JSON-schema messages. The one place
the server routes gate fields on microversions."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import secrets
from dataclasses import dataclass

from caas.api.framework import Call
from caas.compute.boot import BootRequest, NicRequest
from caas.compute.common import MAX_LIMIT
from caas.compute.queries import SORT_COLUMNS, ServerQuery, TagFilter
from caas.compute.server_state import KNOWN_STATUSES
from caas.errors import BadRequest
from caas.network.ipam import ip_text
from caas.numbers import parse_int

BOOT_FIELDS = {"name", "imageRef", "flavorRef", "networks", "key_name", "security_groups", "user_data", "metadata",
               "availability_zone", "config_drive", "min_count", "max_count", "accessIPv4", "accessIPv6",
               "adminPass", "OS-DCF:diskConfig", "return_reservation_id", "personality", "description", "tags",
               "block_device_mapping_v2", "block_device_mapping"}
TAG_RE = re.compile(r"^[^,/]{1,60}$")


@dataclass(frozen=True)
class Boot:
    """A parsed boot: the domain request, and what only the answer needs."""

    request: BootRequest
    admin_pass: str
    return_reservation_id: bool
    security_groups: list  # echoed in the answer as sent (Nova's default group otherwise)


def server_object(call: Call, key: str) -> dict:
    """``{key: {...}}``'s inside; 400 for a missing body or another shape."""
    body = call.body
    if body is None:
        raise BadRequest("The request body is required.")
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input: the body must be {{\"{key}\": {{...}}}}.")
    return body[key]


def _extra(body: dict, allowed: set) -> None:
    extra = set(body) - allowed
    if extra:
        raise BadRequest(f"Invalid input for field/attribute server. Additional properties are not allowed "
                         f"({', '.join(sorted(repr(e) for e in extra))} unexpected)")


def _name(value, message: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise BadRequest(message)
    return value


def parse_boot(call: Call) -> Boot:
    """POST /servers' body (``{"server": {...}, "os:scheduler_hints": {...}}``) as a Boot."""
    body = server_object(call, "server")
    version = call.version
    _extra(body, BOOT_FIELDS)
    name = _name(body.get("name"), "Invalid input for field/attribute name. It must be a non-blank string of at "
                                   "most 255 characters.")
    root_image = _root_image(body.get("block_device_mapping_v2"), body.get("block_device_mapping"))
    image_ref = root_image if root_image and not body.get("imageRef") else body.get("imageRef")
    description = _gated_description(body, version)
    _gate(body, version)
    tags = _tags(body.get("tags") or [])
    config_drive = _config_drive(body.get("config_drive", False))
    min_count = _count(body, "min_count", 1)
    max_count = _count(body, "max_count", min_count)
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    access = {key: access_ip(key, body.get(key)) for key in ("accessIPv4", "accessIPv6")}
    hints = _hints(call.body.get("os:scheduler_hints", call.body.get("OS-SCH-HNT:scheduler_hints")))
    user_data = _user_data(body.get("user_data"))
    image_id = _image_id(image_ref)
    networks = _networks(body.get("networks"), version)
    if not isinstance(networks, str) and any(n.port_id for n in networks) and max_count > 1:
        raise BadRequest("Unable to launch multiple instances with a single configured port ID.")
    groups = _security_groups(body.get("security_groups"))
    zone, host = _zone(body.get("availability_zone"))
    request = BootRequest(
        name=name, image_id=image_id, flavor_id=_flavor_id(body.get("flavorRef")), networks=networks,
        min_count=min_count, max_count=max_count, description=description, tags=tuple(tags),
        config_drive=config_drive, access_ipv4=access["accessIPv4"], access_ipv6=access["accessIPv6"],
        user_data=user_data, key_name=_key_name(body.get("key_name")), metadata=_metadata(body.get("metadata")),
        security_groups=groups, availability_zone=zone, force_host=host, hints=hints)
    password = body.get("adminPass") if isinstance(body.get("adminPass"), str) else secrets.token_urlsafe(9)
    return Boot(request, password, body.get("return_reservation_id") is True,
                body.get("security_groups") or [{"name": "default"}])


def _gated_description(body: dict, version) -> str | None:
    if "description" in body and version < (2, 19):
        raise BadRequest("Invalid input for field/attribute server. 'description' needs microversion 2.19.")
    description = body.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise BadRequest("Invalid input for field/attribute description. At most 255 characters.")
    return description


def _gate(body: dict, version) -> None:
    if "personality" in body and version >= (2, 57):
        raise BadRequest("Invalid input for field/attribute server. 'personality' was removed in 2.57.")
    if "tags" in body and version < (2, 52):
        raise BadRequest("Invalid input for field/attribute server. 'tags' needs microversion 2.52.")


def _tags(tags) -> list[str]:
    if not isinstance(tags, list) or len(tags) > 50 or not all(isinstance(t, str) and TAG_RE.match(t) for t in tags):
        raise BadRequest("Invalid input for field/attribute tags. At most 50 tags of 1-60 characters without "
                         "'/' or ','.")
    return tags


def _config_drive(value) -> bool:
    if isinstance(value, str):
        value = value.lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise BadRequest("Invalid input for field/attribute config_drive. It must be a boolean.")
    return value


def _count(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    return parse_int(value, key, 1, 10000, message=f"Invalid input for field/attribute {key}. Value: {value!r}. "
                                                   "It must be an integer from 1 to 10000.")


def access_ip(key: str, value) -> str:
    """accessIPv4 / accessIPv6: an address of that version ("" or None for none), as Nova's
    'ipv4' and 'ipv6' formats, in the canonical text Nova stores and answers (``ip_text``:
    "0:0:0:0:0:babe:220.12.22.2" is "::babe:dc0c:1602"); BadRequest otherwise."""
    if value is None or value == "":
        return ""
    version = 4 if key == "accessIPv4" else 6
    try:
        ok = isinstance(value, str) and ipaddress.ip_address(value).version == version
    except ValueError:
        ok = False
    if not ok:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value}. {value!r} is not a 'ipv{version}'")
    return ip_text(value)


def _user_data(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("Invalid input for field/attribute user_data. It must be a base64 string.")
    if len(value) > 65535:
        raise BadRequest("Invalid input for field/attribute user_data. It is longer than 65535 characters.")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("User data needs to be valid base 64.") from None
    return value


def _root_image(v2, legacy) -> str | None:
    """What caas takes of a block device mapping: the image as the local root disk (what the
    CLI sends for every image boot) and blank local disks (swap, ephemeral, which the flavor
    already sizes). Volumes as disks are refused. Returns the root image id, if any."""
    if legacy:
        raise BadRequest("block_device_mapping (v1) is not supported; boot from an image.")
    if v2 is None:
        return None
    if not isinstance(v2, list) or not all(isinstance(m, dict) for m in v2):
        raise BadRequest("Invalid input for field/attribute block_device_mapping_v2. It must be a list of objects.")
    root = None
    for m in v2:
        source, dest = m.get("source_type"), m.get("destination_type", "volume")
        if source == "image" and dest == "local" and m.get("boot_index") in (0, "0"):
            if not isinstance(m.get("uuid"), str):
                raise BadRequest("Invalid input for field/attribute uuid of the image block device.")
            root = m["uuid"]
        elif not (source == "blank" and dest == "local"):
            raise BadRequest(f"Block device mapping with source_type {source!r} and destination_type {dest!r} "
                             "is not supported: caas boots from an image; attach volumes after the boot.")
    return root


def _hints(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints. It must be an object.")
    out = {}
    for key in ("same_host", "different_host"):
        if key in value:
            ids = value[key] if isinstance(value[key], list) else [value[key]]
            if not all(isinstance(i, str) and len(i) <= 36 for i in ids):
                raise BadRequest(f"Invalid input for field/attribute {key}: a server id or a list of them.")
            out[key] = ids
    if "group" in value:
        if not isinstance(value["group"], str) or len(value["group"]) > 36:
            raise BadRequest("Invalid input for field/attribute group: a server group id.")
        out["group"] = value["group"]
    return out


def _image_id(ref) -> str:
    if not isinstance(ref, str) or not ref:
        raise BadRequest("Invalid input for field/attribute imageRef. Value: %r. An image is required "
                         "(boot from volume is not supported)." % (ref,))
    return ref.rstrip("/").rsplit("/", 1)[-1]


def _flavor_id(ref) -> str:
    if not isinstance(ref, (str, int)) or isinstance(ref, bool) or str(ref) == "":
        raise BadRequest("Invalid input for field/attribute flavorRef. Value: %r." % (ref,))
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def _networks(requested, version) -> str | tuple[NicRequest, ...]:
    """"auto", "none" or the NICs, by Nova's rules for a missing list (2.37 made it required)."""
    if requested is None:
        if version >= (2, 37):
            raise BadRequest("Invalid input for field/attribute networks. Value: None. 'networks' is a "
                             "required property")
        return "auto"
    if isinstance(requested, str) and version < (2, 37):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {requested[:40]}. "
                         "'auto' and 'none' need microversion 2.37; give a list of networks.")
    if requested in ("auto", "none"):
        return requested
    if not isinstance(requested, list):
        raise BadRequest("Invalid input for field/attribute networks. Value: %r. It must be a list, "
                         "'auto' or 'none'." % (requested,))
    return tuple(_nic(item, version) for item in requested)


def _nic(item, version) -> NicRequest:
    if not isinstance(item, dict):
        raise BadRequest("Invalid input for field/attribute networks. Each entry must be an object.")
    extra = set(item) - {"uuid", "port", "fixed_ip", "tag"}
    if extra:
        raise BadRequest(f"Invalid input for field/attribute networks. Additional properties are not "
                         f"allowed ({', '.join(sorted(extra))} unexpected)")
    if "tag" in item and version < (2, 32):
        raise BadRequest("Invalid input for field/attribute networks: 'tag' needs microversion 2.32.")
    port_id, net_id, fixed = item.get("port"), item.get("uuid"), item.get("fixed_ip")
    for key, value in (("port", port_id), ("uuid", net_id), ("fixed_ip", fixed)):
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}.")
    if port_id:
        return NicRequest(port_id=port_id)
    if not net_id:
        raise BadRequest("Bad networks format: network uuid is not in proper format ()")
    if fixed:
        try:
            ipaddress.ip_address(fixed)
        except ValueError:
            raise BadRequest(f"Invalid fixed IP address ({fixed})") from None
    return NicRequest(network_id=net_id, fixed_ip=fixed or None)


def _security_groups(requested) -> tuple[str, ...] | None:
    """Nova's [{"name": NAME or ID}] as the names or ids."""
    if requested is None:
        return None
    if not isinstance(requested, list) or not all(isinstance(g, dict) and isinstance(g.get("name"), str)
                                                  for g in requested):
        raise BadRequest("Invalid input for field/attribute security_groups. It must be a list of "
                         "{\"name\": ...} objects.")
    return tuple(g["name"] for g in requested)


def _zone(value) -> tuple[str | None, str | None]:
    """``availability_zone``: "ZONE", "ZONE:HOST" or None."""
    if value is None or value == "":
        return None, None
    if not isinstance(value, str) or len(value) > 255:
        raise BadRequest("Invalid input for field/attribute availability_zone.")
    zone, _, host = value.partition(":")
    return zone or None, host or None


def _key_name(value) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRequest("Invalid input for field/attribute key_name.")
    return value


def _metadata(value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Invalid input for field/attribute metadata. It must be an object.")
    return value


def parse_update(call: Call) -> dict:
    """PUT /servers/{id}'s body as the changed attributes ({"name"?, "description"?,
    "access_ipv4"?, "access_ipv6"?}); description from 2.19."""
    body = server_object(call, "server")
    _extra(body, {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
           | ({"description"} if call.version >= (2, 19) else set()))
    changes = {}
    if "name" in body:
        changes["name"] = _name(body["name"], "Invalid input for field/attribute name.")
    if "description" in body:
        d = body["description"]
        if d is not None and (not isinstance(d, str) or len(d) > 255):
            raise BadRequest("Invalid input for field/attribute description.")
        changes["description"] = d
    for key, attr in (("accessIPv4", "access_ipv4"), ("accessIPv6", "access_ipv6")):
        if key in body:
            changes[attr] = access_ip(key, body[key])
    return changes


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false", "off", "no")


def parse_server_query(call: Call) -> ServerQuery:
    """GET /servers' query as a ServerQuery (Nova's filters, sort keys and paging; an invalid
    status is 400 from 2.38, an empty list before; tag filters from 2.26)."""
    query, version = call.query, call.version
    status = (query.get("status") or "").upper() or None
    if status and status not in KNOWN_STATUSES and status != "DELETED" and version >= (2, 38):
        raise BadRequest(f"Invalid status value: {query.get('status')}")
    equal = tuple((column, query.get(param).rstrip("/").rsplit("/", 1)[-1])
                  for param, column in (("image", "image_id"), ("flavor", "flavor_id"),
                                        ("reservation_id", "reservation_id"),
                                        ("availability_zone", "availability_zone")) if query.get(param))
    admin_equal = tuple((column, query.get(param)) for param, column in
                        (("host", "host"), ("node", "host"), ("user_id", "user_id")) if query.get(param))
    since = query.get("changes-since")
    return ServerQuery(all_tenants=_truthy(query.get("all_tenants")),
                       project_id=query.get("project_id") or query.get("tenant_id"), status=status, equal=equal,
                       admin_equal=admin_equal, changes_since=_parse_time(since, "changes-since") if since else None,
                       name=query.get("name") or None, ip=query.get("ip") or query.get("ip6") or None,
                       tags=_tag_filter(query) if version >= (2, 26) else TagFilter(), sort=_sort(query),
                       limit=_limit(query.get("limit")), marker=query.get("marker") or None)


def _sort(query) -> tuple[tuple[str, str], ...]:
    keys = query.getlist("sort_key") or ["created_at"]
    dirs = query.getlist("sort_dir") or ["desc"]
    out = []
    for i, key in enumerate(keys):
        if key not in SORT_COLUMNS:
            raise BadRequest(f"Invalid input for query parameters sort_key. Value: {key}.")
        direction = dirs[i] if i < len(dirs) else dirs[-1]
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input for query parameters sort_dir. Value: {direction}.")
        out.append((key, direction))
    return tuple(out)


def _limit(raw: str | None) -> int:
    """The page size: at most Nova's max_limit (also the default: a longer list is paged)."""
    if raw is None:
        return MAX_LIMIT
    return min(parse_int(raw, "limit", 0, message="Invalid input for query parameters limit. Value must be an "
                                                  "integer >= 0."), MAX_LIMIT)


def _tag_filter(query) -> TagFilter:
    def tags(param):
        raw = query.get(param)
        return tuple(t for t in raw.split(",") if t) if raw else None
    return TagFilter(tags("tags"), tags("tags-any"), tags("not-tags"), tags("not-tags-any"))


def _parse_time(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. It must be an ISO 8601 "
                         "time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed
