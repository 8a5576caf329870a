"""Requests of the Block Storage v3 API, at microversion 3.0: the query of a volume list
(``list_query``, read as Cinder reads it) and the request bodies. Strict types (``"size":
"1"`` is refused, where Cinder would take the string); otherwise Cinder's 3.0 schemas: a create
ignores attributes it does not know (``additionalProperties: true`` until 3.53), everything else
refuses them. Values are checked further by the service."""

from __future__ import annotations

import ast
import uuid
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from caas.context import AuthContext
from caas.errors import BadRequest
from caas.numbers import INT32_MAX, parse_int
from caas.volume.service import COLUMNS, VolumeQuery

DB_MAX_INT = 0x7FFFFFFF
MAX_LIMIT = 1000  # Cinder's osapi_max_limit

# What a non-admin may filter lists on (Cinder's resource_filters.json), and the filters later
# microversions add, dropped (for everybody) below them.
USER_FILTERS = ("name", "status", "metadata", "bootable", "migration_status", "availability_zone", "group_id", "size",
                "created_at", "updated_at", "consumes_quota")
ADDED_FILTERS = (((3, 3), "glance_metadata"), ((3, 9), "group_id"), ((3, 59), "created_at"),
                 ((3, 59), "updated_at"), ((3, 64), "use_quota"))
TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")

Text = Annotated[StrictStr, Field(max_length=255)]
# Cinder's metadata keys (extra_specs): letters, digits and "-_:. /", 1 to 255 of them.
MetaKey = Annotated[StrictStr, Field(pattern=r"^[a-zA-Z0-9\-_:. /]{1,255}$")]
MetaValue = Annotated[StrictStr, Field(max_length=255)]
Metadata = dict[MetaKey, MetaValue]
Size = Annotated[StrictInt, Field(ge=1, le=DB_MAX_INT)]


def _uuid_like(value: str) -> str:
    """Cinder's ``uuid`` format (oslo's is_uuid_like: any form uuid.UUID reads), in its words."""
    try:
        uuid.UUID(value)
    except ValueError:
        raise PydanticCustomError("uuid", "'{value}' is not valid under any of the given schemas",
                                  {"value": value[:100]}) from None
    return value


