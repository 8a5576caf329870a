"""Holds ``AvailabilityZoneFilter``: the requested zone, or the one forced host."""

from __future__ import annotations

from caas.compute.scheduler.state import HostState, RequestSpec


class AvailabilityZoneFilter:
    """Without a zone or a forced host every host passes. With ``spec.force_host`` (the HOST
    of an admin's "AZ:HOST" zone) only the host of that name passes, whatever its zone: as in
    Nova the forced host decides the zone. Unlike Nova the other filters still run on a
    forced host, because the capacity claim must hold there too. Otherwise a host passes
    when its zone equals ``spec.availability_zone`` exactly."""

    name = "AvailabilityZoneFilter"

    def applies(self, spec: RequestSpec) -> bool:
        return spec.force_host is not None or spec.availability_zone is not None

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        if spec.force_host is not None:
            return host.name == spec.force_host
        return spec.availability_zone is None or host.availability_zone == spec.availability_zone
