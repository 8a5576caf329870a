"""The Neutron extensions caas implements, as ``GET /v2.0/extensions`` describes them."""

from __future__ import annotations

# What Neutron's GET /v2.0/extensions says of each extension caas implements: alias -> (name,
# description, updated), verbatim from neutron-lib's API definitions (the real service's answer).
# standard-attr-tag's name lists the resources that take tags: caas's, not Neutron's longer list.
EXTENSIONS = {
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs", "2013-07-23T10:00:00-00:00"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external application",
                "2014-02-03T10:00:00-00:00"),
    "external-net": ("Neutron external network", "Adds external network attribute to network resource.",
                     "2013-01-14T10:00:00-00:00"),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "Extension of the router abstraction for "
                    "specifying whether SNAT should occur on the external gateway", "2013-03-28T10:00:00-00:00"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router", "2013-02-01T10:00:00-00:00"),
    "l3-port-ip-change-not-allowed": ("Prevent L3 router ports IP address change extension",
                                      "Prevent change of IP address for some L3 router ports",
                                      "2018-10-09T10:00:00-00:00"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource.", "2015-03-25T10:00:00-00:00"),
    "pagination": ("Pagination support", "Extension that indicates that pagination is enabled.",
                   "2016-06-12T00:00:00-00:00"),
    "port-security": ("Port Security", "Provides port security", "2012-07-23T10:00:00-00:00"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id field is enabled.",
                   "2016-09-09T09:09:09-09:09"),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical networks",
                 "2012-09-07T10:00:00-00:00"),
    "quotas": ("Quota management support", "Expose functions for quotas management per project",
               "2012-07-29T10:00:00-00:00"),
    "quota_details": ("Quota details management support", "Expose functions for quotas usage statistics per project",
                      "2017-02-10T10:00:00-00:00"),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 Neutron networks and "
               "access to external networks via a NAT gateway.", "2012-07-20T10:00:00-00:00"),
    "security-group": ("security-group", "The security groups extension.", "2012-10-05T10:00:00-00:00"),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled.", "2016-06-12T00:00:00-00:00"),
    "standard-attr-description": ("standard-attr-description", "Extension to add descriptions to standard "
                                  "attributes", "2016-02-10T10:00:00-00:00"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display the revision number of "
                                "neutron resources.", "2016-04-11T10:00:00-00:00"),
    "standard-attr-tag": ("Tag support for resources with standard attribute: network, subnet, port, router, "
                          "floatingip, security_group", "Enables to set tag on resources with standard attribute.",
                          "2017-01-01T00:00:00-00:00"),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at fields to all Neutron "
                                "resources that have Neutron standard attributes.", "2016-09-12T10:00:00-00:00"),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group is stateful or not",
                                "2019-11-26T09:00:00-00:00"),
    "subnet-external-network": ("Subnet belongs to an external network", "Informs if the subnet belongs to an "
                                "external network", "2024-02-05T18:00:00-00:00"),
    "tag-creation": ("Tag creation extension", "Allow to create multiple tags for a resource",
                     "2024-23-07T10:00:00-00:00"),
    "tag-ports-during-bulk-creation": ("Tag Ports During Bulk Creation", "Allow to tag ports during bulk creation",
                                       "2019-12-29T19:00:00-00:00"),
}


def describe(alias: str) -> dict:
    """An extension as Neutron shows it (the key order is Neutron's)."""
    name, description, updated = EXTENSIONS[alias]
    return {"name": name, "alias": alias, "description": description, "updated": updated, "links": []}
