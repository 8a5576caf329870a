"""Request sequences for bench/keystone_diff.py: one module per area, each with ``sequence(api)``."""
