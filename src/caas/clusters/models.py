"""The cluster layer's own state: clusters, their nodes, the cloud resources each owns (recorded
before they are asked for), and the events of their work.

A cluster row lives until its delete has removed everything it owns; its name is unique among
the project's live clusters (a failed cluster that owns nothing gives its name up at once).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caas.db.base import Base, new_id, utcnow

# Cluster status. DEGRADED: idle, and some node is DOWN (the health check, clusters/health.py).
CREATING, ACTIVE, UPDATING, DELETING, ERROR = "CREATING", "ACTIVE", "UPDATING", "DELETING", "ERROR"
DEGRADED = "DEGRADED"
# Node status. DOWN: its server is not running (or, once running again, not yet reachable).
BUILDING, NODE_ACTIVE, NODE_ERROR, NODE_DELETING = "BUILDING", "ACTIVE", "ERROR", "DELETING"
NODE_DOWN = "DOWN"
HEAD, COMPUTE = "head", "compute"
NODE_PREFIX = "node"  # compute nodes are node001, node002, ...
HEAD_NAME = "head"  # the head's row in cluster_node (its hostname is NAME-head)


class Cluster(Base):
    __tablename__ = "cluster"
    __table_args__ = (UniqueConstraint("project_id", "name"), UniqueConstraint("project_id", "cidr"))
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(63))
    status: Mapped[str] = mapped_column(String(16), default=CREATING)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[str | None] = mapped_column(String(32), nullable=True)
    image: Mapped[str] = mapped_column(String(255))
    image_id: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(32))
    profile_version: Mapped[str] = mapped_column(String(32))
    head_flavor: Mapped[str] = mapped_column(String(255))
    node_flavor: Mapped[str] = mapped_column(String(255))
    key_name: Mapped[str] = mapped_column(String(255))
    keypair_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The cluster's own key (OpenSSH private key text): trusted between its nodes, and how caas
    # reaches the head for bootstrap and ready checks.
    cluster_key: Mapped[str] = mapped_column(Text)
    cluster_public_key: Mapped[str] = mapped_column(Text)
    # The public key the create put on the nodes for the user (the key pair's, or the public
    # half of the generated one): public, kept so that a restart in the middle of the create
    # makes it again (``restart.resume``); '' for a cluster made before it was kept.
    user_public_key: Mapped[str] = mapped_column(Text, default="", server_default="")
    keep_on_failure: Mapped[bool] = mapped_column(Boolean, default=False)
    # The cluster's users (logins on every node, ``clusters/users.py``): [{name, uid}], the
    # creator first; and the profile's options as chosen at create (``Profile.options``).
    users: Mapped[list | None] = mapped_column(JSON, nullable=True, default=list)
    options: Mapped[dict | None] = mapped_column(JSON, nullable=True, default=dict)
    # Its workload manager's queue as last read on the head (``clusters/queue.py``): {time,
    # pending, running, jobs: [...]}; None for a cluster without one.
    queue: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # When the cluster counts as ready: ssh (its guests set up and reported in) or servers
    # (every server ACTIVE with its addresses); see clusters/readiness.py.
    ready: Mapped[str] = mapped_column(String(16), default="ssh", server_default="ssh")
    # The cluster's own subnet (addresses.allocate); None on a given network (unique per
    # project among the clusters that make their own).
    cidr: Mapped[str | None] = mapped_column(String(43), nullable=True)
    # The network the cluster was given (--network): it made no network, subnet or router, its
    # nodes' ports are on the subnet ``given_subnet`` (CIDR ``given_cidr``), their addresses
    # chosen by the cloud. None when the cluster made its own.
    given_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    given_subnet: Mapped[str | None] = mapped_column(String(64), nullable=True)
    given_cidr: Mapped[str | None] = mapped_column(String(43), nullable=True)
    # The external network of its router's gateway and its floating IP, chosen at create. None:
    # on a given network, no floating IP (not routed, ready=servers); else a cluster made
    # before the choice was kept (the cloud's first external network by name).
    external_network: Mapped[str | None] = mapped_column(String(64), nullable=True)
    floating_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    network_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the cluster's work is doing: create | add | remove | delete (None when idle).
    operation: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The compute nodes a running add or remove is about (recorded with the operation, so a
    # restart rolls back every node an add made, whatever state each had reached).
    operation_nodes: Mapped[list | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class ClusterNode(Base):
    __tablename__ = "cluster_node"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))  # the hostname inside the cluster
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=BUILDING)
    flavor: Mapped[str] = mapped_column(String(255))
    server_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    port_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fixed_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The flavor's size when the node was asked for: what a node whose server does not exist
    # yet holds back of the project's quota (ClusterService's reservations).
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    ram: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ClusterProjectLock(Base):
    """One row per project that has made clusters: locked (FOR UPDATE) while a create or an
    add checks the project's quota against the clusters in flight and records its nodes, so
    two of them never both take the last of a quota."""

    __tablename__ = "cluster_project_lock"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ClusterResource(Base):
    """One cloud resource the cluster owns. Written (with its cloud name) before the cloud is
    asked for it; ``cloud_id`` is filled in once the cloud answers. A row without ``cloud_id``
    after a crash is looked up in the cloud by its name."""

    __tablename__ = "cluster_resource"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    # keypair | network | subnet | router | router_interface | security_group | port | server | floating_ip
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    cloud_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    node: Mapped[str | None] = mapped_column(String(63), nullable=True)
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ClusterEvent(Base):
    __tablename__ = "cluster_event"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    time: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    step: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)


class ClusterCredential(Base):
    """The application credential a cluster's work runs on (``caas.clusters.credentials``):
    made at create with the creator's token, in the cluster's project, with the creator's roles
    there; its secret encrypted with the credential keys (``identity/secrets.py``)."""

    __tablename__ = "cluster_credential"
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))  # whose credential it is
    app_cred_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    encrypted_secret: Mapped[str] = mapped_column(Text)


class ClusterScaler(Base):
    """The scaler credential of an elastic cluster (``caas.clusters.scaler``): an application
    credential of the cluster's creator whose access rules allow only ``POST
    /v1/clusters/<id>/scale`` on the cluster service; its secret encrypted like the cluster's."""

    __tablename__ = "cluster_scaler"
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64))
    app_cred_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    encrypted_secret: Mapped[str] = mapped_column(Text)


class ClusterSample(Base):
    """The cluster's size and queue at a moment (``clusters/queue.py``): what the dashboard
    draws over time. Kept for ``queue.KEEP`` (a day), at most one a ``queue.EVERY`` seconds but
    at each change of the nodes."""

    __tablename__ = "cluster_sample"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("cluster.id", ondelete="CASCADE"), index=True)
    time: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    nodes: Mapped[int] = mapped_column(Integer)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    running: Mapped[int] = mapped_column(Integer, default=0)
