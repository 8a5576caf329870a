"""The wire shapes of ``/caas/v1`` (its OpenAPI 3.1 document is built from them in ``openapi``).

Request bodies are pydantic models the handlers validate with (strict types, unknown fields
of a cluster or of nodes refused); what only the service checks (the name's pattern, the profiles, the node counts) is
stated in their schemas as well, so a client learns it from the document. Response bodies are
models too, never instantiated: they declare what the service's views (``ClusterService._view``,
``_node_view``, ``events``, ``plan``) and the handlers return, exactly (no other field, nullable
where the value may be null), and tests/clusters/test_openapi.py checks real answers against
them. ``openapi.openapi`` builds the document from both: every schema a component, every ``$ref``
resolving inside it, every status an operation can answer listed with its body.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr
from pydantic.json_schema import models_json_schema

from caas.clusters.models import (ACTIVE, BUILDING, COMPUTE, CREATING, DEGRADED, DELETING, ERROR, HEAD, NODE_ACTIVE,
                                  NODE_DELETING, NODE_DOWN, NODE_ERROR, UPDATING)
from caas.clusters.profiles import PROFILES
from caas.clusters.home import MAX_SIZE
from caas.clusters.planning import CLUSTER_NAME, IDLE_TIME, MAX_NODES
from caas.clusters.slurm import PARTITIONS
from caas.clusters.users import LOGIN, MAX_USERS

JSON = "application/json"
REF = "#/components/schemas/"
# The largest `since` the events call takes (18 digits, leading zeros aside).
MAX_SINCE = 10**18 - 1


def _schema(**extra: Any) -> dict:
    """Field arguments that add ``extra`` to the field's JSON schema only: what the service
    checks itself (with its own messages), stated in the document."""
    return {"json_schema_extra": extra}


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


# A response field that is left out when it does not apply (never null).
Omitted = Field(default=None, json_schema_extra=_no_default)
Text = Field(default=None, min_length=1, max_length=255)


# ---- request bodies ---------------------------------------------------------------------
class ClusterCreate(BaseModel):
    """A cluster to create. ``image``: a name, an id or an ``os_distro`` (default: the
    service's CAAS_CLUSTER_IMAGE); flavors default to CAAS_CLUSTER_FLAVOR (the head takes the
    node flavor unless given its own); no ``key_name``: a key is generated and its private
    half returned once."""

    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(min_length=1, max_length=255, **_schema(pattern=CLUSTER_NAME.pattern, maxLength=40))
    image: Optional[StrictStr] = Text
    profile: StrictStr = Field(default="base", min_length=1, max_length=64, **_schema(enum=sorted(PROFILES)))
    profile_version: Optional[StrictStr] = Field(default=None, min_length=1, max_length=32)
    node_count: StrictInt = Field(default=0, **_schema(minimum=0, maximum=MAX_NODES))
    node_flavor: Optional[StrictStr] = Text
    head_flavor: Optional[StrictStr] = Text
    key_name: Optional[StrictStr] = Text
    keep_on_failure: StrictBool = False
    ready: Literal["ssh", "servers"] = Field(default="ssh", description="when the cluster is ACTIVE: ssh (the head "
                                             "set up and every node reported in over SSH) or servers (every server "
                                             "ACTIVE with its addresses)")
    network: Optional[StrictStr] = Field(default=None, min_length=1, max_length=255, description=(
        "a network the cloud provides (name or id; yours or shared, with an IPv4 subnet): the cluster makes no "
        "network, subnet or router, its nodes get ports on it with addresses the cloud chooses"))
    external_network: Optional[StrictStr] = Field(default=None, min_length=1, max_length=255, description=(
        "the external network (name or id) of the cluster's router gateway and floating IP (default: the one the "
        "given network is routed to, else the cloud's first by name)"))
    users: Optional[list[StrictStr]] = Field(default=None, max_length=MAX_USERS, description=(
        "logins to make on every node besides the creator's (profiles with users: slurm), with the creator's key"),
        **_schema(items={"type": "string", "pattern": LOGIN.pattern}))
    partitions: Optional[Literal[PARTITIONS]] = Field(default=None, description=(
        "slurm: one partition (batch) with every node, or one more per node flavor (flavor)"))
    home_size: Optional[StrictInt] = Field(default=None, description="slurm: GB of the shared /home (default 10)",
                                           **_schema(minimum=1, maximum=MAX_SIZE))
    max_nodes: Optional[StrictInt] = Field(default=None, description=(
        "slurm: an elastic cluster: Slurm knows every node up to max_nodes from the start (powered down) and asks "
        "for the ones its waiting jobs need"), **_schema(minimum=1, maximum=MAX_NODES))
    min_nodes: Optional[StrictInt] = Field(default=None, description=(
        "slurm, elastic: nodes never suspended, however idle (default 0)"), **_schema(minimum=0, maximum=MAX_NODES))
    idle_time: Optional[StrictInt] = Field(default=None, description=(
        "slurm, elastic: seconds a node above min_nodes stays idle before it is removed (default 600)"),
        **_schema(minimum=IDLE_TIME[0], maximum=IDLE_TIME[1]))


class CreateBody(BaseModel):
    """``dry_run``: answer the plan (200) and create nothing."""

    cluster: ClusterCreate
    dry_run: StrictBool = False


class NodesAdd(BaseModel):
    """Nodes to add: ``count`` (the lowest free names) or ``names`` (a name, a range such as
    ``node0[04-05]`` or ``node004..node005``, or a comma-separated list of them), not both."""

    model_config = ConfigDict(extra="forbid")
    count: Optional[StrictInt] = Field(default=None, **_schema(minimum=1, maximum=MAX_NODES))
    names: Optional[StrictStr] = Field(default=None, min_length=1, max_length=4096)
    flavor: Optional[StrictStr] = Text


class NodesBody(BaseModel):
    nodes: NodesAdd


class Scale(BaseModel):
    """Slurm's power saving on an elastic cluster (what its resume and suspend programs send):
    ``resume`` the named nodes that do not exist (they are made), ``suspend`` the named ones
    that do (removed, without a drain: Slurm names only idle ones), ``failed``: Slurm gave up
    waiting for them (removed)."""

    model_config = ConfigDict(extra="forbid")
    action: Literal["resume", "suspend", "failed"]
    names: list[StrictStr] = Field(min_length=1, max_length=MAX_NODES,
                                   **_schema(items={"type": "string", "maxLength": 63}))


class ElasticSet(BaseModel):
    """An existing slurm cluster's elastic settings (the ones not given stay; max_nodes is needed
    to make a cluster elastic)."""

    model_config = ConfigDict(extra="forbid")
    min_nodes: Optional[StrictInt] = Field(default=None, **_schema(minimum=0, maximum=MAX_NODES))
    max_nodes: Optional[StrictInt] = Field(default=None, **_schema(minimum=1, maximum=MAX_NODES))
    idle_time: Optional[StrictInt] = Field(default=None, **_schema(minimum=IDLE_TIME[0], maximum=IDLE_TIME[1]))


class ElasticBody(BaseModel):
    elastic: ElasticSet


class ScaleBody(BaseModel):
    scale: Scale


# ---- response bodies --------------------------------------------------------------------
class Wire(BaseModel):
    """A response shape (declared, never instantiated): these fields and no other."""

    model_config = ConfigDict(extra="forbid")


class Link(Wire):
    rel: str
    href: str
    type: str = Omitted


class Version(Wire):
    id: Literal["v1"]
    status: Literal["CURRENT"]
    links: list[Link]


class VersionBody(Wire):
    version: Version


class Profile(Wire):
    """What a cluster's nodes set up at first boot."""

    name: str
    versions: list[str]
    default_version: str
    description: str
    compute_nodes: bool = Field(description="whether the profile takes compute nodes (false: a head only)")


