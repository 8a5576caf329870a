"""Flavors (Nova's flavor-manage, flavor-access and flavor extra specs) and DevStack's default
flavors on a first start.

Holds ``Flavors`` (the service), ``get_flavor(s, ctx, flavor_id)`` (a flavor the
caller may see, for server boot), ``flavor_visible(s, ctx, flavor)``, ``pci_aliases(settings)``
(Nova's ``[pci] alias`` from ``settings.pci_aliases``) and ``DEFAULT_FLAVORS``.

Visibility is Nova's: admins see every flavor; everyone else sees public flavors and the
private ones shared with their project (others' private flavors are 404, as unknown ones).

First start: ``Flavors.bootstrap`` creates the defaults only when the database has never been
seeded, and records that with a marker row (``BOOTSTRAP_MARKER`` in ``compute_project_lock``,
a key no project id can take) in the same transaction, so that deleting every flavor (as the
DevStack seed does) never brings them back on a restart, and two processes starting at once
on one PostgreSQL seed once. A database that already has flavors is marked, not seeded.
"""

from __future__ import annotations

import functools

from sqlalchemy import delete, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas import paging
from caas.compute.common import MAX_LIMIT, marker_not_found, require_admin
from caas.compute.models import ComputeProjectLock, Flavor, FlavorAccess, uuid_str
from caas.compute.scheduler import PciAlias
from caas.compute.scheduler.pci import check_pci_spec, parse_aliases
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Conflict, NotFound
from caas.context import AuthContext

BOOTSTRAP_MARKER = "bootstrap:default-flavors"
PCI_ALIAS_SPEC = "pci_passthrough:alias"

# DevStack's (lib/nova create_flavors, lib/tempest for nano and micro): id, name, RAM MiB,
# root disk GiB, vCPUs; each with hw_rng:allowed=True as DevStack sets it.
DEFAULT_FLAVORS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
    ("c1", "cirros256", 256, 1, 1),
    ("d1", "ds512M", 512, 5, 1),
    ("d2", "ds1G", 1024, 10, 1),
    ("d3", "ds2G", 2048, 10, 2),
    ("d4", "ds4G", 4096, 20, 4),
)
DEFAULT_EXTRA_SPECS = {"hw_rng:allowed": "True"}

# Nova's sort keys (schemas/flavors.py VALID_SORT_KEYS) and the columns they mean here. Nova's
# internal autoincrement id and updated_at follow creation order; vcpu_weight is never set.
SORT_KEYS = {"created_at": "created_at", "description": "description", "disabled": "disabled",
             "ephemeral_gb": "ephemeral", "flavorid": "id", "id": "created_at", "is_public": "is_public",
             "memory_mb": "ram", "name": "name", "root_gb": "disk", "rxtx_factor": "rxtx_factor", "swap": "swap",
             "updated_at": "created_at", "vcpu_weight": None, "vcpus": "vcpus"}


# ---- PCI aliases --------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _parse_aliases(text: str) -> tuple[PciAlias, ...]:
    return parse_aliases(text)


def pci_aliases(settings) -> tuple[PciAlias, ...]:
    """The PCI aliases configured in ``settings.pci_aliases`` (a JSON list of {name, vendor_id,
    product_id}; see ``caas.compute.scheduler.pci.parse_aliases``). ValueError for a malformed
    configuration (checked once at start by ``Flavors.bootstrap``)."""
    return _parse_aliases(getattr(settings, "pci_aliases", None) or "[]")


# ---- lookups ------------------------------------------------------------------------------
def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.")


def _shared_with(project_id: str | None):
    return exists().where(FlavorAccess.flavor_id == Flavor.id, FlavorAccess.project_id == project_id)


def flavor_visible(s: Session, ctx: AuthContext, flavor: Flavor) -> bool:
    if ctx.is_admin or flavor.is_public:
        return True
    return s.get(FlavorAccess, (flavor.id, ctx.project_id)) is not None


def get_flavor(s: Session, ctx: AuthContext, flavor_id: str, lock: bool = False) -> Flavor:
    """The flavor ``flavor_id`` if the caller may see it; NotFound ("Flavor X could not be
    found.") otherwise. ``lock`` takes its row for the rest of the transaction."""
    flavor = s.get(Flavor, flavor_id, with_for_update=lock) if flavor_id else None
    if flavor is None or not flavor_visible(s, ctx, flavor):
        raise not_found(flavor_id)
    return flavor


def _access_list(s: Session, flavor_id: str) -> list[str]:
    return list(s.scalars(select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor_id)
                          .order_by(FlavorAccess.project_id)))


def _sort_value(flavor: Flavor, column: str | None):
    # NULLs first in ascending order, as MySQL (Nova's database) sorts them.
    value = getattr(flavor, column) if column else None
    return (0, "") if value is None else (1, value)


