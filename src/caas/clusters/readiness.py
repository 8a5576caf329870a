"""When a cluster counts as ready: its ``ready`` choice.

``ssh`` (the default): caas logs in to the head over its floating IP, waits for its setup and
for every node to report in (``Engine.bootstrap``, ``Engine.ready``). ``servers``: every server
ACTIVE with its addresses, as the cloud says, and nothing is asked of the guests: for images
without cloud-init, or clouds whose floating IPs caas cannot reach. CAAS_CLUSTER_GUEST=none
turns the guest checks off for every cluster (the tests' fake driver boots nothing).
"""

from __future__ import annotations

SSH, SERVERS = "ssh", "servers"
CHOICES = (SSH, SERVERS)


def choice(cluster) -> str:
    """The cluster's ``ready`` choice (SSH for a cluster made before there was one)."""
    return getattr(cluster, "ready", None) or SSH


def guest_checks(settings, cluster) -> bool:
    """Does caas log in to the cluster's guests (bootstrap, ready, health)?"""
    return settings.cluster_guest != "none" and choice(cluster) == SSH


def why_not(settings) -> str:
    """Why the guests are not asked (``guest_checks`` is False), for the step's event."""
    if settings.cluster_guest == "none":
        return "guest checks off (CAAS_CLUSTER_GUEST=none)"
    return "ready=servers: every server ACTIVE with its addresses"


def up(server, cluster) -> bool:
    """Is the cloud's ``server`` up as the cluster's choice wants it: ACTIVE, and with
    ``servers`` its addresses too (its ports bound on the cluster's network)."""
    if server.status != "ACTIVE":
        return False
    return choice(cluster) != SERVERS or bool(server.addresses)
