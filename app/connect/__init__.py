"""Atlassian Connect: descriptor, lifecycle, JWT verification and the tenant repository."""
