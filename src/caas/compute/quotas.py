"""Compute quotas: per-project limits (Nova's defaults where unset), usage counted from the
rows themselves (as Nova's counting quotas), and claims that check and use in one transaction
under the project's lock row, so concurrent creates never exceed a limit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from caas.compute.common import lock_project, require_admin
from caas.compute.models import ComputeQuota, Keypair, Server, ServerGroup
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Forbidden, QuotaExceeded
from caas.context import AuthContext
from caas.numbers import INT32_MAX, parse_int

# Nova's defaults. The four network ones are only shown (before 2.36), never enforced: Neutron
# owns those resources, as in Nova with Neutron.
DEFAULT_QUOTAS = {"instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
                  "server_groups": 10, "server_group_members": 10, "injected_files": 5,
                  "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
                  "floating_ips": 10, "fixed_ips": -1, "security_groups": 10, "security_group_rules": 20}


@dataclass(frozen=True)
class QuotaUsage:
    """A project's limits and what it holds, for every resource (key pairs: the caller's)."""

    limits: dict[str, int]
    used: dict[str, int]


def limit(s: Session, project_id: str, resource: str) -> int:
    row = s.get(ComputeQuota, (project_id, resource))
    return row.limit if row is not None else DEFAULT_QUOTAS[resource]


def limits(s: Session, project_id: str) -> dict[str, int]:
    out = dict(DEFAULT_QUOTAS)
    for row in s.scalars(select(ComputeQuota).where(ComputeQuota.project_id == project_id)):
        out[row.resource] = row.limit
    return out


def usage(s: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """What the project holds now (key pairs: the user's, as Nova counts them)."""
    count, cores, ram = s.execute(select(func.count(), func.coalesce(func.sum(Server.vcpus), 0),
                                         func.coalesce(func.sum(Server.memory_mb), 0))
                                  .where(Server.project_id == project_id)).one()
    groups = s.scalar(select(func.count()).select_from(ServerGroup).where(ServerGroup.project_id == project_id))
    keys = s.scalar(select(func.count()).select_from(Keypair).where(Keypair.user_id == user_id)) if user_id else 0
    return {"instances": count, "cores": int(cores), "ram": int(ram), "server_groups": groups, "key_pairs": keys}


def claim(s: Session, project_id: str, **wanted: int) -> None:
    """Check that the project may take ``wanted`` more of each resource (instances=1, cores=2,
    ...), under its lock row, in the caller's transaction: the caller then inserts the rows.
    QuotaExceeded (403, Nova's message) names every resource that would go over."""
    lock_project(s, project_id)
    _check(limits(s, project_id), usage(s, project_id), wanted)


def claim_instances(s: Session, project_id: str, min_count: int, max_count: int, **each: int) -> int:
    """The most instances from min_count to max_count that the project may take, each taking
    ``each`` (cores=2, ram=4096; one instance implied), checked as ``claim`` does (its lock,
    its QuotaExceeded when not even min_count fit) with one count of the usage, whatever
    max_count is."""
    each = {"instances": 1, **each}
    lock_project(s, project_id)
    lim, used = limits(s, project_id), usage(s, project_id)
    _check(lim, used, {r: n * min_count for r, n in each.items()})
    count = max_count
    for r, n in each.items():
        if n > 0 and lim[r] >= 0:
            count = min(count, (lim[r] - used.get(r, 0)) // n)
    return count


def _check(lim: dict[str, int], used: dict[str, int], wanted: dict[str, int]) -> None:
    over = [r for r, n in wanted.items() if n > 0 and lim[r] >= 0 and used.get(r, 0) + n > lim[r]]
    if over:
        first = over[0]
        raise QuotaExceeded(f"Quota exceeded for {', '.join(over)}: Requested {wanted[first]}, but already used "
                            f"{used.get(first, 0)} of {lim[first]} {first}")


def unexpected_quotas(names: list[str]) -> str:
    """Nova's message for quota resources it does not know (or no longer shows)."""
    return (f"Invalid input for field/attribute quota_set. Additional properties are not allowed "
            f"({', '.join(repr(u) for u in names)} {'were' if len(names) > 1 else 'was'} unexpected)")


def check_count(resource: str, requested: int, used: int, limit_: int) -> None:
    """A limit on a count that is not a project total (metadata items, group members)."""
    if limit_ >= 0 and used + requested > limit_:
        raise QuotaExceeded(f"Quota exceeded for {resource}: Requested {requested}, but already used {used} of "
                            f"{limit_} {resource}")


class Quotas:
    """os-quota-sets and limits: the projects' limits in ``db``."""

    def __init__(self, db) -> None:
        self.db = db

    @staticmethod
    def _may_read(ctx: AuthContext, project_id: str) -> None:
        if not (ctx.is_admin or project_id == ctx.project_id):
            raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")

    def show_quota(self, ctx: AuthContext, project_id: str) -> QuotaUsage:
        """The project's limits and usage (os-quota-sets, its detail, and GET /limits)."""
        self._may_read(ctx, project_id)
        with self.db.read() as s:
            return QuotaUsage(limits(s, project_id), usage(s, project_id, ctx.user_id))

    def default_quota(self, ctx: AuthContext, project_id: str) -> dict[str, int]:
        self._may_read(ctx, project_id)
        return dict(DEFAULT_QUOTAS)

    def update_quota(self, ctx: AuthContext, project_id: str, values: dict, force: bool = False) -> dict[str, int]:
        """Set the project's limits in ``values`` (known resources; integers >= -1, or their
        strings); a limit under what the project holds is refused unless ``force``. The
        project's limits after."""
        require_admin(ctx, "os_compute_api:os-quota-sets:update")
        unknown = sorted(set(values) - set(DEFAULT_QUOTAS))
        if unknown:
            raise BadRequest(unexpected_quotas(unknown))
        clean = {}
        for resource, value in values.items():
            clean[resource] = parse_int(value, resource, -1, INT32_MAX,
                                        message=f"Invalid input for field/attribute {resource}. Value: {value}. "
                                                "It must be an integer >= -1.")
        with self.db.write() as s:
            lock_project(s, project_id)
            if not force:
                used = usage(s, project_id, None)
                for resource, value in clean.items():
                    if value >= 0 and used.get(resource, 0) > value:
                        raise BadRequest(f"Quota limit {value} for {resource} must be greater than or equal to "
                                         f"already used and reserved {used[resource]}.")
            for resource, value in clean.items():
                if not insert_if_absent(s, ComputeQuota, project_id=project_id, resource=resource, limit=value):
                    s.get(ComputeQuota, (project_id, resource)).limit = value
            s.flush()
            return limits(s, project_id)

    def reset_quota(self, ctx: AuthContext, project_id: str) -> None:
        require_admin(ctx, "os_compute_api:os-quota-sets:delete")
        with self.db.write() as s:
            s.execute(delete(ComputeQuota).where(ComputeQuota.project_id == project_id))
