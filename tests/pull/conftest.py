"""Fixtures for the pull tests: real servers on loopback (see tests/pull_servers.py)."""

from pull_servers import partner_db, sshd  # noqa: F401  (fixtures)
