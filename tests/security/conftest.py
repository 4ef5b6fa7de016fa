"""Fixtures for the security tests: real PostgreSQL logins, one per group role."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

from ptp_pipeline.warehouse.roles import ROLES

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def logins(pg_database: str) -> Iterator[dict[str, str]]:
    """One login per group role (as a deployment grants them), on a database the admin has migrated."""
    suffix = secrets.token_hex(4)
    names = {role: f"ptp_t{suffix}_{role.removeprefix('ptp_')}" for role in ROLES}
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for role, login in names.items():
            admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    yield {role: pg_database.replace("postgres@", f"{login}@") for role, login in names.items()}
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        for login in names.values():
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [login])
            admin.execute(f"DROP ROLE IF EXISTS {login}")