UuidLike = Annotated[StrictStr, AfterValidator(_uuid_like)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class VolumeCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: Optional[StrictStr] = None
    description: Optional[StrictStr] = None
    display_name: Optional[StrictStr] = None
    display_description: Optional[StrictStr] = None
    volume_type: Optional[Text] = None
    metadata: Optional[Metadata] = None
    snapshot_id: Optional[StrictStr] = None
    source_volid: Optional[UuidLike] = None
    consistencygroup_id: Optional[StrictStr] = None
    size: Optional[Size] = None
    availability_zone: Optional[Annotated[StrictStr, Field(min_length=1, max_length=255)]] = None
    multiattach: Optional[StrictBool] = None
    image_id: Optional[Text] = None
    imageRef: Optional[Text] = None
    # Read by Cinder at every microversion although only later schemas declare them.
    backup_id: Any = None
    group_id: Any = None


class VolumeCreateBody(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    volume: VolumeCreate
    scheduler_hints: Optional[dict] = Field(None, alias="OS-SCH-HNT:scheduler_hints")


class VolumeUpdate(Model):
    name: Optional[StrictStr] = None
    description: Optional[StrictStr] = None
    display_name: Optional[StrictStr] = None
    display_description: Optional[StrictStr] = None
    metadata: Optional[Metadata] = None


class VolumeUpdateBody(Model):
    volume: VolumeUpdate


class MetadataBody(Model):
    metadata: Metadata


class MetaItemBody(Model):
    meta: Annotated[Metadata, Field(min_length=1, max_length=1)]


class Extend(Model):
    new_size: Size


class SetBootable(Model):
    bootable: StrictBool


class ResetStatus(Model):
    status: Optional[StrictStr] = None
    attach_status: Optional[StrictStr] = None
    migration_status: Optional[StrictStr] = None


def validation_message(exc: ValidationError) -> str:
    """Cinder's wording: ``Invalid input for field/attribute size. Value: 0. <reason>``."""
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    if err.get("type") in ("missing", "extra_forbidden"):
        name = loc[-1] if loc else "body"
        return (f"'{name}' is a required property" if err["type"] == "missing"
                else f"Additional properties are not allowed ('{name}' was unexpected)")
    # The attribute of the resource (``volume.metadata.<key>`` is about ``metadata``).
    field = (loc[1] if len(loc) > 1 and loc[0] == "volume" else loc[0]) if loc else "body"
    value = err.get("input")
    shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
    return f"Invalid input for field/attribute {field}. Value: {str(shown)[:200]}. {err.get('msg')}"


def parse(body: Any, model: type[BaseModel]) -> BaseModel:
    """``body`` validated against ``model``; 400 in Cinder's words otherwise."""
    if body is None:
        raise BadRequest("Malformed request body")
    if not isinstance(body, dict):
        raise BadRequest(f"Invalid input for field/attribute body. Value: {str(body)[:200]}. "
                         f"{str(body)[:200]} is not of type 'object'")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BadRequest(validation_message(exc)) from None


def clean_text(value: str | None, field: str) -> str | None:
    """Cinder strips whitespace around names and descriptions, then allows 255 characters."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > 255:
        raise BadRequest(f"Invalid input received: {field} has {len(value)} characters, more than 255.")
    return value


def bool_param(value: Any, name: str) -> bool:
    """Cinder's get_bool_param: oslo's boolean strings, strictly."""
    text = str(value).strip().lower()
    if text in TRUE_STRINGS:
        return True
    if text in FALSE_STRINGS:
        return False
    raise BadRequest(f"Value '{value}' for '{name}' is not a boolean.")


def _literal(value: str) -> Any:
    """Cinder evaluates filter values as Python literals ("1" is 1, "{'k': 'v'}" a dict),
    falling back to the string."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _coerce(column: str, value: Any) -> tuple[bool, Any]:
    """(ok, value) for an exact-match filter on ``column``; not ok when nothing can match."""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_coerce(column, v) for v in value]
        return True, [v for ok, v in items if ok and not isinstance(v, list)]
    if column == "size":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2 ** 31:
            return False, None
        return True, value
    if column in ("created_at", "updated_at"):
        return False, None
    if isinstance(value, (dict, bytes)) or value is None:
        return False, None
    return True, str(value)


def list_query(ctx: AuthContext, params, version) -> VolumeQuery:
    """A volume list's query string, as Cinder reads it (below microversion 3.31: no generic
    filtering): paging and sorting first, then the filters, non-admins' silently cut down to
    the ones they may use."""
    q = VolumeQuery()
    raw = {k: params[k] for k in params.keys()}
    limit = parse_int(raw.pop("limit", str(MAX_LIMIT)), "limit", None, message="limit param must be an integer")
    if limit < 0:
        raise BadRequest("limit param must be positive")
    q.limit = min(limit, MAX_LIMIT)
    q.marker = raw.pop("marker", None)
    q.offset = parse_int(raw.pop("offset", "0"), "offset", None, message="offset must be an integer")
    if not 0 <= q.offset <= INT32_MAX:
        raise BadRequest("offset must be >= 0" if q.offset < 0 else f"offset must be <= {INT32_MAX}")
    q.sort = sort_params(raw)

    for added, name in ADDED_FILTERS:
        if version <= added:
            raw.pop(name, None)
    if not ctx.is_admin:
        raw = {k: v for k, v in raw.items() if k in USER_FILTERS}
    q.all_tenants = bool_param(raw.pop("all_tenants"), "all_tenants") if "all_tenants" in raw else False
    if "name" in raw:
        raw["display_name"] = raw.pop("name")
    for key, value in raw.items():
        if key == "display_name":
            q.filters[key] = value  # names are taken as they are, never evaluated
        elif key == "bootable":
            # Before 3.2, anything but False/false/FALSE means true.
            q.filters[key] = value not in ("False", "false", "FALSE")
        elif key == "metadata":
            meta = _literal(value)
            if not isinstance(meta, dict) or not all(isinstance(v, (str, int, float)) for v in meta.values()):
                q.impossible = True
                continue
            q.metadata = {str(k): str(v) for k, v in meta.items()}
        elif key in COLUMNS:
            ok, coerced = _coerce(key, _literal(value))
            if ok:
                q.filters[key] = coerced
            else:
                q.impossible = True
        else:
            q.impossible = True  # Cinder filters on the column, and there is no such column
    return q


def sort_params(raw: dict) -> list[tuple[str, str]]:
    """``sort=key:dir,...`` or ``sort_key``/``sort_dir`` (not both), checked against the
    columns; Cinder's tie-breakers come later."""
    if "sort" in raw and ("sort_key" in raw or "sort_dir" in raw):
        raise BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the "
                         "'sort' parameter.")
    pairs = []
    if "sort" in raw:
        for item in raw.pop("sort").strip().split(","):
            key, _, direction = item.partition(":")
            pairs.append((key.strip(), direction.strip() or "desc"))
    else:
        pairs.append((raw.pop("sort_key", "created_at").strip(), raw.pop("sort_dir", "desc").strip()))
    out = []
    for key, direction in pairs:
        key = "display_name" if key == "name" else key
        if direction not in ("asc", "desc"):
            raise BadRequest("Invalid input received: Unknown sort direction, must be 'desc' or 'asc'.")
        if key not in COLUMNS:
            raise BadRequest("Invalid input received: Invalid sort key")
        out.append((key, direction))
    keys = [k for k, _ in out]
    for default in ("created_at", "id"):
        if default not in keys:
            out.append((default, out[0][1]))
    return out


