"""Request bodies of the Block Storage v3 API, at microversion 3.0. Strict types (``"size":
"1"`` is refused, where Cinder would take the string); otherwise Cinder's 3.0 schemas: a create
ignores attributes it does not know (``additionalProperties: true`` until 3.53), everything else
refuses them. Values are checked further by the service."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic_core import PydanticCustomError

from caas.errors import BadRequest

DB_MAX_INT = 0x7FFFFFFF

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
