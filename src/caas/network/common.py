"""What every network noun shares: visibility (who sees what), ownership checks, quota claims
and the per-project lock they take, and the project id a create goes to."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.db import Database
from caas.db.engine import insert_if_absent
from caas.errors import BadRequest, Conflict, NotFound
from caas.context import AuthContext
from caas.network.ipam import AddressHints
from caas.network.models import (FloatingIP, Network, NetworkQuota, Port, ProjectLock, Router, SecurityGroup,
                                 SecurityGroupRule, Subnet)

DEFAULT_QUOTAS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
                  "security_group": 10, "security_group_rule": 100}
QUOTA_MODELS = {"network": Network, "subnet": Subnet, "port": Port, "router": Router, "floatingip": FloatingIP,
                "security_group": SecurityGroup, "security_group_rule": SecurityGroupRule}
GLOBAL_LOCK = "__segments__"  # the lock row that serialises segmentation id allocation

NOT_FOUND_KIND = {Network: "NetworkNotFound", Subnet: "SubnetNotFound", Port: "PortNotFound",
                  Router: "RouterNotFound", FloatingIP: "FloatingIPNotFound", SecurityGroup: "SecurityGroupNotFound",
                  SecurityGroupRule: "SecurityGroupRuleNotFound"}
LABEL = {Network: "Network", Subnet: "Subnet", Port: "Port", Router: "Router", FloatingIP: "Floating IP",
         SecurityGroup: "Security group", SecurityGroupRule: "Security group rule"}


def not_found(model, id_: str) -> NotFound:
    return NotFound(f"{LABEL[model]} {id_} could not be found.", kind=NOT_FOUND_KIND[model])


def touch(obj) -> None:
    """A change: the revision number counts it and updated_at says when."""
    obj.revision_number = (obj.revision_number or 0) + 1
    obj.updated_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._default_sg_known: set[str] = set()
        self.address_hints = AddressHints()

    # ---- who sees what -------------------------------------------------------------------
    @staticmethod
    def network_visible(ctx: AuthContext, net: Network) -> bool:
        return ctx.is_admin or net.project_id == ctx.project_id or net.shared or net.external

    def get_network(self, s: Session, ctx: AuthContext, network_id: str) -> Network:
        net = s.get(Network, network_id) if network_id else None
        if net is None or not self.network_visible(ctx, net):
            raise not_found(Network, network_id)
        return net

    def get_owned(self, s: Session, ctx: AuthContext, model, id_: str, lock: bool = False):
        """A row of the caller's project (any project for admins); 404 otherwise, so that other
        projects' ids are indistinguishable from unknown ones."""
        obj = s.get(model, id_, with_for_update=lock) if id_ else None
        if obj is None or not (ctx.is_admin or obj.project_id == ctx.project_id):
            raise not_found(model, id_)
        return obj

    @staticmethod
    def target_project(ctx: AuthContext, requested: str | None) -> str:
        """The project a create goes to: the caller's, or any project for an admin (another is
        Neutron's 400, from its body validation, before any policy)."""
        if requested and requested != ctx.project_id:
            if not ctx.is_admin:
                raise BadRequest("Specifying 'project_id' other than the authenticated project in request is not "
                                 "allowed for the current user.", kind="HTTPBadRequest")
            return requested
        return ctx.project_id

    # ---- quotas --------------------------------------------------------------------------
    @staticmethod
    def lock_project(s: Session, project_id: str) -> None:
        insert_if_absent(s, ProjectLock, project_id=project_id)
        s.execute(select(ProjectLock).where(ProjectLock.project_id == project_id).with_for_update())

    @staticmethod
    def limit(s: Session, project_id: str, resource: str) -> int:
        row = s.get(NetworkQuota, (project_id, resource))
        return row.limit if row is not None else DEFAULT_QUOTAS[resource]

    @staticmethod
    def used(s: Session, project_id: str, resource: str) -> int:
        """How many of ``resource`` the project holds now."""
        model = QUOTA_MODELS[resource]
        return s.scalar(select(func.count()).select_from(model).where(model.project_id == project_id))

    def claim(self, s: Session, project_id: str, resource: str, count: int = 1) -> None:
        """Check-and-use in the caller's transaction, under the project's lock: concurrent
        creates never exceed the limit. OverQuota (409) when they would."""
        self.lock_project(s, project_id)
        limit = self.limit(s, project_id, resource)
        if limit < 0:
            return
        if self.used(s, project_id, resource) + count > limit:
            raise Conflict(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")
