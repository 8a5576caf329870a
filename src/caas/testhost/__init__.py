"""Test hosts on one machine (``scripts/testhost``): extra compute hosts as namespaces, bridged
only to each other and to this machine. ``hosts`` makes and removes them, ``init`` is each one's
first process, ``__main__`` the command line. Kept light: ``init`` imports this package."""
