"""Versioned schema migrations owned by the project, applied idempotently at start.

Each migration has a unique version number and is applied once (any version not yet recorded in
ops.schema_version is applied, in version order). Never edit a released migration: add one.

Three schemas, one per audience: `shared` (analysts), `ops` (operators), `restricted`
(pipeline and named re-identifiers only).
"""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "zones, ledger, audit, linkage and shared tables", [
        "CREATE SCHEMA IF NOT EXISTS shared",
        "CREATE SCHEMA IF NOT EXISTS ops",
        "CREATE SCHEMA IF NOT EXISTS restricted",
        """CREATE TABLE IF NOT EXISTS ops.extract_ledger (
            extract_id VARCHAR PRIMARY KEY, partner VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
            protocol_id VARCHAR, protocol_version INTEGER, file_name VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL UNIQUE, received_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL,
            rows_received BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT, reason VARCHAR,
            key_id VARCHAR, merged_at TIMESTAMP, docs_url VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS ops.audit_log (
            seq BIGINT PRIMARY KEY, logged_at TIMESTAMP NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
            extract_id VARCHAR, detail VARCHAR, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS restricted.link_record (
            record_id VARCHAR NOT NULL, extract_id VARCHAR NOT NULL, source_row BIGINT NOT NULL,
            partner VARCHAR NOT NULL, birth_year INTEGER, sex VARCHAR, district VARCHAR,
            event_date DATE, person_id BIGINT)""",
        """CREATE TABLE IF NOT EXISTS restricted.record_key (
            record_id VARCHAR NOT NULL, key_type VARCHAR NOT NULL, token VARCHAR NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS restricted.person_key (
            key_type VARCHAR NOT NULL, token VARCHAR NOT NULL, person_id BIGINT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS restricted.quarantine (
            extract_id VARCHAR NOT NULL, source_row BIGINT, field VARCHAR, check_name VARCHAR NOT NULL,
            problem VARCHAR NOT NULL, hint VARCHAR, status VARCHAR NOT NULL DEFAULT 'open')""",
        """CREATE TABLE IF NOT EXISTS shared.person (
            person_id BIGINT PRIMARY KEY, birth_year INTEGER, sex VARCHAR, area VARCHAR,
            first_seen DATE, last_seen DATE, agencies VARCHAR, n_agencies INTEGER,
            n_events BIGINT, total_cost DECIMAL(14, 2))""",
        """CREATE TABLE IF NOT EXISTS shared.pathway_event (
            event_id VARCHAR NOT NULL, person_id BIGINT, agency VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
            event_type VARCHAR NOT NULL, event_date DATE NOT NULL, setting VARCHAR, cost DECIMAL(12, 2),
            attributes VARCHAR, extract_id VARCHAR NOT NULL)""",
    ]),
    (3, "quality: quarantine file lines and resolution, extract corrections", [
        "ALTER TABLE restricted.quarantine ADD COLUMN IF NOT EXISTS source_line BIGINT",
        "ALTER TABLE restricted.quarantine ADD COLUMN IF NOT EXISTS resolved_by VARCHAR",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS corrects VARCHAR",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS superseded_by VARCHAR",
    ]),
]

LATEST = max(v for v, _, _ in MIGRATIONS)
