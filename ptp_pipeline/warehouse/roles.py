"""PostgreSQL roles, one per audience (DuckDB has no roles: analysts get Parquet exports).

- `ptp_analyst`: reads `shared` (plus the ledger's outcome columns the report's quality section shows);
  writes nothing; cannot take the pipeline's locks (`ops.merge_lock`).
- `ptp_pipeline`: the pipeline's own role: reads and writes rows in every zone; may only INSERT into
  the audit log and its recorded heads (append-only: no UPDATE or DELETE there). It owns nothing and
  runs no DDL: the admin login that owns the schemas runs `ptp migrate`, which creates tables and
  re-grants these privileges.
- `ptp_reidentifier`: a named re-identifier: reads `shared` and `restricted` except the vault, which it
  opens only through `restricted.open_vault` (each opening recorded as its login in `ops.vault_access`);
  writes only its own audit entries.

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

#: Applied by `ptp migrate` after every migration (never inside one: they name tables added later).
GRANTS_AFTER_MIGRATIONS = [
    "REVOKE UPDATE, DELETE, TRUNCATE ON ops.audit_log, ops.audit_head FROM ptp_pipeline",
    "REVOKE ALL ON ops.merge_lock FROM ptp_analyst, ptp_reidentifier",
    # The report's quality section (rows accepted and held back per extract) for analysts; nothing else in ops.
    # The vault opens only through restricted.open_vault (which records each opening): no direct SELECT.
    "REVOKE SELECT ON restricted.vault, restricted.optout_sealed FROM ptp_reidentifier",
    "GRANT EXECUTE ON FUNCTION restricted.open_vault(VARCHAR, VARCHAR) TO ptp_reidentifier",
    "REVOKE ALL ON ops.vault_access FROM ptp_pipeline, ptp_analyst, ptp_reidentifier",
    "GRANT SELECT ON ops.vault_access TO ptp_pipeline",
    # A re-identifier's login signs its own audit entries: it appends to the log under the audit lock.
    "GRANT USAGE ON SCHEMA ops TO ptp_reidentifier",
    "GRANT SELECT, INSERT ON ops.audit_log TO ptp_reidentifier",
    "GRANT SELECT, INSERT, UPDATE ON ops.audit_lock TO ptp_reidentifier",
    "GRANT USAGE ON SCHEMA ops TO ptp_analyst",
    "GRANT SELECT (extract_id, partner, dataset, received_at, status, rows_accepted, rows_quarantined) "
    "ON ops.extract_ledger TO ptp_analyst",
]
