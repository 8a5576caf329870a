"""Volumes made from images: what such a create is checked against (Cinder's
check_image_metadata, then what caas can copy), what the volume records of its image, and how
``imageRef`` names an image."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from caas.context import AuthContext
from caas.errors import CaasError, Conflict, Forbidden, NotFound
from caas.image.query import ImageQuery
from caas.volume.faults import image_unacceptable, invalid_input, unusable_image
from caas.volume.store import GIB

if TYPE_CHECKING:
    from caas.image.models import Image
    from caas.image.service import ImageService

# The image formats whose bytes are a disk as they are (Cinder converts the others with qemu-img; caas has none).
COPIED_DISK_FORMATS = ("raw", "iso")
# The image attributes a volume made from it records (Cinder's IMAGE_ATTRIBUTES), beside its
# id, name and properties.
IMAGE_ATTRIBUTES = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")



def image_metadata(image: "Image") -> dict[str, str]:
    """What a volume made from ``image`` records of it, as Cinder's get_volume_image_metadata:
    its properties, then its id, name and IMAGE_ATTRIBUTES (these win), as strings."""
    out = {k: v for k, v in image.extra.items() if v is not None}
    out["image_id"] = image.id
    if image.name:
        out["image_name"] = image.name
    for key in IMAGE_ATTRIBUTES:
        value = getattr(image, key)
        if value is not None:
            out[key] = str(value)
    return out


def check_image(image: "Image", size: int) -> None:
    """Cinder's check_image_metadata (active, its size and min_disk and virtual size fit in
    ``size`` GiB), then what caas can copy: an image with data whose bytes are the disk."""
    if image.status != "active":
        raise invalid_input(f"Image {image.id} is not active.")
    if image.checksum is None or image.size is None:
        raise image_unacceptable(image.id, "it has no data to copy (the host image is the host's root file "
                                           "system, not a disk).")
    image_gib = (image.size + GIB - 1) // GIB
    if image_gib > size:
        raise invalid_input(f"Size of specified image {image_gib}GB is larger than volume size {size}GB.")
    if size < (image.min_disk or 0):
        raise invalid_input(f"Volume size {size}GB cannot be smaller than the image minDisk size {image.min_disk}GB.")
    if image.virtual_size:
        virtual_gib = (image.virtual_size + GIB - 1) // GIB
        if virtual_gib > size:
            raise image_unacceptable(image.id, f"Image virtual size is {virtual_gib}GB and doesn't fit in a volume "
                                               f"of size {size}GB.")
    if image.disk_format not in COPIED_DISK_FORMATS or image.container_format != "bare":
        raise image_unacceptable(
            image.id, f"its disk_format is {image.disk_format} and its container_format {image.container_format}; "
                      "this cloud copies only raw or iso images in a bare container into volumes, byte for byte "
                      "(convert it first, e.g. qemu-img convert -O raw, and upload that).")


def resolve(images: "ImageService | None", ctx: AuthContext, ref: str) -> str:
    """The id of the image ``ref`` names, as Cinder reads ``imageRef``: the last part of
    a URL that is the id of an image the caller sees, else the name of exactly one such
    image (409 if several); 400 otherwise, for unknown and invisible images alike."""
    unknown = unusable_image()
    if images is None or not ref:
        raise unknown
    candidate = ref.split("/")[-1]
    try:
        uuid_like = uuid.UUID(candidate) is not None
    except ValueError:
        uuid_like = False
    if uuid_like:
        try:
            return images.get_image(ctx, candidate).id
        except NotFound:
            pass
    try:
        found, _ = images.list_images(ctx, ImageQuery(filters={"name": ref}, limit=2))
    except CaasError:
        found = []
    if len(found) > 1:
        raise Conflict(f"Multiple matches found for '{ref}', use an ID to be more specific.")
    if not found:
        raise unknown
    return found[0].id


def for_volume(images: "ImageService", ctx: AuthContext, image_id: str) -> "Image":
    """The image (by id, from ``resolve``): 400 unless it is active and the caller
    may download it."""
    unknown = unusable_image()
    try:
        image = images.get_image(ctx, image_id)
    except NotFound:
        raise unknown from None
    if image.status != "active":
        raise invalid_input(f"Image {image.id} is not active.")
    try:
        image, fh = images.open_data(ctx, image_id)
    except (NotFound, Forbidden):
        raise unknown from None
    if fh is not None:
        fh.close()  # the worker opens it again, by id, when it copies
    return image
