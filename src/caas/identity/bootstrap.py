"""First-start state and the service catalog.

``bootstrap`` is idempotent: it creates what is missing (the ``default`` domain, the ``admin``
project, the roles ``admin``/``manager``/``member``/``reader``/``service`` and the rules
admin -> manager -> member -> reader, the ``admin`` user with a generated password kept in the
data dir with mode 0600, admin's grants on the project, the domain and the system) and re-points
caas's own catalog entries at the current public URL (``sync_catalog``), so a restart on another
port keeps working and an operator's own entries stay as they are.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sysconfig
import time
from pathlib import Path

from sqlalchemy import select

from caas.config import Settings
from caas.db import Database
from caas.identity.assignments import SYSTEM, USER_DOMAIN, USER_PROJECT, USER_SYSTEM
from caas.identity.models import (Assignment, Domain, Endpoint, ImpliedRole, Project, Region, Revision, Role,
                                  Service, User)
from caas.identity.passwords import hash_password
from caas.identity.revocation import bump_revision
from caas.identity.roles import IMMUTABLE_ROLES
from caas.identity.service import DEFAULT_DOMAIN_ID

# (type, name, path under the public URL, description). Later services add themselves here.
CATALOG: list[tuple[str, str, str, str]] = [
    ("identity", "keystone", "/identity", "Identity Service"),
    ("image", "glance", "/image", "Image Service"),
    ("network", "neutron", "/network", "Network Service"),
    ("compute", "nova", "/compute/v2.1", "Compute Service"),
    # Block storage under both names: openstacksdk looks for block-storage, OSC for volumev3.
    ("block-storage", "cinder", "/volume/v3/$(project_id)s", "Block Storage Service"),
    ("volumev3", "cinderv3", "/volume/v3/$(project_id)s", "Block Storage Service v3"),
    ("sharev2", "manilav2", "/share/v2/$(project_id)s", "Shared File Systems Service v2"),
    ("caas", "caas", "/caas/v1", "Cluster as a Service"),
    # The hosts' inventories and usages, read-only: where a cloud publishes allocation ratios.
    ("placement", "placement", "/placement", "Placement Service"),
]
INTERFACES = ("public", "internal", "admin")
ROLES = IMMUTABLE_ROLES
# As keystone-manage bootstrap (Keystone 2024.2+): admin implies manager implies member implies
# reader; an older admin -> member rule is dropped (admin reaches member through manager).
IMPLIED = (("admin", "manager"), ("manager", "member"), ("member", "reader"))


def write_private(path: Path, content: str) -> None:
    """Write a file readable by its owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def admin_password(settings: Settings) -> str:
    path = settings.admin_password_file
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(18)
    write_private(path, password + "\n")
    return password


