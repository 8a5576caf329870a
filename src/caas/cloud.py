"""The composition root: every service of one caas instance, built from one ``Settings`` with
its dependencies passed in (database, token keys, driver; compute gets network, image,
volume and share (the shares an instance mounts); the driver gets the network's topology through ``TopologyFeed``). ``caas.server``
builds it; ``caas.api`` only serves it."""

from __future__ import annotations

from caas.clusters.service import ClusterService
from caas.compute.service import ComputeService
from caas.config import Settings
from caas.db import Database
from caas.identity.app_credentials import AppCredentialService
from caas.identity.assignments import AssignmentService
from caas.identity.auth import TokenService
from caas.identity.catalog import CatalogService
from caas.identity.credentials import CredentialService
from caas.identity.domain_config import DomainConfigService
from caas.identity.endpoint_filter import EndpointFilterService
from caas.identity.groups import GroupService
from caas.identity.oauth1 import OAuth1Service
from caas.identity.projects import ProjectService
from caas.identity.role_assignments import RoleAssignmentService
from caas.identity.roles import RoleService
from caas.identity.secrets import SecretBox
from caas.identity.service import IdentityService
from caas.identity.tokens import KeyRepository
from caas.identity.trusts import TrustService
from caas.hosts.commands import CommandQueue
from caas.hosts.remote import RemoteDriver
from caas.hosts.service import HeartbeatMonitor, HostService
from caas.image.service import ImageService
from caas.network.service import NetworkService
from caas.network.topology import TopologyFeed
from caas.virt import driver_for
from caas.share.service import ShareService
from caas.volume.service import VolumeService


def server_ids(session) -> list[str]:
    """The ids of the servers that exist: what a topology tells the driver to keep."""
    from sqlalchemy import select

    from caas.compute.models import Server

    return list(session.scalars(select(Server.id)))


def admin_project_id(db: Database) -> str:
    from sqlalchemy import select

    from caas.identity.models import Project
    from caas.identity.service import DEFAULT_DOMAIN_ID

    with db.read() as s:
        return s.scalar(select(Project.id).where(Project.domain_id == DEFAULT_DOMAIN_ID, Project.name == "admin"))


class Cloud:
    """Every service of one caas instance, built from its settings."""

    embedded = True  # the cloud itself (a ``caas.portal.Portal`` is only the cluster service of another)

    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.db_url)
        self.keys = KeyRepository(settings.fernet_key_dir)
        self.identity = IdentityService(self.db, settings)
        self.tokens = TokenService(self.db, settings, self.keys, self.identity.lockout)
        self.roles, self.groups = RoleService(self.db), GroupService(self.db)
        self.assignments, self.role_assignments = AssignmentService(self.db), RoleAssignmentService(self.db)
        self.projects = ProjectService(self.db, settings, self.identity)
        self.catalog = CatalogService(self.db, settings)
        self.endpoint_filter = EndpointFilterService(self.db, settings)
        self.secrets = SecretBox(KeyRepository(settings.credential_key_dir))
        self.credentials = CredentialService(self.db, self.secrets)
        self.domain_config = DomainConfigService(self.db, self.secrets, settings)
        self.oauth1 = OAuth1Service(self.db, self.secrets)
        self.app_credentials = AppCredentialService(self.db, settings)
        self.trusts = TrustService(self.db)
        self.image = ImageService(self.db, settings)
        self.network = NetworkService(self.db, settings)
        self.volume = VolumeService(self.db, settings, images=self.image)
        self.share = ShareService(self.db, settings, export_address=self.network.external_gateway)
        # Compute drives the local driver and the joined hosts' agents as one (hosts/remote.py).
        self.host_commands = CommandQueue(self.db, settings.agent_call_timeout)
        self.driver = RemoteDriver(driver_for(settings, self.db), self.host_commands, self.db)
        self.topology = TopologyFeed(self.db, self.driver.apply_network, server_ids)
        self.compute = ComputeService(self.db, settings, self.driver, self.network, self.image, self.volume,
                                      shares=self.share)
        self.hosts = HostService(self.db, settings, self.compute.inventory, self.host_commands)
        self.heartbeats = HeartbeatMonitor(self.hosts)
        self.clusters = ClusterService(self.db, settings, self.secrets)

    def bootstrap(self) -> None:
        """First-start state of every service (idempotent; identity first)."""
        from caas.identity.bootstrap import bootstrap

        bootstrap(self.db, self.settings)
        self.image.bootstrap()
        self.network.bootstrap(admin_project_id(self.db))
        self.volume.bootstrap()
        self.share.bootstrap()
        self.topology.start()  # the driver holds the network's topology before it starts
        self.driver.start()  # the kernel converged with the database before work resumes
        self.compute.bootstrap()
        self.heartbeats.start()
        self.clusters.bootstrap()  # its workers wait until the cloud answers over HTTP

    def shutdown(self) -> None:
        """Stop cluster work at its next step (the record resumes it), let compute's workers
        finish, then close the database."""
        self.clusters.shutdown()
        self.heartbeats.stop()
        self.compute.shutdown()
        self.topology.stop()
        self.driver.stop()
        self.volume.shutdown()
        self.share.shutdown()
        self.db.dispose()
