"""Hypervisor drivers: the protocol every driver implements (driver.py) and the drivers."""
