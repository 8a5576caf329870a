"""Domain-specific configuration (``/v3/domains/{id}/config``), stored and served as Keystone
does: only the groups and options Keystone allows (``identity``: driver, list_limit; ``ldap``:
its connection and mapping options, ``password`` among them as the one sensitive option), each
refusal in Keystone's words (403 for what is not allowed, 404 for what is not set). Sensitive
options are stored encrypted and never returned. caas does not run an LDAP driver from this
yet: the configuration is kept for when it does.

``security_compliance`` is read-only and reports the server's own settings (the password rules
a client may show), for the default domain only, as Keystone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from caas.config import Settings
from caas.context import AuthContext
from caas.db import Database
from caas.errors import Forbidden, NotFound
from caas.identity import policy
from caas.identity.credential_models import DomainConfig
from caas.identity.models import Domain
from caas.identity.secrets import SecretBox

INVALID = "Invalid domain specific configuration: "
# Keystone's defaults for what a domain may configure (the anchor's /v3/domains/config/default).
DEFAULTS: dict[str, dict[str, object]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com", "query_scope": "one",
        "page_size": 0, "alias_dereferencing": "default", "debug_level": None, "chase_referrals": None,
        "user_tree_dn": None, "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn", "user_mail_attribute": "mail",
        "user_description_attribute": "description", "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled", "user_enabled_invert": False, "user_enabled_mask": 0,
        "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn", "group_name_attribute": "ou",
        "group_members_are_ids": False, "group_member_attribute": "member",
        "group_desc_attribute": "description", "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [], "tls_cacertfile": None, "tls_cacertdir": None,
        "use_tls": False, "tls_req_cert": "demand", "use_pool": True, "pool_size": 10, "pool_retry_max": 3,
        "pool_retry_delay": 0.1, "pool_connection_timeout": -1, "pool_connection_lifetime": 600,
        "use_auth_pool": True, "auth_pool_size": 100, "auth_pool_connection_lifetime": 60,
    },
}
SENSITIVE = {"identity": set(), "ldap": {"password"}}
COMPLIANCE = "security_compliance"
COMPLIANCE_OPTIONS = ("password_regex", "password_regex_description")


@dataclass(frozen=True)
class Target:
    """What a call addresses: a domain's whole configuration, one group, or one option."""

    domain_id: str
    group: str | None = None
    option: str | None = None


def check_option(group: str, option: str | None = None) -> None:
    """403 unless ``group`` (and ``option``) may be configured per domain."""
    if group not in DEFAULTS:
        raise Forbidden(f"{INVALID}Group {group} is not supported for domain specific configurations.")
    if option is not None and option not in DEFAULTS[group] and option not in SENSITIVE[group]:
        raise Forbidden(f"{INVALID}Option {option} in group {group} is not supported for domain specific "
                        "configurations.")


def check_config(config: dict) -> None:
    """403 (Keystone's words) unless ``config`` is a non-empty {group: {option: value}} of
    allowed groups and options."""
    if not config:
        raise Forbidden(f"{INVALID}No options specified.")
    for group, options in config.items():
        check_option(group)
        if not isinstance(options, dict):
            raise Forbidden(f"{INVALID}The value of group {group} specified in the config should be a "
                            "dictionary of options.")
        for option in options:
            check_option(group, option)


def _scoped_body(target: Target, config: dict) -> dict:
    """The {group: {option: value}} a PATCH of ``target`` may apply, or 403: a group's update
    names that group alone, an option's that option alone (given as {option: value})."""
    if target.option is not None:
        if target.option not in config:
            other = next(iter(config), None)
            if len(config) == 1:
                raise Forbidden(f"{INVALID}Trying to update option {target.option} in group {target.group}, "
                                f"but config provided contains option {other} instead.")
        if len(config) != 1:
            raise Forbidden(f"{INVALID}Trying to update option {target.option} in group {target.group}, so "
                            "that, and only that, option must be specified  in the config.")
        check_option(target.group, target.option)
        return {target.group: dict(config)}
    if target.group is not None:
        if len(config) == 1 and target.group not in config:
            raise Forbidden(f"{INVALID}request to update group {target.group}, but config provided contains "
                            f"group {next(iter(config))} instead.")
        if len(config) != 1:
            raise Forbidden(f"{INVALID}Trying to update group {target.group}, so that, and only that, group "
                            "must be specified in the config.")
    check_config(config)
    return config


