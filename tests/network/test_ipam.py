"""IPAM's pure functions: CIDRs, gateways, pools, allocation order."""

import pytest

from caas.errors import BadRequest
from caas.network import ipam


def test_default_pools_skip_network_gateway_and_broadcast():
    net = ipam.parse_cidr("192.168.2.0/23")
    assert ipam.default_pools(net, "192.168.2.1") == [{"start": "192.168.2.2", "end": "192.168.3.254"}]
    assert ipam.default_pools(net, "192.168.2.100") == [
        {"start": "192.168.2.1", "end": "192.168.2.99"}, {"start": "192.168.2.101", "end": "192.168.3.254"}]
    assert ipam.default_pools(net, None) == [{"start": "192.168.2.1", "end": "192.168.3.254"}]


@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.1.1.0/24", "abc", "10.0.0.0/31", "", "fe80::/127"])
def test_bad_cidrs(cidr):
    with pytest.raises(BadRequest):
        ipam.parse_cidr(cidr)


def test_cidr_version_must_match():
    with pytest.raises(BadRequest):
        ipam.parse_cidr("10.0.0.0/24", ip_version=6)
    assert str(ipam.parse_cidr("fd00::/64", ip_version=6)) == "fd00::/64"


@pytest.mark.parametrize("gateway", ["10.0.1.1", "10.0.0.0", "10.0.0.255", "nope"])
def test_gateway_outside_or_unusable(gateway):
    with pytest.raises(BadRequest):
        ipam.validate_gateway(ipam.parse_cidr("10.0.0.0/24"), gateway)


@pytest.mark.parametrize("pools", [
    [{"start": "10.0.0.200", "end": "10.0.1.5"}],     # beyond the CIDR
    [{"start": "10.0.0.0", "end": "10.0.0.5"}],       # the network address
    [{"start": "10.0.0.9", "end": "10.0.0.5"}],       # start after end
    [{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.9", "end": "10.0.0.20"}],  # overlap
    [{"start": "10.0.0.1", "end": "10.0.0.9"}],       # holds the gateway
])
def test_bad_pools(pools):
    with pytest.raises(BadRequest):
        ipam.validate_pools(ipam.parse_cidr("10.0.0.0/24"), pools, "10.0.0.1")


def test_first_free_and_size():
    pools = [{"start": "10.0.0.2", "end": "10.0.0.4"}, {"start": "10.0.0.10", "end": "10.0.0.10"}]
    assert ipam.pool_size(pools) == 4
    assert ipam.first_free(pools, []) == "10.0.0.2"
    assert ipam.first_free(pools, ["10.0.0.2", "10.0.0.3", "10.0.0.4"]) == "10.0.0.10"
    assert ipam.first_free(pools, ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.10"]) is None


# netaddr's text (what Nova and Neutron answer), read from netaddr 1.3 on this machine's glibc
@pytest.mark.parametrize(("given", "text"), [
    ("0000:0000:0000:0000:0000:babe:220.12.22.2", "::babe:dc0c:1602"), ("2001:0DB8::0001", "2001:db8::1"),
    ("::1", "::1"), ("::", "::"), ("::ffff", "::ffff"), ("::FFFF:1.2.3.4", "::ffff:1.2.3.4"),
    ("::ffff:0:0", "::ffff:0.0.0.0"), ("::1:0", "::0.1.0.0"), ("::fffe:1.2.3.4", "::fffe:102:304"),
    ("64:ff9b::1.2.3.4", "64:ff9b::102:304"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("10.0.0.1", "10.0.0.1"),
])
def test_ip_text_is_netaddrs(given, text):
    assert ipam.ip_text(given) == text


def test_ipv6_cidrs_in_any_spelling_ipv4_ones_must_name_the_network():
    assert ipam.net_text(ipam.parse_cidr("2001:0DB8:0:1::1/64")) == "2001:db8:0:1::/64"
    assert ipam.net_text(ipam.parse_cidr("::FFFF:10.0.0.0/120")) == "::ffff:10.0.0.0/120"
    with pytest.raises(BadRequest, match="use '10.0.0.0/24'"):
        ipam.parse_cidr("10.0.0.1/24")