def check_create(body: "VolumeCreate") -> None:
    """What a create may ask that this cloud does not do: 400 in Cinder's words."""
    for field, what in (("snapshot_id", "a snapshot"), ("backup_id", "a backup"),
                        ("consistencygroup_id", "a consistency group"), ("group_id", "a group")):
        if getattr(body, field):
            raise BadRequest(f"Invalid input received: creating a volume from {what} ({field}) is not supported "
                             "by this cloud; create an empty volume, or one from an image or another volume.")
    if body.multiattach:
        raise BadRequest("multiattach parameter has been removed. The default behavior is to use multiattach "
                         "enabled volume types. Contact your administrator to create a multiattach enabled "
                         "volume type and use it to create multiattach volumes.")


def update_changes(body: "VolumeUpdate") -> dict:
    """The changes an update asks for: ``name``, ``description`` (or their display_* aliases)
    and ``metadata``, each only when sent."""
    changes: dict = {}
    for field, alias in (("name", "display_name"), ("description", "display_description")):
        value = getattr(body, field) if field in body.model_fields_set else getattr(body, alias)
        if field in body.model_fields_set or alias in body.model_fields_set:
            changes[field] = clean_text(value, field)
    if "metadata" in body.model_fields_set:
        if body.metadata is None:
            raise BadRequest("Invalid input for field/attribute metadata. Value: None. None is not of type 'object'")
        changes["metadata"] = body.metadata
    return changes


def target(params: dict) -> str:
    """The project id a quota path names (1 to 255 characters)."""
    project_id = params["target"]
    if not 1 <= len(project_id) <= 255:
        raise BadRequest("Invalid input received: the project id must have 1 to 255 characters.")
    return project_id


def quota_values(body: Any) -> dict:
    """The ``quota_set`` of a quota update: an object of at least one value."""
    if not isinstance(body, dict) or set(body) != {"quota_set"}:
        raise BadRequest("'quota_set' is a required property" if not isinstance(body, dict)
                         or "quota_set" not in body else "Additional properties are not allowed")
    values = body["quota_set"]
    if not isinstance(values, dict) or not values:
        raise BadRequest("Invalid input for field/attribute quota_set. Value: "
                         f"{str(values)[:200]}. It must be an object with at least 1 property")
    return values
