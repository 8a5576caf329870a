"""The power-state sync's rule (compute/power.py ``decide``), pure: Nova's
``_sync_instance_power_state`` for the states caas has, and caas's one change (an ACTIVE server
whose instance the driver does not have at all is SHUTOFF, not left ACTIVE). The sync itself
runs against real instances in tests/e2e/test_netns_power.py."""

from __future__ import annotations

import pytest

from caas.compute.power import Decision, decide
from caas.virt.driver import CRASHED, NOSTATE, RUNNING, SHUTDOWN


@pytest.mark.parametrize("observed, expected", [
    (RUNNING, None),
    (SHUTDOWN, Decision("stopped", SHUTDOWN)),
    (CRASHED, Decision("stopped", CRASHED)),  # died on its own: SHUTOFF, power state Crashed
    (NOSTATE, Decision("stopped", SHUTDOWN)),  # gone (caas cleanup --all): Nova would keep it ACTIVE
])
def test_an_active_server_follows_its_instance(observed, expected):
    assert decide("active", RUNNING, observed) == expected


def test_an_active_server_recorded_not_running_is_corrected_when_it_runs():
    assert decide("active", NOSTATE, RUNNING) == Decision("active", RUNNING)


def test_a_stopped_server_whose_instance_runs_is_powered_off():
    assert decide("stopped", SHUTDOWN, RUNNING) == Decision("stopped", SHUTDOWN, power_off=True)


@pytest.mark.parametrize("db_power", [SHUTDOWN, CRASHED])
@pytest.mark.parametrize("observed", [SHUTDOWN, CRASHED, NOSTATE])
def test_a_stopped_server_not_running_stays_as_recorded(db_power, observed):
    assert decide("stopped", db_power, observed) is None


def test_a_stopped_server_recorded_running_takes_the_drivers_state():
    assert decide("stopped", RUNNING, CRASHED) == Decision("stopped", CRASHED)
    assert decide("stopped", RUNNING, NOSTATE) == Decision("stopped", SHUTDOWN)


@pytest.mark.parametrize("vm_state", ["building", "error", "deleted"])
@pytest.mark.parametrize("observed", [RUNNING, SHUTDOWN, CRASHED, NOSTATE])
def test_other_states_are_left_alone(vm_state, observed):
    assert decide(vm_state, NOSTATE, observed) is None
