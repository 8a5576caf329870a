"""Block storage quotas (Cinder's ``os-quota-sets`` and absolute limits): per-project limits
(defaults where unset), usage, and the claims a create or an extend makes.

A claim counts and checks inside the caller's transaction, under the project's lock row
(``volume_lock`` ``project:<id>``, SELECT ... FOR UPDATE), so parallel creates never exceed a limit.
Usage is counted from the volume rows themselves, so nothing can drift: ``volumes`` is the
number of the project's volumes (in any status until the row is gone), ``gigabytes`` their
sizes, plus what an ``extending`` volume is growing by (reported as ``reserved``, as Cinder
holds a reservation for it). Snapshots, backups and groups do not exist here: always 0 in use.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, CaasError
from caas.context import AuthContext
from caas.volume import policy
from caas.volume.models import Volume, VolumeLock, VolumeQuota

# Cinder's defaults, in the order Cinder lists them. -1 is unlimited. Cinder adds three
# resources per volume type; the one type here is __DEFAULT__, so every volume counts in them.
TYPE = "__DEFAULT__"
DEFAULT_QUOTAS: dict[str, int] = {
    "volumes": 10, "per_volume_gigabytes": -1, "snapshots": 10, "gigabytes": 1000, "backups": 10,
    "backup_gigabytes": 1000, f"volumes_{TYPE}": -1, f"gigabytes_{TYPE}": -1, f"snapshots_{TYPE}": -1,
    "groups": 10,
}
DB_MAX_INT = 0x7FFFFFFF
NON_QUOTA_KEYS = ("tenant_id", "id")


class OverLimit(CaasError):
    """A quota would be exceeded: Cinder's 413, its message prefixed with the exception name
    (as Cinder's fault wrapper renders QuotaError subclasses)."""

    status = 413
    title = "Request Entity Too Large"

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}", kind=kind)


def volume_limit_exceeded(allowed: int, name: str = "volumes") -> OverLimit:
    return OverLimit("VolumeLimitExceeded",
                     f"Maximum number of volumes allowed ({allowed}) exceeded for quota '{name}'.")


def size_exceeds_quota(requested: int, quota: int, consumed: int, name: str = "gigabytes") -> OverLimit:
    return OverLimit("VolumeSizeExceedsAvailableQuota",
                     f"Requested volume or snapshot exceeds allowed {name} quota. Requested {requested}G, "
                     f"quota is {quota}G and {consumed}G has been consumed.")


def size_exceeds_limit(size: int, limit: int) -> OverLimit:
    return OverLimit("VolumeSizeExceedsLimit",
                     f"Requested volume size {size}G is larger than maximum allowed limit {limit}G.")


def lock(s: Session, key: str) -> None:
    """Hold the lock row ``key`` (made on first use) until the transaction ends."""
    insert_if_absent(s, VolumeLock, key=key)
    s.execute(select(VolumeLock).where(VolumeLock.key == key).with_for_update())


def lock_project(s: Session, project_id: str) -> None:
    lock(s, f"project:{project_id}")


def limits(s: Session, project_id: str) -> dict[str, int]:
    out = dict(DEFAULT_QUOTAS)
    for row in s.scalars(select(VolumeQuota).where(VolumeQuota.project_id == project_id)):
        if row.resource in out:
            out[row.resource] = row.limit
    return out


def usage(s: Session, project_id: str) -> dict[str, dict[str, int]]:
    """``{resource: {"in_use": n, "reserved": n}}`` for every resource."""
    count, size, growing = s.execute(
        select(func.count(), func.coalesce(func.sum(Volume.size), 0),
               func.coalesce(func.sum(func.coalesce(Volume.new_size, Volume.size) - Volume.size), 0))
        .where(Volume.project_id == project_id)).one()
    out = {r: {"in_use": 0, "reserved": 0} for r in DEFAULT_QUOTAS}
    for suffix in ("", f"_{TYPE}"):
        out["volumes" + suffix]["in_use"] = int(count)
        out["gigabytes" + suffix] = {"in_use": int(size), "reserved": int(growing)}
    return out


def claim(s: Session, project_id: str, volumes: int, gigabytes: int, size: int) -> None:
    """Check that the project may add ``volumes`` volumes and ``gigabytes`` GiB, one volume
    being ``size`` GiB (per_volume_gigabytes), in Cinder's order; OverLimit otherwise. The
    caller then writes the rows in the same transaction, still under the project's lock."""
    lock_project(s, project_id)
    lim = limits(s, project_id)
    per_volume = lim["per_volume_gigabytes"]
    if per_volume >= 0 and size > per_volume:
        raise size_exceeds_limit(size, per_volume)
    used = usage(s, project_id)
    # Cinder reserves volumes, gigabytes, then the type's two, and reports the first one over.
    for resource in ("volumes", "gigabytes", f"volumes_{TYPE}", f"gigabytes_{TYPE}"):
        delta = volumes if resource.startswith("volumes") else gigabytes
        limit = lim[resource]
        consumed = used[resource]["in_use"] + used[resource]["reserved"]
        if delta and limit >= 0 and consumed + delta > limit:
            if resource.startswith("volumes"):
                raise volume_limit_exceeded(limit, resource)
            raise size_exceeds_quota(delta, limit, consumed, resource)


