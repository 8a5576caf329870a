"""Command line: ``caas`` (``main``); ``up`` runs the server (``server``)."""
