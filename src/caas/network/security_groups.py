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
from caas.network import ipam
from caas.network.common import Base, touch
from caas.network.models import DefaultSecurityGroup, PortSecurityGroup, SecurityGroup, SecurityGroupRule
from caas.network.records import GroupRecord
from caas.network.requests import GroupChanges, GroupCreate, RuleChanges, RuleCreate
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

    def _group_records(self, s: Session, groups: list[SecurityGroup]) -> list[GroupRecord]:
        """Records of many groups, with their rules, in one more query."""
        ids = [g.id for g in groups]
        rules: dict[str, list] = {i: [] for i in ids}
        if ids:
            for r in s.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id.in_(ids))):
                rules[r.security_group_id].append(r)
        return [GroupRecord(g, tuple(rules[g.id])) for g in groups]

    def list_security_groups(self, ctx: AuthContext) -> list[GroupRecord]:
        with self.db.read() as s:
            stmt = select(SecurityGroup)
            if not ctx.is_admin:
                stmt = stmt.where(SecurityGroup.project_id == ctx.project_id)
            return self._group_records(s, list(s.scalars(stmt)))

    def show_security_group(self, ctx: AuthContext, group_id: str) -> GroupRecord:
        with self.db.read() as s:
            return self._group_records(s, [self.get_owned(s, ctx, SecurityGroup, group_id)])[0]

    def create_security_group(self, ctx: AuthContext, req: GroupCreate) -> GroupRecord:
        project_id = self.target_project(ctx, req.project_id)
        if req.name == "default":
            raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
        with self.db.write() as s:
            self.default_security_group(s, project_id)
            self.claim(s, project_id, "security_group")
            group = SecurityGroup(project_id=project_id, name=req.name or "", description=req.description or "",
                                  stateful=req.stateful, tags=tags_of(req.tags, "security-groups"))
            s.add(group)
            s.flush()
            for ethertype in ("IPv4", "IPv6"):
                s.add(SecurityGroupRule(project_id=project_id, security_group_id=group.id, direction="egress",
                                        ethertype=ethertype))
            s.flush()
            return self._group_records(s, [group])[0]

    def update_security_group(self, ctx: AuthContext, group_id: str, changes: GroupChanges) -> GroupRecord:
        with self.db.write() as s:
            group = self.get_owned(s, ctx, SecurityGroup, group_id)
            if group.name == "default" and changes.name not in (None, "default"):
                raise Conflict("Renaming the default security group is not allowed.",
                               kind="SecurityGroupCannotUpdateDefault")
            for key in ("name", "description", "stateful"):
                if getattr(changes, key) is not None:
                    setattr(group, key, getattr(changes, key))
            touch(group)
            s.flush()
            return self._group_records(s, [group])[0]

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
    def list_security_group_rules(self, ctx: AuthContext) -> list[SecurityGroupRule]:
        with self.db.read() as s:
            stmt = select(SecurityGroupRule)
            if not ctx.is_admin:
                stmt = stmt.where(SecurityGroupRule.project_id == ctx.project_id)
            return list(s.scalars(stmt))

    def show_security_group_rule(self, ctx: AuthContext, rule_id: str) -> SecurityGroupRule:
        with self.db.read() as s:
            return self.get_owned(s, ctx, SecurityGroupRule, rule_id)

    def create_security_group_rule(self, ctx: AuthContext, req: RuleCreate) -> SecurityGroupRule:
        direction = req.direction
        ethertype = req.ethertype or "IPv4"
        protocol = normalize_protocol(req.protocol)
        if protocol in ("icmp", "1") and ethertype == "IPv6":
            protocol = "ipv6-icmp"
        low, high = validate_ports(protocol, req.port_range_min, req.port_range_max)
        prefix = req.remote_ip_prefix
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
        if prefix is not None and req.remote_group_id:
            raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                             kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        with self.db.write() as s:
            group = self.get_owned(s, ctx, SecurityGroup, req.security_group_id)
            if req.remote_group_id:
                self.get_owned(s, ctx, SecurityGroup, req.remote_group_id)
            project_id = group.project_id
            self.claim(s, project_id, "security_group_rule")
            values = dict(direction=direction, ethertype=ethertype, protocol=protocol, port_range_min=low,
                          port_range_max=high, remote_ip_prefix=prefix, remote_group_id=req.remote_group_id)
            for existing in s.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group.id)):
                if all(getattr(existing, k) == v for k, v in values.items()):
                    raise Conflict(f"Security group rule already exists. Rule id is {existing.id}.",
                                   kind="SecurityGroupRuleExists")
            rule = SecurityGroupRule(project_id=project_id, security_group_id=group.id,
                                     description=req.description or "", **values)
            s.add(rule)
            touch(group)
            s.flush()
            return rule

    def update_security_group_rule(self, ctx: AuthContext, rule_id: str, changes: RuleChanges) -> SecurityGroupRule:
        """Only the description of a rule changes; its match is immutable, as in Neutron."""
        with self.db.write() as s:
            rule = self.get_owned(s, ctx, SecurityGroupRule, rule_id, lock=True)
            if changes.description is not None:
                rule.description = changes.description
            touch(rule)
            s.flush()
            return rule

    def delete_security_group_rule(self, ctx: AuthContext, rule_id: str) -> None:
        with self.db.write() as s:
            s.delete(self.get_owned(s, ctx, SecurityGroupRule, rule_id, lock=True))