def check_quota_values(body: dict) -> dict[str, int]:
    """The limits of a quota-set update: known resources only (``id``/``tenant_id`` ignored,
    as Cinder does), integers from -1 to 2**31-1 (strict: a string is refused)."""
    bad = [k for k in body if k not in DEFAULT_QUOTAS and k not in NON_QUOTA_KEYS]
    if bad:
        raise BadRequest(f"Invalid input received: Bad key(s) in quota set: {', '.join(bad)}")
    values = {}
    for key, value in body.items():
        if key in NON_QUOTA_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadRequest(f"{key} must be an integer")
        if value < -1:
            raise BadRequest(f"{key} must be >= -1")
        if value > DB_MAX_INT:
            raise BadRequest(f"{key} must be <= {DB_MAX_INT}")
        values[key] = value
    return values


class QuotaMixin:
    db: Database

    def show_quota(self, ctx: AuthContext, project_id: str, with_usage: bool = False) -> dict:
        """The project's quota set; with usage, ``{limit, in_use, reserved}`` per resource."""
        policy.enforce(ctx, "volume_extension:quotas:show", {"project_id": project_id})
        with self.db.read() as s:
            lim = limits(s, project_id)
            if not with_usage:
                return {**lim, "id": project_id}
            used = usage(s, project_id)
            return {**{r: {"limit": v, **used[r]} for r, v in lim.items()}, "id": project_id}

    def default_quota(self, ctx: AuthContext, project_id: str) -> dict:
        policy.enforce(ctx, "volume_extension:quotas:show", {"project_id": project_id})
        return {**DEFAULT_QUOTAS, "id": project_id}

    def update_quota(self, ctx: AuthContext, project_id: str, body: dict) -> dict:
        """Set limits (admins). A limit below what the project uses now is refused, as in
        Cinder (per_volume_gigabytes and -1 excepted). Returns the whole quota set."""
        policy.enforce(ctx, "volume_extension:quotas:update", {"project_id": project_id})
        if not 1 <= len(project_id) <= 255:
            raise BadRequest("Invalid input received: quota_set_name has a length outside 1..255.")
        values = check_quota_values(body)
        with self.db.write() as s:
            lock_project(s, project_id)
            used = usage(s, project_id)
            for key, value in values.items():
                if key == "per_volume_gigabytes" or value == -1:
                    continue
                current = used[key]["in_use"] + used[key]["reserved"]
                if value < current:
                    raise BadRequest(f"Quota {key} limit must be equal or greater than existing resources. "
                                     f"Current usage is {current} and the requested limit is {value}.")
            for key, value in values.items():
                if not insert_if_absent(s, VolumeQuota, project_id=project_id, resource=key, limit=value):
                    s.get(VolumeQuota, (project_id, key)).limit = value
            s.flush()
            return limits(s, project_id)

    def reset_quota(self, ctx: AuthContext, project_id: str) -> None:
        """Back to the defaults (admins)."""
        policy.enforce(ctx, "volume_extension:quotas:delete", {"project_id": project_id})
        with self.db.write() as s:
            s.execute(delete(VolumeQuota).where(VolumeQuota.project_id == project_id))

    def absolute_limits(self, ctx: AuthContext) -> dict:
        """Cinder's absolute limits of the caller's project, with what it uses."""
        project_id = ctx.project_id
        with self.db.read() as s:
            lim = limits(s, project_id)
            used = usage(s, project_id)
        out = {
            "maxTotalVolumes": lim["volumes"], "maxTotalSnapshots": lim["snapshots"],
            "maxTotalVolumeGigabytes": lim["gigabytes"], "maxTotalBackups": lim["backups"],
            "maxTotalBackupGigabytes": lim["backup_gigabytes"],
        }
        # The used counts are the os-used-limits extension, for readers of the project.
        if policy.allowed(ctx, "limits_extension:used_limits", {"project_id": project_id}):
            out.update({"totalVolumesUsed": used["volumes"]["in_use"],
                        "totalGigabytesUsed": used["gigabytes"]["in_use"], "totalSnapshotsUsed": 0,
                        "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0})
        return out