class DomainConfigService:
    def __init__(self, db: Database, box: SecretBox, settings: Settings) -> None:
        self.db = db
        self.box = box
        self.settings = settings

    # ---- storage -------------------------------------------------------------------------
    def _rows(self, s: Session, target: Target) -> list[DomainConfig]:
        stmt = select(DomainConfig).where(DomainConfig.domain_id == target.domain_id)
        if target.group is not None:
            stmt = stmt.where(DomainConfig.group == target.group)
        if target.option is not None:
            stmt = stmt.where(DomainConfig.option == target.option)
        return list(s.scalars(stmt.order_by(DomainConfig.group, DomainConfig.option)))

    def _store(self, s: Session, domain_id: str, config: dict) -> None:
        for group, options in config.items():
            for option, value in options.items():
                sensitive = option in SENSITIVE[group]
                stored = self.box.encrypt(json.dumps(value)) if sensitive else value
                row = s.get(DomainConfig, (domain_id, group, option))
                if row is None:
                    s.add(DomainConfig(domain_id=domain_id, group=group, option=option, value=stored,
                                       sensitive=sensitive))
                else:
                    row.value = stored

    def _config(self, s: Session, domain_id: str) -> dict:
        """The domain's configuration as Keystone shows it: sensitive options left out."""
        out: dict = {}
        for row in self._rows(s, Target(domain_id)):
            if not row.sensitive:
                out.setdefault(row.group, {})[row.option] = row.value
        return out

    @staticmethod
    def _missing(target: Target) -> NotFound:
        if target.option is not None:
            return NotFound(f"Could not find option {target.option} in group {target.group} in domain "
                            f"configuration for domain {target.domain_id}.")
        if target.group is not None:
            return NotFound(f"Could not find group {target.group} in domain configuration for domain "
                            f"{target.domain_id}.")
        return NotFound(f"Could not find any options in domain configuration for domain {target.domain_id}.")

    # ---- calls ---------------------------------------------------------------------------
    def replace(self, ctx: AuthContext, domain_id: str, config: dict) -> tuple[dict, bool]:
        """PUT: the domain's whole configuration becomes ``config``. Returns what is shown and
        whether there was none before (201 rather than 200)."""
        policy.enforce(ctx, "identity:create_domain_config", {"domain_id": domain_id})
        check_config(config)
        with self.db.write() as s:
            if s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            created = not self._rows(s, Target(domain_id))
            s.execute(delete(DomainConfig).where(DomainConfig.domain_id == domain_id))
            self._store(s, domain_id, config)
            s.flush()
            return self._config(s, domain_id), created

    def get(self, ctx: AuthContext, target: Target) -> dict:
        """GET of a configuration, a group ({group: {...}}) or an option ({option: value})."""
        if target.group == COMPLIANCE:
            return self._compliance(ctx, target)
        policy.enforce(ctx, "identity:get_domain_config", {"domain_id": target.domain_id})
        if target.group is not None:
            check_option(target.group, target.option)
        with self.db.read() as s:
            shown = self._config(s, target.domain_id)
        if target.group is None:
            if not shown:
                raise self._missing(target)
            return shown
        group = shown.get(target.group)
        if group is None or (target.option is not None and target.option not in group):
            raise self._missing(target)
        return {target.option: group[target.option]} if target.option is not None else {target.group: group}

    def update(self, ctx: AuthContext, target: Target, config: dict) -> dict:
        """PATCH: merge ``config`` into what is set; a group's or an option's update needs it
        set already (404). Returns the whole configuration as shown."""
        policy.enforce(ctx, "identity:update_domain_config", {"domain_id": target.domain_id})
        if target.group is not None:
            check_option(target.group, target.option)
        config = _scoped_body(target, config)
        with self.db.write() as s:
            if s.get(Domain, target.domain_id) is None:
                raise NotFound(f"Could not find domain: {target.domain_id}.")
            if target.group is not None and not self._rows(s, target):
                raise self._missing(target)
            self._store(s, target.domain_id, config)
            s.flush()
            return self._config(s, target.domain_id)

    def delete(self, ctx: AuthContext, target: Target) -> None:
        """DELETE the configuration (none is fine), a group or an option (404 if not set)."""
        policy.enforce(ctx, "identity:delete_domain_config", {"domain_id": target.domain_id})
        if target.group is not None:
            check_option(target.group, target.option)
        with self.db.write() as s:
            rows = self._rows(s, target)
            if target.group is not None and not rows:
                raise self._missing(target)
            for row in rows:
                s.delete(row)

    def default(self, ctx: AuthContext, group: str | None = None, option: str | None = None) -> dict:
        """Keystone's defaults, of every allowed group, of one, or of one option."""
        policy.enforce(ctx, "identity:get_domain_config_default")
        if group is None:
            return {g: dict(opts) for g, opts in DEFAULTS.items()}
        check_option(group, option)
        if option is None:
            return {group: dict(DEFAULTS[group])}
        if option in SENSITIVE[group]:
            raise Forbidden(f"{INVALID}Reading the default for option {option} in group {group} is not supported.")
        return {option: DEFAULTS[group][option]}

    def _compliance(self, ctx: AuthContext, target: Target) -> dict:
        """The password rules (``security_compliance``), readable in the default domain."""
        policy.enforce(ctx, "identity:get_security_compliance_domain_config", {"domain_id": target.domain_id})
        if target.domain_id != "default":
            raise Forbidden(f"{INVALID}Reading security compliance information for any domain other than the "
                            "default domain is not allowed or supported..")
        values = {"password_regex": self.settings.password_regex,
                  "password_regex_description": self.settings.password_regex_description}
        if target.option is None:
            return {COMPLIANCE: values}
        if target.option not in values:
            raise Forbidden(f"{INVALID}Option {target.option} in group {COMPLIANCE} is not supported for domain "
                            "specific configurations.")
        return {target.option: values[target.option]}