class Flavors:
    """The flavors of one cloud: ``db`` holds them, ``settings`` names the PCI aliases."""

    def __init__(self, db, settings) -> None:
        self.db = db
        self.settings = settings

    # ---- first start ---------------------------------------------------------------------
    def bootstrap(self) -> None:
        pci_aliases(self.settings)  # a malformed alias configuration stops the start, loudly
        with self.db.write() as s:
            if not insert_if_absent(s, ComputeProjectLock, project_id=BOOTSTRAP_MARKER):
                return  # seeded (or found populated) before: what the admin deleted stays deleted
            if s.scalar(select(func.count()).select_from(Flavor)):
                return
            for flavor_id, name, ram, disk, vcpus in DEFAULT_FLAVORS:
                s.add(Flavor(id=flavor_id, name=name, ram=ram, disk=disk, vcpus=vcpus, ephemeral=0, swap=0,
                             rxtx_factor=1.0, is_public=True, disabled=False,
                             extra_specs=dict(DEFAULT_EXTRA_SPECS)))

    # ---- flavors -------------------------------------------------------------------------
    def list_flavors(self, ctx: AuthContext, is_public: bool | None = True, min_ram: int | None = None,
                     min_disk: int | None = None, sort_key: str = "flavorid", sort_dir: str = "asc",
                     limit: int | None = None, marker: str | None = None) -> list[Flavor]:
        """Nova's flavor list. For admins ``is_public`` True is public flavors plus those shared
        with their project, False private ones only, None all; other callers always get the
        public flavors plus those shared with their project, never disabled ones. Sorted by
        ``sort_key`` (Nova's names) then flavor id, in ``sort_dir``; after ``marker`` (a flavor
        id, BadRequest if the caller cannot see it), at most ``limit`` (and Nova's maximum)."""
        if sort_key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort_key {sort_key}")
        if sort_dir not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {sort_dir}")
        query = select(Flavor)
        if not ctx.is_admin:
            query = query.where(or_(Flavor.is_public.is_(True), _shared_with(ctx.project_id)),
                                Flavor.disabled.is_(False))
        elif is_public is True:
            query = query.where(or_(Flavor.is_public.is_(True), _shared_with(ctx.project_id)))
        elif is_public is False:
            query = query.where(Flavor.is_public.is_(False))
        if min_ram is not None:
            query = query.where(Flavor.ram >= min_ram)
        if min_disk is not None:
            query = query.where(Flavor.disk >= min_disk)
        column = SORT_KEYS[sort_key]
        with self.db.read() as s:
            rows = list(s.scalars(query))
            if marker is not None:
                marker_row = s.get(Flavor, marker)
                if marker_row is None or not flavor_visible(s, ctx, marker_row):
                    raise marker_not_found(marker)
                if marker_row not in rows:  # filtered out: the page starts where it would be
                    rows.append(marker_row)
        # Sorted here rather than in SQL: the two backends collate strings differently, and a
        # flavor list is small.
        rows.sort(key=lambda f: (_sort_value(f, column), f.id), reverse=sort_dir == "desc")
        return paging.page(rows, marker, limit, max_limit=MAX_LIMIT)[0]

    def show_flavor(self, ctx: AuthContext, flavor_id: str) -> Flavor:
        with self.db.read() as s:
            return get_flavor(s, ctx, flavor_id)

    def create_flavor(self, ctx: AuthContext, name: str, ram: int, vcpus: int, disk: int,
                      flavor_id: str | None = None, ephemeral: int = 0, swap: int = 0, rxtx_factor: float = 1.0,
                      is_public: bool = True, description: str | None = None) -> Flavor:
        """A new flavor (admin). ``flavor_id`` None gives a UUID. Conflict with Nova's messages
        for a name or id already taken."""
        require_admin(ctx, "os_compute_api:os-flavor-manage:create")
        flavor_id = flavor_id or uuid_str()
        with self.db.write() as s:
            self._refuse_duplicate(s, flavor_id, name)
            flavor = Flavor(id=flavor_id, name=name, ram=ram, vcpus=vcpus, disk=disk, ephemeral=ephemeral,
                            swap=swap, rxtx_factor=rxtx_factor, is_public=is_public, disabled=False,
                            description=description, extra_specs={})
            try:
                with s.begin_nested():
                    s.add(flavor)
                    s.flush()
            except IntegrityError:  # a concurrent create won the race: say which key
                self._refuse_duplicate(s, flavor_id, name)
                raise Conflict(f"Flavor with name {name} already exists.") from None
            return flavor

    @staticmethod
    def _refuse_duplicate(s: Session, flavor_id: str, name: str) -> None:
        if s.get(Flavor, flavor_id) is not None:
            raise Conflict(f"Flavor with ID {flavor_id} already exists.")
        if s.scalar(select(Flavor.id).where(Flavor.name == name)) is not None:
            raise Conflict(f"Flavor with name {name} already exists.")

    def update_flavor(self, ctx: AuthContext, flavor_id: str, description: str | None) -> Flavor:
        """Set the description (the only thing Nova lets change, from 2.55)."""
        require_admin(ctx, "os_compute_api:os-flavor-manage:update")
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            flavor.description = description
            s.flush()
            return flavor

    def delete_flavor(self, ctx: AuthContext, flavor_id: str) -> None:
        """Delete (admin). Servers keep the copy of the flavor they were booted with."""
        require_admin(ctx, "os_compute_api:os-flavor-manage:delete")
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            s.execute(delete(FlavorAccess).where(FlavorAccess.flavor_id == flavor.id))
            s.delete(flavor)

    # ---- extra specs ---------------------------------------------------------------------
    def flavor_extra_specs(self, ctx: AuthContext, flavor_id: str) -> dict[str, str]:
        with self.db.read() as s:
            return dict(get_flavor(s, ctx, flavor_id).extra_specs or {})

    def flavor_extra_spec(self, ctx: AuthContext, flavor_id: str, key: str) -> str:
        specs = self.flavor_extra_specs(ctx, flavor_id)
        if key not in specs:
            raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
        return specs[key]

    def set_flavor_extra_specs(self, ctx: AuthContext, flavor_id: str, specs: dict[str, str],
                               action: str = "create") -> dict[str, str]:
        """Merge ``specs`` (string values) into the flavor's (admin); the merged specs. A
        ``pci_passthrough:alias`` must be well-formed, NAME:COUNT items as Nova's validator has them
        (BadRequest); as in Nova,
        an alias that is not configured is stored, and a boot with the flavor is refused."""
        require_admin(ctx, f"os_compute_api:os-flavor-extra-specs:{action}")
        if PCI_ALIAS_SPEC in specs:
            check_pci_spec(specs[PCI_ALIAS_SPEC])
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            merged = {**(flavor.extra_specs or {}), **specs}
            flavor.extra_specs = merged  # a new object, so the JSON column is written
            return dict(merged)

    def delete_flavor_extra_spec(self, ctx: AuthContext, flavor_id: str, key: str) -> None:
        require_admin(ctx, "os_compute_api:os-flavor-extra-specs:delete")
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            specs = dict(flavor.extra_specs or {})
            if key not in specs:
                raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            del specs[key]
            flavor.extra_specs = specs

    # ---- access --------------------------------------------------------------------------
    def flavor_access(self, ctx: AuthContext, flavor_id: str) -> list[str]:
        """The projects a private flavor is shared with (admin); NotFound for a public one."""
        require_admin(ctx, "os_compute_api:os-flavor-access")
        with self.db.read() as s:
            flavor = get_flavor(s, ctx, flavor_id)
            if flavor.is_public:
                raise NotFound("Access list not available for public flavors.")
            return _access_list(s, flavor.id)

    def add_flavor_access(self, ctx: AuthContext, flavor_id: str, project_id: str,
                          refuse_public: bool = True) -> list[str]:
        """Share a flavor with a project (admin). The project must exist (BadRequest). From
        microversion 2.7 (``refuse_public``) a public flavor is a Conflict; before, Nova records
        the access anyway. Conflict if already shared."""
        require_admin(ctx, "os_compute_api:os-flavor-access:add_tenant_access")
        self._verify_project(project_id)
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            if refuse_public and flavor.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if not insert_if_absent(s, FlavorAccess, flavor_id=flavor.id, project_id=project_id):
                raise Conflict(f"Flavor access already exists for flavor {flavor.id} and project {project_id} "
                               "combination.")
            return _access_list(s, flavor.id)

    def remove_flavor_access(self, ctx: AuthContext, flavor_id: str, project_id: str) -> list[str]:
        require_admin(ctx, "os_compute_api:os-flavor-access:remove_tenant_access")
        with self.db.write() as s:
            flavor = get_flavor(s, ctx, flavor_id, lock=True)
            gone = s.execute(delete(FlavorAccess).where(FlavorAccess.flavor_id == flavor.id,
                                                        FlavorAccess.project_id == project_id)).rowcount
            if not gone:
                raise NotFound(f"Flavor access not found for {flavor.id} / {project_id} combination.")
            return _access_list(s, flavor.id)

    def _verify_project(self, project_id: str) -> None:
        """Nova asks Keystone whether the project exists; here it is the same database."""
        from caas.identity.models import Project

        with self.db.read() as s:
            if len(project_id) > 64 or s.get(Project, project_id) is None:
                raise BadRequest(f"Project ID {project_id} is not a valid project.")
