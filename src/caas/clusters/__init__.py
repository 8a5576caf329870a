"""Cluster as a Service: clusters and their nodes on any OpenStack cloud, through openstacksdk only."""
