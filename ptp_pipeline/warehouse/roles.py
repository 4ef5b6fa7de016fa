"""PostgreSQL roles, one per audience (DuckDB has no roles: analysts get the published tier's exports).

Two tiers of access for people outside the pipeline (issue 16.1):
- `ptp_analyst` (a partner's analyst): reads `published` only: aggregates that passed disclosure control
  (the report's tables and the report itself). No row of it is about one person, so a partner holding its
  own raw extract has nothing to join it to. Writes nothing; cannot take the pipeline's locks.
- `ptp_researcher` (a named researcher in the restricted environment): reads `research`: record-level,
  pseudonymised and generalised tables (project.yaml `research:`), and only once its login has declared a
  purpose (`research.declare_purpose`, recorded in `ops.research_purpose`; row-level security hides every
  row until then). Never `shared`, `restricted` or `ops`.

- `ptp_pipeline`: the pipeline's own role: reads and writes rows in every zone; may only INSERT into
  the audit log and its recorded heads (append-only: no UPDATE or DELETE there). It owns nothing and
  runs no DDL: the admin login that owns the schemas runs `ptp migrate`, which creates tables and
  re-grants these privileges.
- `ptp_reidentifier`: a named re-identifier: reads `shared` and `restricted` except the vault, which it
  opens only through `restricted.request_vault` (committed on its own: the record of the opening, as its
  login, in `ops.vault_access`) then `restricted.open_vault_records` (only the requested records, only once
  the request has committed); writes only its own audit entries.

Roles are NOLOGIN group roles: a deployment grants them to login roles (`GRANT ptp_analyst TO alice`).
Roles live in the whole server, so creating them tolerates another database having made them first.
"""

from __future__ import annotations

ROLES = ("ptp_analyst", "ptp_pipeline", "ptp_reidentifier", "ptp_researcher")


def create_role(role: str) -> str:
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} NOLOGIN; "
        f"END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )


# Migration 2's roles (released: the researcher role is created by migration 34).
CREATE_ROLES = [create_role(r) for r in ("ptp_analyst", "ptp_pipeline", "ptp_reidentifier")]

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
    # A committed request first (restricted.request_vault), then the opening: a rollback cannot erase the record.
    "REVOKE SELECT ON restricted.vault, restricted.vault_record, restricted.optout_sealed FROM ptp_reidentifier",
    "REVOKE EXECUTE ON FUNCTION restricted.open_vault(VARCHAR, VARCHAR) FROM ptp_reidentifier",
    "GRANT EXECUTE ON FUNCTION restricted.request_vault(VARCHAR, BIGINT[], VARCHAR), "
    "restricted.open_vault_records(BIGINT) TO ptp_reidentifier",
    "REVOKE ALL ON ops.vault_access FROM ptp_pipeline, ptp_analyst, ptp_reidentifier",
    "GRANT SELECT ON ops.vault_access TO ptp_pipeline",
    # A re-identifier's login signs its own audit entries: it appends to the log under the audit lock.
    "GRANT USAGE ON SCHEMA ops TO ptp_reidentifier",
    "GRANT SELECT, INSERT ON ops.audit_log TO ptp_reidentifier",
    "GRANT SELECT, INSERT, UPDATE ON ops.audit_lock TO ptp_reidentifier",
    # Tiers: an analyst reads the published aggregates and nothing record-level (not `shared`, not the ledger).
    "REVOKE ALL ON ALL TABLES IN SCHEMA shared FROM ptp_analyst",
    "REVOKE USAGE ON SCHEMA shared FROM ptp_analyst",
    "REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM ptp_analyst",
    "REVOKE USAGE ON SCHEMA ops FROM ptp_analyst",
    "REVOKE ALL ON SCHEMA published, research FROM PUBLIC",
    "GRANT USAGE ON SCHEMA published TO ptp_analyst, ptp_pipeline, ptp_reidentifier, ptp_researcher",
    "GRANT SELECT ON ALL TABLES IN SCHEMA published TO ptp_analyst, ptp_reidentifier, ptp_researcher",
    "GRANT USAGE ON SCHEMA research TO ptp_pipeline, ptp_researcher",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA published, research TO ptp_pipeline",
    # Row-level security on research tables shows rows only after the login declared a purpose.
    "GRANT SELECT ON ALL TABLES IN SCHEMA research TO ptp_researcher",
    "GRANT EXECUTE ON FUNCTION research.declare_purpose(VARCHAR), research.purpose_declared() "
    "TO ptp_researcher, ptp_pipeline",
    "REVOKE ALL ON ops.research_purpose FROM ptp_analyst, ptp_reidentifier, ptp_researcher",
    "REVOKE UPDATE, DELETE, TRUNCATE ON ops.research_purpose FROM ptp_pipeline",
    # Bulk loads drop and rebuild secondary indexes only through these owner's functions; the stash of dropped
    # definitions is theirs alone (a login that could delete from it could commit without an index).
    "REVOKE ALL ON ops.bulk_index FROM ptp_pipeline, ptp_analyst, ptp_reidentifier, ptp_researcher",
    "GRANT EXECUTE ON FUNCTION ops.bulk_drop_indexes(VARCHAR), ops.bulk_rebuild_indexes(VARCHAR) TO ptp_pipeline",
]
