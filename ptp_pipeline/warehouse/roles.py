"""PostgreSQL roles, one per audience (DuckDB has no roles: analysts get Parquet exports).

- `ptp_analyst`: reads `shared` and nothing else; writes nothing.
- `ptp_pipeline`: the pipeline's own role: reads and writes every zone; may only INSERT into the
  audit log (append-only: no UPDATE or DELETE there).
- `ptp_reidentifier`: a named re-identifier: reads `shared` and `restricted`, writes nothing.

Roles are NOLOGIN group roles: a deployment grants them to login roles (`GRANT ptp_analyst TO alice`).
Roles live in the whole server, so creating them tolerates another database having made them first.
"""

from __future__ import annotations

ROLES = ("ptp_analyst", "ptp_pipeline", "ptp_reidentifier")


def _create(role: str) -> str:
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} NOLOGIN; "
        f"END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )


CREATE_ROLES = [_create(r) for r in ROLES]

GRANTS = [
    "REVOKE ALL ON SCHEMA ops, restricted FROM PUBLIC",
    "REVOKE CREATE ON SCHEMA shared FROM PUBLIC",
    "GRANT USAGE ON SCHEMA shared TO ptp_analyst, ptp_pipeline, ptp_reidentifier",
    "GRANT USAGE ON SCHEMA ops TO ptp_pipeline",
    "GRANT USAGE ON SCHEMA restricted TO ptp_pipeline, ptp_reidentifier",
    "GRANT SELECT ON ALL TABLES IN SCHEMA shared TO ptp_analyst, ptp_reidentifier",
    "GRANT SELECT ON ALL TABLES IN SCHEMA restricted TO ptp_reidentifier",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shared, ops, restricted TO ptp_pipeline",
    "REVOKE UPDATE, DELETE, TRUNCATE ON ops.audit_log FROM ptp_pipeline",
]
