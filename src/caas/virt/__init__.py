"""Hypervisor drivers: the protocol every driver implements (driver.py), the fake driver
(fake.py) and the netns driver (netns/)."""

from __future__ import annotations

from caas.virt.driver import Driver, DriverError


def driver_for(settings, db) -> Driver:
    """The driver ``settings.driver`` names (netns is imported only when chosen)."""
    if settings.driver == "fake":
        from caas.virt.fake import FakeDriver

        return FakeDriver(settings.fake_hosts, settings.fake_boot_delay, settings.fake_failure_rate)
    if settings.driver == "netns":
        from caas.virt.netns.driver import NetnsDriver

        return NetnsDriver(settings, db)
    raise DriverError(f"unknown driver {settings.driver!r}")
