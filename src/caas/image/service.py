"""Image domain logic (Glance v2): images, their data, tags and members, and the ``host`` image.

Pure Python over the database and the file store; every call takes the caller's
``AuthContext`` and checks policy first. An image the caller may not see is NotFound (never
Forbidden), as in Glance. A new image arrives as a ``NewImage`` whose attributes the API has
checked against ``caas.image.attributes``; changes arrive as JSON-patch operations (``Change``)
whose values are checked here against the same rules.

Data: ``upload`` claims the image (``queued`` -> ``saving``, one conditional UPDATE, so two
uploads never both win), streams the blocks to the store without a transaction open, then
records the result (``active``) only if the image is still ``saving``: an image deleted during
its upload answers 410 and leaves no file. A failed transfer (client gone, size mismatch, disk
full, over the size cap) marks the image ``killed``. ``bootstrap`` finishes what a crash
interrupted: partial files are removed and their images killed; files without an image go.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.db import Database, utcnow
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, CaasError, Conflict, Forbidden, NotFound, PayloadTooLarge
from caas.context import AuthContext
from caas.image import policy, query
from caas.image import attributes as S
from caas.image.query import ImageQuery
from caas.image.models import Image, ImageMember, ImageProperty, ImageTag, image_id
from caas.image.store import HASH_ALGO, ImageStore
from caas.numbers import parse_int

log = logging.getLogger("caas.image")

# Glance's defaults: image_size_cap (1 TiB), image_property_quota, image_tag_quota,
# image_member_quota (a list's limits are in query.py).
SIZE_CAP = 1024**4
PROPERTY_QUOTA = 128
TAG_QUOTA = 128
MEMBER_QUOTA = 128

HOST_IMAGE_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "caas:image:host-rootfs"))
HOST_IMAGE_NAME = "host"
ROOTFS_PROPERTY = "caas_rootfs"
OS_RELEASE = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


class Gone(CaasError):
    status = 410
    title = "Gone"


@dataclass(frozen=True)
class Change:
    """One JSON-patch operation on an image: ``op`` add/replace/remove on the top-level
    attribute ``name`` (or, with ``index``, on one element of ``tags``). ``strict_add``: the
    older (draft 4) patch type, where adding an attribute that exists is a conflict."""

    op: str
    name: str
    value: Any = None
    strict_add: bool = False
    index: str | None = None  # "/tags/<index>": a position in the tag list, or "-" (the end)


@dataclass(frozen=True)
class NewImage:
    """An image to create, its attributes valid by Glance's schema (``caas.image.attributes``).
    ``id``: None for a new one; ``owner``: the caller's project unless ``owner_given`` (an owner
    may be given as null); ``tags`` distinct; ``properties``: the free-form string properties."""

    id: str | None = None
    name: str | None = None
    owner: str | None = None
    owner_given: bool = False
    visibility: str = "shared"
    protected: bool = False
    os_hidden: bool = False
    min_ram: int = 0
    min_disk: int = 0
    disk_format: str | None = None
    container_format: str | None = None
    tags: tuple[str, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()


def read_os_release() -> dict[str, str]:
    for path in OS_RELEASE:
        try:
            text = path.read_text()
        except OSError:
            continue
        out = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.startswith("#"):
                try:
                    parts = shlex.split(value)
                except ValueError:
                    continue
                out[key.strip()] = parts[0] if parts else ""
        return out
    return {}


class ImageService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.store = ImageStore(settings.image_dir)

    # ---- helpers -------------------------------------------------------------------------
    @staticmethod
    def _is_member(s: Session, image: Image, project_id: str | None) -> bool:
        if project_id is None:
            return False
        return s.get(ImageMember, (image.id, project_id)) is not None

    def _target(self, s: Session, ctx: AuthContext, image: Image) -> dict:
        is_member = (image.visibility == "shared" and image.owner != ctx.project_id
                     and self._is_member(s, image, ctx.project_id))
        return {"owner": image.owner, "visibility": image.visibility, "is_member": is_member}

    def _load(self, s: Session, ctx: AuthContext, image_id_: str, lock: bool = False) -> tuple[Image, dict]:
        """The image and its policy target; NotFound if it does not exist or is not visible.
        ``lock``: for a write, the row is locked (PostgreSQL; SQLite's writers queue anyway), so
        that concurrent changes to one image apply one after the other, never over each other."""
        image = s.get(Image, image_id_, with_for_update=lock) if len(image_id_) <= 36 else None
        if image is not None:
            target = self._target(s, ctx, image)
            if policy.visible(ctx, target):
                return image, target
        raise NotFound(f"No image found with ID {image_id_}")

    @staticmethod
    def _check_visibility_change(ctx: AuthContext, visibility: str, owner: str | None) -> None:
        if visibility == "public":
            policy.enforce(ctx, "publicize_image", {"owner": owner})
        elif visibility == "community":
            policy.enforce(ctx, "communitize_image", {"owner": owner})

    # ---- images --------------------------------------------------------------------------
    def create_image(self, ctx: AuthContext, new: NewImage) -> Image:
        """Create a ``queued`` image: within the quotas of properties and tags (413), where the
        policy lets the caller own it and give it its visibility."""
        if len(new.properties) > PROPERTY_QUOTA:
            raise PayloadTooLarge(f"An image may have at most {PROPERTY_QUOTA} properties.")
        if len(new.tags) > TAG_QUOTA:
            raise PayloadTooLarge(f"An image may have at most {TAG_QUOTA} tags.")
        owner = new.owner if new.owner_given else ctx.project_id
        policy.enforce(ctx, "add_image", {"owner": owner})
        self._check_visibility_change(ctx, new.visibility, owner)
        new_id = new.id or image_id()
        now = utcnow()
        image = Image(id=new_id, owner=owner, visibility=new.visibility, status="queued", created_at=now,
                      updated_at=now, protected=new.protected, os_hidden=new.os_hidden, min_ram=new.min_ram,
                      min_disk=new.min_disk, name=new.name, disk_format=new.disk_format,
                      container_format=new.container_format)
        image.properties = [ImageProperty(name=k, value=v) for k, v in new.properties]
        image.tags = [ImageTag(value=t) for t in new.tags]
        with self.db.write() as s:
            if s.get(Image, new_id) is not None:
                raise Conflict(f"An image with identifier {new_id} already exists")
            s.add(image)
        return image

    def get_image(self, ctx: AuthContext, image_id_: str) -> Image:
        with self.db.read() as s:
            return self._load(s, ctx, image_id_)[0]

    def list_images(self, ctx: AuthContext, q: ImageQuery) -> tuple[list[Image], str | None]:
        """One page of the images the caller may see (``query.conditions``), and the marker of
        the next page (None on the last). A marker the caller cannot see is 400."""
        policy.enforce(ctx, "get_images", {"project_id": ctx.project_id})
        conds = query.conditions(ctx, q)
        columns = query.sort_columns(q.sort)
        limit = query.page_size(q.limit)
        with self.db.read() as s:
            if q.marker is not None:
                try:
                    marker, _ = self._load(s, ctx, q.marker)
                except NotFound as exc:
                    raise BadRequest(exc.message) from None
                values = s.execute(select(*[c for c, _ in columns]).where(Image.id == marker.id)).one()
                conds.append(query.after(columns, values))
            order = [c.asc() if d == "asc" else c.desc() for c, d in columns]
            rows = list(s.scalars(select(Image).where(*conds).order_by(*order).limit(limit + 1)))
        next_marker = rows[limit - 1].id if len(rows) > limit and limit > 0 else None
        return rows[:limit], next_marker

    def update_image(self, ctx: AuthContext, image_id_: str, changes: list[Change]) -> Image:
        """Apply JSON-patch changes, all or none."""
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "modify_image", target)
            extra = image.extra
            tags = image.tag_list
            core: dict[str, Any] = {}
            for ch in changes:
                S.check_name(ch.name)
                if ch.index is not None:
                    tags = self._tag_change(tags, ch)
                    continue
                if ch.name in S.WRITABLE:
                    if ch.op == "remove":
                        raise Forbidden(f"Property {ch.name} may not be removed.")
                    value = S.check_core(ch.name, ch.value)
                    if ch.name == "owner" and not ctx.is_admin:
                        raise Forbidden("Owner can't be updated by non admin.")
                    if ch.name in ("disk_format", "container_format") and value != getattr(image, ch.name) \
                            and image.status != "queued":
                        raise Forbidden(f"Attribute {ch.name} can be only replaced for a queued image.")
                    if ch.name == "tags":
                        tags = value
                    else:
                        core[ch.name] = value
                    continue
                present = ch.name in extra
                if ch.op == "remove" or ch.op == "replace":
                    if not present:
                        raise Conflict(f"Property {ch.name} does not exist.")
                elif present and ch.strict_add:
                    raise Conflict(f"Property {ch.name} already present.")
                if ch.op == "remove":
                    del extra[ch.name]
                else:
                    S.check_property(ch.name, ch.value)
                    extra[ch.name] = ch.value
            if len(extra) > PROPERTY_QUOTA:
                raise PayloadTooLarge(f"An image may have at most {PROPERTY_QUOTA} properties.")
            if len(tags) > TAG_QUOTA:
                raise PayloadTooLarge(f"An image may have at most {TAG_QUOTA} tags.")
            if core.get("visibility", image.visibility) != image.visibility:
                self._check_visibility_change(ctx, core["visibility"], core.get("owner", image.owner))
            if not changes:
                return image
            for key, value in core.items():
                setattr(image, key, value)
            self._set_properties(image, extra)
            self._set_tags(image, tags)
            image.updated_at = utcnow()
            s.flush()
            s.refresh(image)
            return image

    @staticmethod
    def _tag_change(tags: list[str], ch: Change) -> list[str]:
        tags = list(tags)
        if ch.index == "-" and ch.op == "add":
            position = len(tags)
        else:
            position = parse_int(ch.index, "tag position", 0, message=f"Invalid tag position: '{ch.index}'")
            if not 0 <= position < len(tags) + (ch.op == "add"):
                raise Conflict(f"There is no tag at position {position}.")
        if ch.op == "remove":
            del tags[position]
            return tags
        S.check_tag(ch.value)
        if ch.op == "replace":
            tags[position] = ch.value
        else:
            tags.insert(position, ch.value)
        return list(dict.fromkeys(tags))

    @staticmethod
    def _set_tags(image: Image, wanted: list[str]) -> None:
        for tag in [t for t in image.tags if t.value not in wanted]:
            image.tags.remove(tag)
        have = set(image.tag_list)
        image.tags.extend(ImageTag(value=t) for t in wanted if t not in have)

    @staticmethod
    def _set_properties(image: Image, wanted: dict[str, str]) -> None:
        current = {p.name: p for p in image.properties}
        for name, prop in current.items():
            if name not in wanted:
                image.properties.remove(prop)
            elif prop.value != wanted[name]:
                prop.value = wanted[name]
        for name, value in wanted.items():
            if name not in current:
                image.properties.append(ImageProperty(name=name, value=value))

    def delete_image(self, ctx: AuthContext, image_id_: str) -> None:
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "delete_image", target)
            if image.protected:
                raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
            s.delete(image)
        # After the commit: an upload still running finds its image gone and cleans up itself.
        self.store.delete(image_id_)

    def set_active(self, ctx: AuthContext, image_id_: str, active: bool) -> None:
        """``deactivate`` (active -> deactivated) or ``reactivate`` (the reverse); idempotent."""
        action = "reactivate" if active else "deactivate"
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, action, target)
            want, source = ("active", "deactivated") if active else ("deactivated", "active")
            if image.status == want:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            image.status = want
            image.updated_at = utcnow()

    # ---- data ----------------------------------------------------------------------------
    def upload(self, ctx: AuthContext, image_id_: str, blocks: Iterable[bytes], size: int | None = None) -> None:
        """Store the image's data from ``blocks`` (``size``: what the client announced)."""
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "upload_image", target)
            if size is not None and size > SIZE_CAP:
                raise PayloadTooLarge(f"The image is larger than the limit of {SIZE_CAP} bytes.")
            claimed = s.execute(update(Image).where(Image.id == image.id, Image.status == "queued")
                                .values(status="saving", updated_at=utcnow())).rowcount
            if not claimed:
                raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
            disk_format = image.disk_format
        try:
            data = self.store.receive(image_id_, blocks, limit=SIZE_CAP, expected_size=size, disk_format=disk_format)
        except BaseException:
            with self.db.write() as s:
                s.execute(update(Image).where(Image.id == image_id_, Image.status == "saving")
                          .values(status="killed", updated_at=utcnow()))
            raise
        with self.db.write() as s:
            done = s.execute(update(Image).where(Image.id == image_id_, Image.status == "saving").values(
                status="active", size=data.size, virtual_size=data.virtual_size, checksum=data.checksum,
                os_hash_algo=HASH_ALGO, os_hash_value=data.hash_value, updated_at=utcnow())).rowcount
        if not done:
            self.store.delete(image_id_)
            raise Gone(f"Image {image_id_} could not be found after upload. The image may have been deleted "
                       "during the upload.")

    def open_data(self, ctx: AuthContext, image_id_: str) -> tuple[Image, BinaryIO | None]:
        """The image and its open file, or None for an image without data (queued, the host
        image, a file missing from this data dir)."""
        with self.db.read() as s:
            image, target = self._load(s, ctx, image_id_)
            if image.status == "deactivated" and not ctx.is_admin:
                raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
            policy.enforce(ctx, "download_image", target)
        if image.status not in ("active", "deactivated") or image.checksum is None:
            return image, None
        fh = self.store.open(image.id)
        if fh is None:
            log.warning("image %s is %s but its file is missing from %s", image.id, image.status, self.store.root)
        return image, fh

    # ---- tags ----------------------------------------------------------------------------
    def add_tag(self, ctx: AuthContext, image_id_: str, tag: str) -> None:
        S.check_tag(tag)
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "modify_image", target)
            if tag in image.tag_list:
                return
            if len(image.tags) >= TAG_QUOTA:
                raise PayloadTooLarge(f"An image may have at most {TAG_QUOTA} tags.")
            insert_if_absent(s, ImageTag, image_id=image.id, value=tag)
            image.updated_at = utcnow()

    def remove_tag(self, ctx: AuthContext, image_id_: str, tag: str) -> None:
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "modify_image", target)
            gone = s.execute(delete(ImageTag).where(ImageTag.image_id == image.id, ImageTag.value == tag)).rowcount
            if not gone:
                raise NotFound(f"Tag {tag} not found")
            image.updated_at = utcnow()

    # ---- members -------------------------------------------------------------------------
    def list_members(self, ctx: AuthContext, image_id_: str) -> list[ImageMember]:
        with self.db.read() as s:
            image, target = self._load(s, ctx, image_id_)
            policy.enforce(ctx, "get_members", target)
            stmt = select(ImageMember).where(ImageMember.image_id == image.id).order_by(ImageMember.created_at)
            if not (ctx.is_admin or target["owner"] == ctx.project_id):
                stmt = stmt.where(ImageMember.member == ctx.project_id)  # a member sees itself only
            return list(s.scalars(stmt))

    def get_member(self, ctx: AuthContext, image_id_: str, member_id: str) -> ImageMember:
        with self.db.read() as s:
            image, target = self._load(s, ctx, image_id_)
            member = s.get(ImageMember, (image.id, member_id))
            if member is None or not policy.allowed(ctx, "get_members", target) or not (
                    ctx.is_admin or target["owner"] == ctx.project_id or member_id == ctx.project_id):
                raise NotFound(f"Member {member_id} not found for image {image.id}")
            return member

    def add_member(self, ctx: AuthContext, image_id_: str, member_id: Any) -> ImageMember:
        if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
            raise BadRequest("Invalid value for 'member': a project id of 1 to 255 characters.")
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "add_member", target)
            if image.visibility != "shared":
                raise Forbidden(f"Image members can only be added to images with 'shared' visibility; image "
                                f"{image.id} is {image.visibility}.")
            if s.get(ImageMember, (image.id, member_id)) is not None:
                raise Conflict(f"Member {member_id} already exists for image {image.id}")
            count = s.scalar(select(func.count()).select_from(ImageMember).where(ImageMember.image_id == image.id))
            if count >= MEMBER_QUOTA:
                raise PayloadTooLarge(f"An image may have at most {MEMBER_QUOTA} members.")
            now = utcnow()
            member = ImageMember(image_id=image.id, member=member_id, status="pending", created_at=now, updated_at=now)
            s.add(member)
            return member

    def update_member(self, ctx: AuthContext, image_id_: str, member_id: str, status: Any) -> ImageMember:
        if status not in S.MEMBER_STATUSES:
            raise BadRequest(f"Invalid status: must be one of {', '.join(S.MEMBER_STATUSES)}.")
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            member = s.get(ImageMember, (image.id, member_id))
            if member is None:
                raise NotFound(f"Member {member_id} not found for image {image.id}")
            policy.enforce(ctx, "modify_member", {**target, "is_member": member_id == ctx.project_id})
            member.status = status
            member.updated_at = utcnow()
            return member

    def delete_member(self, ctx: AuthContext, image_id_: str, member_id: str) -> None:
        with self.db.write() as s:
            image, target = self._load(s, ctx, image_id_, lock=True)
            policy.enforce(ctx, "delete_member", target)
            gone = s.execute(delete(ImageMember).where(ImageMember.image_id == image.id,
                                                       ImageMember.member == member_id)).rowcount
            if not gone:
                raise NotFound(f"Member {member_id} not found for image {image.id}")

    # ---- first start ---------------------------------------------------------------------
    def bootstrap(self, admin_project_id: str | None = None) -> None:
        """The file store, the crash reconciler, and the ``host`` image (public, active, owned
        by the admin project, no file: its data is the host's root filesystem). Idempotent."""
        self.store.setup()
        self.reconcile()
        release = read_os_release()
        wanted = {ROOTFS_PROPERTY: "host"}
        for prop, key in (("os_distro", "ID"), ("os_version", "VERSION_ID")):
            if release.get(key):
                wanted[prop] = release[key]
        with self.db.write() as s:
            owner = admin_project_id or self._admin_project(s)
            image = s.get(Image, HOST_IMAGE_ID)
            if image is None:
                now = utcnow()
                image = Image(id=HOST_IMAGE_ID, name=HOST_IMAGE_NAME, owner=owner, status="active",
                              visibility="public", protected=True, disk_format="raw", container_format="bare",
                              created_at=now, updated_at=now)
                s.add(image)
                image.properties = []
            if image.extra | wanted != image.extra:  # the host may have been upgraded since
                self._set_properties(image, image.extra | wanted)
                image.updated_at = utcnow()

    @staticmethod
    def _admin_project(s: Session) -> str | None:
        from caas.identity.models import Project
        from caas.identity.service import DEFAULT_DOMAIN_ID

        return s.scalar(select(Project.id).where(Project.domain_id == DEFAULT_DOMAIN_ID, Project.name == "admin"))

    def reconcile(self) -> None:
        """Run at start, when no upload of this data dir is under way: any partial file is a
        leftover (its image, if still ``saving``, is killed); a whole file whose image is gone,
        or still ``saving`` (a crash between the rename and the commit), is removed too."""
        held = sorted(self.store.held())
        for start in range(0, len(held), 500):
            self._reconcile(held[start:start + 500])

    def _reconcile(self, held: list[str]) -> None:
        with self.db.write() as s:
            images = {i.id: i for i in s.scalars(select(Image).where(Image.id.in_(held)))}
            for iid in held:
                image = images.get(iid)
                partial = (self.store.tmp / iid).exists()
                if image is not None and image.status == "saving":
                    image.status = "killed"
                    image.updated_at = utcnow()
                    log.warning("image %s was being uploaded when caas stopped; marked killed", iid)
                    self.store.delete(iid, partial=True)
                elif image is None:
                    self.store.delete(iid, partial=True)
                elif partial:
                    (self.store.tmp / iid).unlink(missing_ok=True)