class ProfileList(Wire):
    profiles: list[Profile]


class Node(Wire):
    """A node: the head (named CLUSTER-head) or a compute node (nodeNNN). DOWN: its server is
    not running, or not reachable yet once it runs again."""

    name: str
    role: Literal[HEAD, COMPUTE]
    status: Literal[BUILDING, NODE_ACTIVE, NODE_ERROR, NODE_DELETING, NODE_DOWN]
    server_id: Optional[str] = Field(description="its server in the cloud (null until asked for)")
    fixed_ip: Optional[str]
    flavor: str
    created_at: dt.datetime


class Settled(Wire):
    """What a create settled on (a cluster's and a plan's): the image and profile found, the
    flavors."""

    image: str
    image_id: str
    profile: str
    profile_version: str
    head_flavor: str
    node_flavor: str


class ClusterOptions(Wire):
    """The profile's options, as chosen at create (none for a profile that takes none)."""

    partitions: Literal[PARTITIONS] = Omitted
    home_size: int = Omitted
    min_nodes: int = Omitted
    max_nodes: int = Omitted
    idle_time: int = Omitted


class Job(Wire):
    """A job of the cluster's workload manager, as its queue lists it."""

    id: str
    state: str = Field(description="Slurm's state: PENDING, CONFIGURING (waiting for its nodes), RUNNING ...")
    nodes: int
    user: str
    name: str
    time: str = Field(description="how long it has run")


class Queue(Wire):
    """The cluster's queue as last read on its head (by the health check)."""

    time: dt.datetime
    pending: int
    running: int
    jobs: list[Job] = Field(description="the first 50 jobs")


