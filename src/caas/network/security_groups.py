"""Security groups and their rules. Each project gets its ``default`` group, with Neutron's
default rules, the first time it touches the network API."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from caas.errors import BadRequest, Conflict
from caas.ipproto import ICMP_PROTOCOLS, PORT_PROTOCOLS, PROTOCOLS
from caas.context import AuthContext
from caas.network import ipam, views
from caas.network.common import Base, touch
from caas.network.models import DefaultSecurityGroup, PortSecurityGroup, SecurityGroup, SecurityGroupRule
from caas.network.tags import tags_of
from caas.numbers import decimal


def normalize_protocol(protocol) -> str | None:
    if protocol is None or protocol in ("", "any"):
        return None
    text = str(protocol).lower()
    if text in PROTOCOLS:
        return text
    if decimal(text, 0, 255) is not None:
        return text
    raise BadRequest(f"Security group rule protocol {protocol} not supported. Only protocol values "
                     f"{sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.",
                     kind="SecurityGroupRuleInvalidProtocol")


def validate_ports(protocol: str | None, low, high) -> tuple[int | None, int | None]:
    if low is None and high is None:
        return None, None
    if protocol in PORT_PROTOCOLS:
        if low is None or high is None:
            raise BadRequest("Port range needs both port_range_min and port_range_max.",
                             kind="SecurityGroupInvalidPortRange")
        for value in (low, high):
            if not 1 <= value <= 65535:
                raise BadRequest(f"Invalid value for port {value}.", kind="SecurityGroupInvalidPortValue")
        if low > high:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             kind="SecurityGroupInvalidPortRange")
        return low, high
    if protocol in ICMP_PROTOCOLS:
        if low is None and high is not None:
            raise BadRequest(f"ICMP code (port-range-max) {high} is provided but ICMP type (port-range-min) is "
                             "missing.", kind="SecurityGroupMissingIcmpType")
        for name, value in (("type", low), ("code", high)):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(f"Invalid value for ICMP {name} {value}: it must be 0 to 255.",
                                 kind="SecurityGroupInvalidIcmpValue")
        return low, high
    raise BadRequest(f"Invalid protocol {protocol} for a port range: only TCP, UDP, SCTP, DCCP, UDP-Lite and ICMP "
                     "rules take ports.", kind="SecurityGroupInvalidPortRange")


class SecurityGroupsMixin(Base):
    def default_security_group(self, s: Session, project_id: str) -> str:
        """The id of ``project_id``'s default group, made now (with its rules) if it has none."""
        row = s.get(DefaultSecurityGroup, project_id)
        if row is not None:
            return row.security_group_id
        group = SecurityGroup(project_id=project_id, name="default", description="Default security group")
        try:
            with s.begin_nested():
                s.add(group)
                s.flush()
                s.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
                for ethertype in ("IPv4", "IPv6"):
                    s.add(SecurityGroupRule(project_id=project_id, security_group_id=group.id, direction="ingress",
                                            ethertype=ethertype, remote_group_id=group.id))
                    s.add(SecurityGroupRule(project_id=project_id, security_group_id=group.id, direction="egress",
                                            ethertype=ethertype))
                s.flush()
        except IntegrityError:  # another request made it first
            return s.get(DefaultSecurityGroup, project_id).security_group_id
        return group.id

    def ensure_default_security_group(self, project_id: str | None) -> None:
        """Called on a project's every network request; costs nothing once the group exists."""
        if not project_id or project_id in self._default_sg_known:
            return
        with self.db.read() as s:
            exists = s.get(DefaultSecurityGroup, project_id) is not None
        if not exists:
            with self.db.write() as s:
                self.default_security_group(s, project_id)
        self._default_sg_known.add(project_id)

    def _group_views(self, s: Session, groups: list[SecurityGroup]) -> list[dict]:
        ids = [g.id for g in groups]
        rules: dict[str, list] = {i: [] for i in ids}
        if ids:
            for r in s.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id.in_(ids))):
                rules[r.security_group_id].append(r)
        return [views.security_group(g, rules[g.id]) for g in groups]

    def list_security_groups(self, ctx: AuthContext) -> list[dict]:
        with self.db.read() as s:
            stmt = select(SecurityGroup)
            if not ctx.is_admin:
                stmt = stmt.where(SecurityGroup.project_id == ctx.project_id)
            return self._group_views(s, list(s.scalars(stmt)))

    def show_security_group(self, ctx: AuthContext, group_id: str) -> dict:
        with self.db.read() as s:
            return self._group_views(s, [self.get_owned(s, ctx, SecurityGroup, group_id)])[0]

    def create_security_group(self, ctx: AuthContext, body: dict) -> dict:
        project_id = self.target_project(ctx, body.get("project_id") or body.get("tenant_id"))
        if body.get("name") == "default":
            raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
        with self.db.write() as s:
            self.default_security_group(s, project_id)
            self.claim(s, project_id, "security_group")
            group = SecurityGroup(project_id=project_id, name=body.get("name") or "",
                                  description=body.get("description") or "", stateful=body.get("stateful", True),
                                  tags=tags_of(body, "security-groups"))
            s.add(group)
            s.flush()
            for ethertype in ("IPv4", "IPv6"):
                s.add(SecurityGroupRule(project_id=project_id, security_group_id=group.id, direction="egress",
                                        ethertype=ethertype))
            s.flush()
            return self._group_views(s, [group])[0]

    def update_security_group(self, ctx: AuthContext, group_id: str, body: dict) -> dict:
        with self.db.write() as s:
            group = self.get_owned(s, ctx, SecurityGroup, group_id)
            if group.name == "default" and body.get("name") not in (None, "default"):
                raise Conflict("Renaming the default security group is not allowed.",
                               kind="SecurityGroupCannotUpdateDefault")
            for key in ("name", "description", "stateful"):
                if key in body and body[key] is not None:
                    setattr(group, key, body[key])
            touch(group)
            s.flush()
            return self._group_views(s, [group])[0]

    def delete_security_group(self, ctx: AuthContext, group_id: str) -> None:
        with self.db.write() as s:
            group = self.get_owned(s, ctx, SecurityGroup, group_id, lock=True)
            if s.get(DefaultSecurityGroup, group.project_id) is not None and \
                    s.get(DefaultSecurityGroup, group.project_id).security_group_id == group.id and not ctx.is_admin:
                raise Conflict("Insufficient rights for removing default security group.",
                               kind="SecurityGroupCannotRemoveDefault")
            if s.scalar(select(PortSecurityGroup.port_id).where(PortSecurityGroup.security_group_id == group.id)):
                raise Conflict(f"Security Group {group.id} in use.", kind="SecurityGroupInUse")
            s.delete(group)
            self._default_sg_known.discard(group.project_id)

    # ---- rules ---------------------------------------------------------------------------
    def list_security_group_rules(self, ctx: AuthContext) -> list[dict]:
        with self.db.read() as s:
            stmt = select(SecurityGroupRule)
            if not ctx.is_admin:
                stmt = stmt.where(SecurityGroupRule.project_id == ctx.project_id)
            return [views.rule(r) for r in s.scalars(stmt)]

    def show_security_group_rule(self, ctx: AuthContext, rule_id: str) -> dict:
        with self.db.read() as s:
            return views.rule(self.get_owned(s, ctx, SecurityGroupRule, rule_id))

    def create_security_group_rule(self, ctx: AuthContext, body: dict) -> dict:
        direction = body["direction"]
        ethertype = body.get("ethertype") or "IPv4"
        protocol = normalize_protocol(body.get("protocol"))
        if protocol in ("icmp", "1") and ethertype == "IPv6":
            protocol = "ipv6-icmp"
        low, high = validate_ports(protocol, body.get("port_range_min"), body.get("port_range_max"))
        prefix = body.get("remote_ip_prefix")
        if prefix is not None:
            try:
                net = ipaddress.ip_network(prefix, strict=False)
            except ValueError:
                raise BadRequest(f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP prefix.",
                                 kind="InvalidInput") from None
            if net.version != (4 if ethertype == "IPv4" else 6):
                raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                                 kind="SecurityGroupRuleParameterConflict")
            prefix = ipam.net_text(net)
        if prefix is not None and body.get("remote_group_id"):
            raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                             kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        with self.db.write() as s:
            group = self.get_owned(s, ctx, SecurityGroup, body["security_group_id"])
            if body.get("remote_group_id"):
                self.get_owned(s, ctx, SecurityGroup, body["remote_group_id"])
            project_id = group.project_id
            self.claim(s, project_id, "security_group_rule")
            values = dict(direction=direction, ethertype=ethertype, protocol=protocol, port_range_min=low,
                          port_range_max=high, remote_ip_prefix=prefix, remote_group_id=body.get("remote_group_id"))
            for existing in s.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group.id)):
                if all(getattr(existing, k) == v for k, v in values.items()):
                    raise Conflict(f"Security group rule already exists. Rule id is {existing.id}.",
                                   kind="SecurityGroupRuleExists")
            rule = SecurityGroupRule(project_id=project_id, security_group_id=group.id,
                                     description=body.get("description") or "", **values)
            s.add(rule)
            touch(group)
            s.flush()
            return views.rule(rule)

    def update_security_group_rule(self, ctx: AuthContext, rule_id: str, body: dict) -> dict:
        """Only the description of a rule changes; its match is immutable, as in Neutron."""
        with self.db.write() as s:
            rule = self.get_owned(s, ctx, SecurityGroupRule, rule_id, lock=True)
            if body.get("description") is not None:
                rule.description = body["description"]
            touch(rule)
            s.flush()
            return views.rule(rule)

    def delete_security_group_rule(self, ctx: AuthContext, rule_id: str) -> None:
        with self.db.write() as s:
            s.delete(self.get_owned(s, ctx, SecurityGroupRule, rule_id, lock=True))
