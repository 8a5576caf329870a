"""Compute hosts beyond the controller (issue 20): join tokens (tokens.py), the controller's
identity for its agents (tls.py), the host records and heartbeats (service.py, models.py) and
the compute agent that runs on a joined machine (agent.py)."""