class Cluster(Settled):
    """A cluster with its nodes. ``step`` is the step running, ``operation`` the work in
    progress (null when idle), ``nodes_ready`` the compute nodes that are ready. DEGRADED: idle,
    with a node DOWN (``status_reason`` says which and why)."""

    id: str
    name: str
    project_id: str
    user_id: str
    status: Literal[CREATING, ACTIVE, UPDATING, DEGRADED, DELETING, ERROR]
    status_reason: str
    step: Optional[str]
    operation: Optional[str]
    key_name: Optional[str] = Field(description="the user's keypair (null: the key was generated)")
    keypair_generated: bool
    node_count: int = Field(ge=0)
    nodes_ready: int = Field(ge=0)
    head_name: str
    floating_ip: Optional[str]
    cidr: str = Field(description="the cluster's network's CIDR (on a given network, its subnet's)")
    network_id: Optional[str]
    network_given: bool = Field(description="whether the cluster is on a network it was given (it made none)")
    external_network_id: Optional[str] = Field(description="the external network of its router's gateway and "
                                                           "floating IP (null: none chosen; the cloud's first)")
    keep_on_failure: bool
    ready: Literal["ssh", "servers"]
    users: list[str] = Field(description="the logins on every node (the creator's first); empty for a profile "
                                         "without users")
    options: ClusterOptions
    queue: Optional[Queue] = Field(description="the workload manager's queue (null: none, or not read yet)")
    created_at: dt.datetime
    updated_at: dt.datetime
    nodes: list[Node]


class ClusterList(Wire):
    clusters: list[Cluster]


class ClusterBody(Wire):
    cluster: Cluster


class CreateAccepted(Wire):
    cluster: Cluster
    private_key: str = Field(default=None, description="the generated key's private half (OpenSSH), only in this "
                             "answer, only when no key_name was given", json_schema_extra=_no_default)


class NodesChange(Wire):
    """The cluster (UPDATING) and the names of the nodes being added or removed."""

    cluster: Cluster
    nodes: list[str]


class NodeList(Wire):
    nodes: list[Node]


class Event(Wire):
    """A step of the cluster's work. ``duration`` (seconds) on the end of a step."""

    seq: int = Field(ge=1)
    time: dt.datetime
    step: str
    level: str
    message: str
    duration: Optional[float]


class Sample(Wire):
    """The cluster at a moment: its compute nodes, and its queue's pending and running jobs."""

    time: dt.datetime
    nodes: int = Field(ge=0)
    pending: int = Field(ge=0)
    running: int = Field(ge=0)


class SampleList(Wire):
    samples: list[Sample]


class EventList(Wire):
    events: list[Event]


class Shortfall(Wire):
    """A resource the request needs more of than the project's quota (or the cloud) has left."""

    resource: str
    needed: int
    available: int
    message: str


class QuotaLine(Wire):
    resource: str
    needed: int
    in_use: int
    reserved: int = Field(description="held by the project's clusters being made whose servers the cloud does not "
                                      "count yet")
    limit: int = Field(description="-1: unlimited")


class PlanResource(Wire):
    kind: str
    name: str
    cidr: str = Omitted
    fixed_ip: str = Omitted
    flavor: str = Omitted
    image: str = Omitted


class PlanNetwork(Wire):
    """The network a cluster is given: its subnet the nodes' ports are on."""

    id: str
    name: str
    subnet_id: str
    cidr: str
    given: Literal[True]


class NetworkRef(Wire):
    id: str
    name: str


class Plan(Settled):
    """What a create would make and use; nothing is created. ``network``: the given network
    (null: the cluster makes its own, of ``cidr``); ``external_network``: of the router's
    gateway and the floating IP (null: no floating IP, on a given network that is not routed,
    with ready=servers); ``routing``: on a given network, what the caller could see of its
    route to the external network."""

    cluster: str
    cidr: str
    network: Optional[PlanNetwork]
    external_network: Optional[NetworkRef]
    routing: Optional[str]
    nodes: list[str]
    keypair: str
    ready: Literal["ssh", "servers"]
    users: list[dict] = Field(default=None, description="the logins the cluster would have, with their uids",
                              json_schema_extra=_no_default)
    options: ClusterOptions = Omitted
    resources: list[PlanResource]
    quota: list[QuotaLine]
    shortfalls: list[Shortfall]
    capacity: str = Field(description="how the cloud's capacity was checked (Placement, the hypervisor statistics), "
                                      "or that it was skipped: the cloud shows neither")


class PlanBody(Wire):
    plan: Plan


class ErrorDetail(Wire):
    code: int = Field(description="the HTTP status")
    title: str
    message: str
    shortfalls: list[Shortfall] = Field(default=None, description="on a quota refusal: every shortfall",
                                        json_schema_extra=_no_default)


class Error(Wire):
    """Every error answer."""

    error: ErrorDetail


REQUESTS = (CreateBody, NodesBody, ScaleBody, ElasticBody)
RESPONSES = (VersionBody, ProfileList, ClusterList, ClusterBody, CreateAccepted, PlanBody, NodesChange, NodeList,
             EventList, SampleList, Error)


@functools.cache
def component_schemas() -> dict[str, dict]:
    """Every model's schema under its name, nested models hoisted beside them, each ``$ref``
    pointing into ``#/components/schemas``. Built once (10 ms), shared: read it, never change it."""
    _, defs = models_json_schema([(m, "validation") for m in REQUESTS] + [(m, "serialization") for m in RESPONSES],
                                 ref_template=REF + "{model}")
    return defs["$defs"]