def bootstrap(db: Database, settings: Settings) -> None:
    password = admin_password(settings)
    with db.write() as s:
        if s.get(Revision, 1) is None:
            s.add(Revision(id=1, value=0))
            s.flush()
        if s.get(Domain, DEFAULT_DOMAIN_ID) is None:
            s.add(Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain"))
            s.flush()
        project = s.scalar(select(Project).where(Project.domain_id == DEFAULT_DOMAIN_ID, Project.name == "admin"))
        if project is None:
            project = Project(name="admin", domain_id=DEFAULT_DOMAIN_ID, description="Bootstrap project")
            s.add(project)
        roles = {}
        for name in ROLES:
            role = s.scalar(select(Role).where(Role.name == name, Role.domain_id.is_(None)))
            if role is None:
                role = Role(name=name)
                s.add(role)
            roles[name] = role
        user = s.scalar(select(User).where(User.domain_id == DEFAULT_DOMAIN_ID, User.name == "admin"))
        if user is None:
            user = User(name="admin", domain_id=DEFAULT_DOMAIN_ID, default_project_id=None,
                        password_hash=hash_password(password, settings.password_hash_rounds),
                        password_changed_at=time.time())
            s.add(user)
        s.flush()
        for type_, target in ((USER_PROJECT, project.id), (USER_DOMAIN, DEFAULT_DOMAIN_ID), (USER_SYSTEM, SYSTEM)):
            if s.get(Assignment, (type_, user.id, target, roles["admin"].id, False)) is None:
                s.add(Assignment(type=type_, actor_id=user.id, target_id=target, role_id=roles["admin"].id,
                                 inherited=False))
        bootstrap_implied_roles(s, roles)
        sync_catalog(s, settings)
        bump_revision(s)


def bootstrap_implied_roles(s, roles: dict[str, Role]) -> None:
    """The default implied roles (``IMPLIED``), as keystone-manage bootstrap makes them."""
    for prior, implied in IMPLIED:
        if s.get(ImpliedRole, (roles[prior].id, roles[implied].id)) is None:
            s.add(ImpliedRole(prior_role_id=roles[prior].id, implied_role_id=roles[implied].id))
    old = s.get(ImpliedRole, (roles["admin"].id, roles["member"].id))
    if old is not None:
        s.delete(old)


def sync_catalog(s, settings: Settings) -> None:
    """Point caas's own catalog entries at this start's public URL and region, creating the
    ones missing (the region too). caas knows its own by their marks: a service's ``caas_key``
    (its type in ``CATALOG``) and an endpoint's ``caas_managed``; their type, URL and region are
    reset, the rest (name, description, enabled) stays as an operator set it. Every other
    region, service and endpoint is left untouched."""
    if s.get(Region, settings.region) is None:
        s.add(Region(id=settings.region, description=""))
        s.flush()
    for type_, name, path, description in CATALOG:
        svc = s.scalar(select(Service).where(Service.caas_key == type_))
        if svc is None:
            svc = Service(type=type_, name=name, description=description, caas_key=type_)
            s.add(svc)
            s.flush()
        svc.type = type_
        mine = {ep.interface: ep for ep in s.scalars(select(Endpoint).where(Endpoint.service_id == svc.id,
                                                                            Endpoint.caas_managed.is_(True)))}
        url = settings.base_url + path
        for interface in INTERFACES:
            ep = mine.get(interface)
            if ep is None:
                s.add(Endpoint(service_id=svc.id, interface=interface, region_id=settings.region, url=url,
                               caas_managed=True))
            else:
                ep.url = url
                ep.region_id = settings.region


def clouds_yaml(settings: Settings, password: str) -> str:
    auth_url = settings.base_url + "/identity/v3"
    return (
        "clouds:\n"
        "  caas:\n"
        "    auth:\n"
        f"      auth_url: {auth_url}\n"
        "      username: admin\n"
        f"      password: '{password}'\n"
        "      project_name: admin\n"
        "      user_domain_name: Default\n"
        "      project_domain_name: Default\n"
        f"    region_name: {settings.region}\n"
        "    identity_api_version: 3\n"
        "    interface: public\n"
    )


def client_bin_dir() -> str:
    """The directory of this installation's console scripts (``caas``, ``os_cluster``,
    ``os_node`` and python-openstackclient's ``openstack``): the virtualenv's ``bin`` when caas
    runs from one (scripts/run's ``.venv``)."""
    return sysconfig.get_path("scripts")


def admin_openrc(settings: Settings, password: str) -> str:
    """The admin openrc. Besides the OS_* variables it puts ``client_bin_dir()`` first on PATH
    (once, however often it is sourced), so that the commands the banner and the README print
    work in a new shell where the virtualenv is not activated."""
    bin_dir = shlex.quote(client_bin_dir())
    return (
        "# caas admin credentials (the keystonerc_admin of the OpenStack guides)\n"
        "# and caas's clients (openstack, caas, os_cluster, os_node) on PATH\n"
        f'case ":$PATH:" in *:{bin_dir}:*) ;; *) export PATH={bin_dir}${{PATH:+:$PATH}} ;; esac\n'
        "unset OS_TOKEN OS_CLOUD\n"
        "export OS_USERNAME=admin\n"
        f"export OS_PASSWORD='{password}'\n"
        "export OS_PROJECT_NAME=admin\n"
        "export OS_USER_DOMAIN_NAME=Default\n"
        "export OS_PROJECT_DOMAIN_NAME=Default\n"
        f"export OS_AUTH_URL={settings.base_url}/identity/v3\n"
        "export OS_IDENTITY_API_VERSION=3\n"
        f"export OS_REGION_NAME={settings.region}\n"
        "export OS_INTERFACE=public\n"
        "export PS1='[\\u@\\h \\W(keystone_admin)]\\$ '\n"
    )


def write_client_files(settings: Settings) -> tuple[Path, Path]:
    password = admin_password(settings)
    clouds = settings.data_dir / "clouds.yaml"
    openrc = settings.data_dir / "admin-openrc"
    write_private(clouds, clouds_yaml(settings, password))
    write_private(openrc, admin_openrc(settings, password))
    return clouds, openrc
