"""caas: Cluster as a Service on an embedded OpenStack-compatible cloud."""

__version__ = "0.1.0"
