"""What one running cluster operation holds (``Work``), and the three ways a step ends early:
``StepFailed`` (the step could not do its work: rolled back, the message is the user's
reason), ``Cancelled`` (a delete came: the work turns into the delete) and ``Interrupted``
(caas is stopping: the record stays for the next start to resume).
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from caas.clusters.models import Cluster, ClusterNode

if TYPE_CHECKING:
    from caas.clusters import guest


class StepFailed(Exception):
    """A step could not do its work; the message is for the user."""


class Cancelled(Exception):
    """A delete was asked for while the work ran."""


class Interrupted(Exception):
    """caas is stopping: leave the record as it is, the next start resumes."""


@dataclass
class Work:
    """One operation's view of its cluster."""

    cluster: Cluster
    conn: object
    operation: str = ""
    head: "guest.Head | None" = None  # one SSH session to the head per operation
    ids: dict[str, str] = field(default_factory=dict)  # network, subnet, router, sg_head, sg_cluster, external
    names: list[str] = field(default_factory=list)  # the nodes an add or a removal is about
    user_key: str = ""  # the user's public key, for the servers booted
    nodes: list[ClusterNode] = field(default_factory=list)  # the nodes a create or an add makes ready
    pushed: "cf.Future | None" = None  # an add's /etc/hosts push to the nodes that stay
    token: str = ""  # the requester's token, to delete the cluster's credential (never stored)
    started: float = 0.0

    @property
    def id(self) -> str:
        return self.cluster.id
