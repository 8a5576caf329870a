"""The volume service's refusals, in Cinder's words and with Cinder's kinds (one place, so that
every path that refuses the same thing says it the same way)."""

from __future__ import annotations

from caas.errors import BadRequest, NotFound


def not_found(volume_id: str) -> NotFound:
    return NotFound(f"Volume {volume_id} could not be found.", kind="VolumeNotFound")


def attachment_not_found(volume_id: str, server_id: str) -> NotFound:
    return NotFound(f"Volume attachment could not be found with filter: volume_id = {volume_id}, "
                    f"instance_uuid = {server_id}.", kind="VolumeAttachmentNotFound")


def invalid_volume(reason: str) -> BadRequest:
    return BadRequest(f"Invalid volume: {reason}", kind="InvalidVolume")


def invalid_input(reason: str) -> BadRequest:
    return BadRequest(f"Invalid input received: {reason}", kind="InvalidInput")


def unusable_image() -> BadRequest:
    """Cinder's one answer for an image reference that names no image the caller may use."""
    return BadRequest("Invalid image identifier or unable to access requested image.")


def image_unacceptable(image_id: str, reason: str) -> BadRequest:
    return BadRequest(f"Image {image_id} is unacceptable: {reason}", kind="ImageUnacceptable")
