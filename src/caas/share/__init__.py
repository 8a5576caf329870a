"""Shared File Systems (Manila v2 subset): shares, their export locations and access rules."""
