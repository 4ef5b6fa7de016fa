"""Versioned schema migrations owned by the project, applied idempotently at start.

Each migration has a unique version number and is applied once (any version not yet recorded in
ops.schema_version is applied, in version order). Never edit a released migration: add one.

Three schemas, one per audience: `shared` (analysts), `ops` (operators), `restricted`
(pipeline and named re-identifiers only).
"""

from __future__ import annotations

from ptp_pipeline.warehouse.roles import CREATE_ROLES, GRANTS, create_role

# A statement is plain SQL for every backend, or {dialect: SQL} for one backend only.
Statement = str | dict[str, str]

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
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
    (2, "roles, national data opt-out, period supersede, retention and removal counts", [
        *({"postgresql": sql} for sql in CREATE_ROLES),
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS period_start DATE",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS period_end DATE",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS rows_superseded BIGINT DEFAULT 0",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS rows_opted_out BIGINT DEFAULT 0",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS rows_purged BIGINT DEFAULT 0",
        """CREATE TABLE IF NOT EXISTS restricted.optout (
            token VARCHAR PRIMARY KEY, added_at TIMESTAMP NOT NULL)""",
        {"postgresql": "CREATE INDEX IF NOT EXISTS pathway_event_extract ON shared.pathway_event (extract_id)"},
        {"postgresql": "CREATE INDEX IF NOT EXISTS link_record_extract ON restricted.link_record (extract_id)"},
        {"postgresql": "CREATE INDEX IF NOT EXISTS record_key_record ON restricted.record_key (record_id)"},
        *({"postgresql": sql} for sql in GRANTS),
    ]),
    (4, "derived pathway tables for analysts (rebuilt by ptp_pipeline.pathways.rebuild)", [
        """CREATE TABLE IF NOT EXISTS shared.person_pathway (
            person_id BIGINT NOT NULL, seq INTEGER NOT NULL, event_id VARCHAR NOT NULL, agency VARCHAR NOT NULL,
            dataset VARCHAR NOT NULL, event_type VARCHAR NOT NULL, event_date DATE NOT NULL,
            days_since_previous INTEGER, cost DECIMAL(12, 2))""",
        """CREATE TABLE IF NOT EXISTS shared.transitions (
            from_agency VARCHAR NOT NULL, from_event_type VARCHAR NOT NULL, to_agency VARCHAR NOT NULL,
            to_event_type VARCHAR NOT NULL, transitions BIGINT NOT NULL, persons BIGINT NOT NULL,
            median_days DOUBLE PRECISION)""",
        """CREATE TABLE IF NOT EXISTS shared.cost_concentration (
            top_percent INTEGER NOT NULL, persons BIGINT NOT NULL, cost DECIMAL(16, 2) NOT NULL,
            cost_share DOUBLE PRECISION NOT NULL, gini DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS shared.cohort_priority (
            person_id BIGINT NOT NULL, cost_rank INTEGER NOT NULL, total_cost DECIMAL(14, 2),
            agencies VARCHAR, n_agencies INTEGER, n_events BIGINT, events_by_agency VARCHAR,
            first_seen DATE, last_seen DATE)""",
        """CREATE TABLE IF NOT EXISTS shared.agency_overlap (
            agencies VARCHAR NOT NULL, n_agencies INTEGER NOT NULL, persons BIGINT NOT NULL,
            events BIGINT NOT NULL, cost DECIMAL(16, 2))""",
        """CREATE TABLE IF NOT EXISTS shared.monthly_activity (
            month DATE NOT NULL, agency VARCHAR NOT NULL, event_type VARCHAR NOT NULL, events BIGINT NOT NULL,
            persons BIGINT NOT NULL, cost DECIMAL(16, 2))""",
    ]),
    (3, "quality: quarantine file lines and resolution, extract corrections", [
        "ALTER TABLE restricted.quarantine ADD COLUMN IF NOT EXISTS source_line BIGINT",
        "ALTER TABLE restricted.quarantine ADD COLUMN IF NOT EXISTS resolved_by VARCHAR",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS corrects VARCHAR",
        "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS superseded_by VARCHAR",
    ]),
]

MIGRATIONS.append((8, "re-identification vault", [
    """CREATE TABLE IF NOT EXISTS restricted.vault (
        extract_id VARCHAR PRIMARY KEY, key_id VARCHAR NOT NULL, wrapped_key BYTEA NOT NULL,
        nonce BYTEA NOT NULL, ciphertext BYTEA NOT NULL)""",
]))

MIGRATIONS.append((5, "pull records and watermarks; the ledger says where each extract came from", [
    "ALTER TABLE ops.extract_ledger ADD COLUMN IF NOT EXISTS source VARCHAR",
    """CREATE TABLE IF NOT EXISTS ops.pull_record (
        pull_id VARCHAR PRIMARY KEY, partner VARCHAR NOT NULL, dataset VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        conn_id VARCHAR NOT NULL, remote VARCHAR NOT NULL, remote_size BIGINT, remote_mtime BIGINT,
        watermark_from VARCHAR, watermark_to VARCHAR, rows_pulled BIGINT, file_name VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL, pulled_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL, extract_id VARCHAR,
        settled_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS ops.pull_watermark (
        partner VARCHAR NOT NULL, dataset VARCHAR NOT NULL, watermark VARCHAR NOT NULL,
        extract_id VARCHAR NOT NULL, updated_at TIMESTAMP NOT NULL, PRIMARY KEY (partner, dataset))""",
]))

MIGRATIONS.append((9, "households: address tokens, households, members, family pathways and cohort", [
    # Keyed address tokens per record (no raw address: that lives only in the sealed vault).
    """CREATE TABLE IF NOT EXISTS restricted.record_address (
        record_id VARCHAR NOT NULL, extract_id VARCHAR NOT NULL, addr_uprn VARCHAR, addr_flat VARCHAR,
        addr_street VARCHAR, communal BOOLEAN, address_from DATE)""",
    # Where each person was placed and for when; the address is an internal number, never a token.
    """CREATE TABLE IF NOT EXISTS restricted.residence (
        person_id BIGINT NOT NULL, address_id BIGINT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL,
        communal BOOLEAN NOT NULL, household_id BIGINT)""",
    """CREATE TABLE IF NOT EXISTS shared.household (
        household_id BIGINT PRIMARY KEY, size_band VARCHAR NOT NULL, area VARCHAR, first_seen DATE,
        last_seen DATE, agencies VARCHAR, n_agencies INTEGER, total_cost DECIMAL(14, 2))""",
    """CREATE TABLE IF NOT EXISTS shared.household_member (
        household_id BIGINT NOT NULL, person_id BIGINT NOT NULL, from_date DATE NOT NULL, to_date DATE NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS shared.household_pathway (
        household_id BIGINT NOT NULL, event_id VARCHAR NOT NULL, person_id BIGINT NOT NULL, agency VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL, event_date DATE NOT NULL, cost DECIMAL(12, 2))""",
    """CREATE TABLE IF NOT EXISTS shared.cohort_priority_families (
        household_id BIGINT PRIMARY KEY, cost_rank BIGINT NOT NULL, total_cost DECIMAL(14, 2))""",
    # Published aggregate: counts already suppressed and rounded (disclosure control).
    """CREATE TABLE IF NOT EXISTS shared.household_cost_concentration (
        band VARCHAR NOT NULL, households VARCHAR NOT NULL, cost_share DOUBLE PRECISION)""",
]))


# Linkage on per-field tokens (ptp_pipeline.linkage): one row per distinct identity, person ids on
# identities and records, the trained model, and the clerical-review band. The combined match-key
# tokens (record_key, person_key) are gone: every token now lives once, on its identity.
_TOKEN_COLS = ", ".join(f"{c} VARCHAR" for c in (
    "nhs", "ni", "uln", "shared_ref", "local_id", "fn", "fn_full", "sn", "fn_ph", "sn_ph", "fn3", "sn3", "fn_l3",
    "sn_l3", "fn_srt", "sn_srt", "fn_i", "dob", "dob_sw", "dob_y", "dob_m", "dob_d", "pc", "pc_sec", "pc_dist", "sex"))
_TOKEN_INDEXES = {"nhs": "nhs", "ni": "ni", "uln": "uln", "shared_ref": "shared_ref", "local_id": "local_id",
                  "dob": "dob, sn_ph", "dob_fn": "dob, fn_ph", "dob_pc": "dob, pc", "dob_sw": "dob_sw",
                  "names": "fn, sn", "phon": "sn_ph, fn_ph", "person": "person_id"}
MIGRATIONS.append((10, "linkage identities with per-field tokens, link model and review; touched-only merges", [
    f"""CREATE TABLE IF NOT EXISTS restricted.link_identity (
        ident VARCHAR PRIMARY KEY, person_id BIGINT NOT NULL, link_pass VARCHAR NOT NULL,
        match_probability DOUBLE PRECISION, first_extract VARCHAR, {_TOKEN_COLS})""",
    "ALTER TABLE restricted.link_record ADD COLUMN IF NOT EXISTS ident VARCHAR",
    """CREATE TABLE IF NOT EXISTS restricted.linkage_model (
        model_id BIGINT PRIMARY KEY, trained_at TIMESTAMP NOT NULL, identities BIGINT NOT NULL,
        settings VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS restricted.link_review (
        review_id BIGINT PRIMARY KEY, ident_l VARCHAR NOT NULL, ident_r VARCHAR NOT NULL,
        match_probability DOUBLE PRECISION NOT NULL,
        found_in VARCHAR, decision VARCHAR, decided_by VARCHAR, decided_at TIMESTAMP)""",
    "DROP TABLE IF EXISTS restricted.person_key",
    "DROP TABLE IF EXISTS restricted.record_key",
    *({"postgresql": f"CREATE INDEX IF NOT EXISTS link_identity_{name} ON restricted.link_identity ({cols})"}
      for name, cols in _TOKEN_INDEXES.items()),
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_record_person ON restricted.link_record (person_id)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_record_ident ON restricted.link_record (ident)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_record_id ON restricted.link_record (record_id)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS pathway_event_person ON shared.pathway_event (person_id)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS pathway_event_id ON shared.pathway_event (event_id)"},
]))

MIGRATIONS.append((11, "term frequencies of name and postcode tokens over every stored identity (linkage TF)", [
    """CREATE TABLE IF NOT EXISTS restricted.link_token_tf (
        col VARCHAR NOT NULL, token VARCHAR NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (col, token))""",
    "CREATE TABLE IF NOT EXISTS restricted.link_token_total (col VARCHAR PRIMARY KEY, n BIGINT NOT NULL)",
    *(f"INSERT INTO restricted.link_token_tf (col, token, n) SELECT '{c}', {c}, count(*) "
      f"FROM restricted.link_identity WHERE {c} IS NOT NULL GROUP BY {c}" for c in ("fn_full", "sn", "pc")),
    "INSERT INTO restricted.link_token_total (col, n) SELECT col, sum(n) FROM restricted.link_token_tf GROUP BY col",
]))


MIGRATIONS.append((12, "address as person evidence: house number, street, its first letters and locality tokens", [
    *(f"ALTER TABLE restricted.link_identity ADD COLUMN IF NOT EXISTS {c} VARCHAR"
      for c in ("ad_no", "ad_st", "ad_st5", "ad_loc")),
    # Candidate search joins on the address blocking rules' equalities (engine._candidates).
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_address ON restricted.link_identity (ad_st, ad_no)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_address5 ON restricted.link_identity (ad_st5, ad_no)"},
]))

MIGRATIONS.append((13, "candidate search by surname: blocking rules join on it with the postcode, or with the "
                       "forename's first letters and the month and year of birth, and a night's identities look "
                       "their candidates up through them", [
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_surname ON restricted.link_identity (sn)"},
]))

MIGRATIONS.append((20, "protocol approval integrity: content hash of each approved version when first used", [
    """CREATE TABLE IF NOT EXISTS ops.protocol_approval (
        protocol_id VARCHAR NOT NULL, version INTEGER NOT NULL, content_sha256 VARCHAR NOT NULL,
        first_used_at TIMESTAMP NOT NULL, first_extract_id VARCHAR, PRIMARY KEY (protocol_id, version))""",
]))


MIGRATIONS.append((30, "least privilege: an ops lock table only the pipeline can lock; append-only audit log", [
    # Row locks here replace public advisory keys: only logins with UPDATE on it (the pipeline) can lock.
    "CREATE TABLE IF NOT EXISTS ops.merge_lock (name VARCHAR PRIMARY KEY)",
    # The audit log refuses UPDATE, DELETE and TRUNCATE from every login, its owner included.
    {"postgresql": """CREATE OR REPLACE FUNCTION ops.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'ops.audit_log is append-only: entries are never changed or removed'
              USING ERRCODE = 'insufficient_privilege'; END $$"""},
    {"postgresql": "DROP TRIGGER IF EXISTS audit_log_append_only ON ops.audit_log"},
    {"postgresql": "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ops.audit_log "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ops.audit_log_append_only()"},
]))

MIGRATIONS.append((31, "audit you can trust: an HMAC per entry (key never in the database) and recorded heads", [
    "ALTER TABLE ops.audit_log ADD COLUMN IF NOT EXISTS mac VARCHAR",
    """CREATE TABLE IF NOT EXISTS ops.audit_head (
        seq BIGINT NOT NULL, hash VARCHAR NOT NULL, mac VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)""",
]))


MIGRATIONS.append((32, "opt-out lists sealed for the re-identifier, so key rotation can re-key the opt-out", [
    """CREATE TABLE IF NOT EXISTS restricted.optout_sealed (
        batch_id VARCHAR PRIMARY KEY, key_id VARCHAR NOT NULL, wrapped_key BYTEA NOT NULL, nonce BYTEA NOT NULL,
        ciphertext BYTEA NOT NULL, added_at TIMESTAMP NOT NULL)""",
]))


MIGRATIONS.append((33, "vault behind the audited route: opened only through a function that records each opening", [
    "CREATE TABLE IF NOT EXISTS ops.audit_lock (name VARCHAR PRIMARY KEY)",
    {"postgresql": """CREATE TABLE IF NOT EXISTS ops.vault_access (
        access_id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, login VARCHAR NOT NULL,
        accessed_at TIMESTAMP NOT NULL, extract_id VARCHAR NOT NULL, purpose VARCHAR NOT NULL)"""},
    # SECURITY DEFINER: runs as the schema owner, so a re-identifier's login needs no SELECT on the vault;
    # every opening is recorded as the session's login in the caller's transaction.
    {"postgresql": """CREATE OR REPLACE FUNCTION restricted.open_vault(p_extract_id VARCHAR, p_purpose VARCHAR)
        RETURNS TABLE (access_id BIGINT, key_id VARCHAR, wrapped_key BYTEA, nonce BYTEA, ciphertext BYTEA)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        #variable_conflict use_column
        DECLARE aid BIGINT;
        BEGIN
            IF length(coalesce(btrim(p_purpose), '')) < 10 THEN
                RAISE EXCEPTION 'the vault opens only for a stated purpose' USING ERRCODE = 'insufficient_privilege';
            END IF;
            INSERT INTO ops.vault_access (login, accessed_at, extract_id, purpose)
                VALUES (session_user, now()::timestamp, p_extract_id, p_purpose) RETURNING ops.vault_access.access_id
                INTO aid;
            RETURN QUERY SELECT aid, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
                FROM restricted.vault v WHERE v.extract_id = p_extract_id;
        END $$"""},
    {"postgresql": "REVOKE ALL ON FUNCTION restricted.open_vault(VARCHAR, VARCHAR) FROM PUBLIC"},
]))


# Two tiers of access (issue 16.1). `published`: aggregates that passed disclosure control, for partner
# analysts (what the report and `ptp export` give). `research`: record-level, pseudonymised and generalised
# (pathways/research.py), for a named researcher who has declared a purpose. `shared` stays the pipeline's.
MIGRATIONS.append((34, "two tiers: published aggregates for analysts, generalised research tables for researchers", [
    "CREATE SCHEMA IF NOT EXISTS published",
    "CREATE SCHEMA IF NOT EXISTS research",
    "CREATE TABLE IF NOT EXISTS published.headline (measure VARCHAR NOT NULL, value DOUBLE PRECISION)",
    """CREATE TABLE IF NOT EXISTS published.cost_concentration (
        top_percent INTEGER NOT NULL, cost_share DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS published.transitions (
        from_agency VARCHAR NOT NULL, to_agency VARCHAR NOT NULL, persons BIGINT, median_days BIGINT)""",
    """CREATE TABLE IF NOT EXISTS published.agency_overlap (
        known_to VARCHAR NOT NULL, kind VARCHAR NOT NULL, persons BIGINT, cost_share DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS published.monthly_activity (
        month VARCHAR NOT NULL, agency VARCHAR NOT NULL, events BIGINT)""",
    """CREATE TABLE IF NOT EXISTS published.data_quality (
        extract VARCHAR NOT NULL, accepted BIGINT, quarantined BIGINT, received BIGINT, partner VARCHAR,
        dataset VARCHAR, received_on VARCHAR, status VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS published.household_cost_concentration (
        band VARCHAR NOT NULL, households VARCHAR NOT NULL, cost_share DOUBLE PRECISION)""",
    "CREATE TABLE IF NOT EXISTS published.families (measure VARCHAR NOT NULL, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS published.report (
        name VARCHAR PRIMARY KEY, built_at TIMESTAMP NOT NULL, html VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS research.person (
        person_id BIGINT NOT NULL, birth_year VARCHAR, sex VARCHAR, area VARCHAR, first_seen DATE, last_seen DATE,
        agencies VARCHAR, n_agencies INTEGER, n_events BIGINT, cost_band VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS research.event (
        person_id BIGINT, seq INTEGER, agency VARCHAR NOT NULL, dataset VARCHAR NOT NULL, event_type VARCHAR NOT NULL,
        event_period DATE NOT NULL, setting VARCHAR, cost_band VARCHAR, attributes VARCHAR)""",
    {"postgresql": create_role("ptp_researcher")},
    # Each researcher's declared purpose, recorded as the login; research rows are visible only after one.
    """CREATE TABLE IF NOT EXISTS ops.research_purpose (
        login VARCHAR NOT NULL, declared_at TIMESTAMP NOT NULL, purpose VARCHAR NOT NULL)""",
    {"postgresql": """CREATE OR REPLACE FUNCTION research.declare_purpose(p_purpose VARCHAR) RETURNS VOID
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF length(coalesce(btrim(p_purpose), '')) < 10 THEN
                RAISE EXCEPTION 'research tables open only for a stated purpose'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            INSERT INTO ops.research_purpose (login, declared_at, purpose)
                VALUES (session_user, now()::timestamp, p_purpose);
        END $$"""},
    {"postgresql": """CREATE OR REPLACE FUNCTION research.purpose_declared() RETURNS BOOLEAN
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        SELECT EXISTS (SELECT 1 FROM ops.research_purpose WHERE login = session_user
                       AND declared_at > now()::timestamp - interval '30 days') $$"""},
    {"postgresql": "REVOKE ALL ON FUNCTION research.declare_purpose(VARCHAR), research.purpose_declared() FROM PUBLIC"},
    *({"postgresql": sql} for table in ("research.person", "research.event") for sql in (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS pipeline_writes ON {table}",
        f"DROP POLICY IF EXISTS researcher_reads ON {table}",
        f"CREATE POLICY pipeline_writes ON {table} TO ptp_pipeline USING (true) WITH CHECK (true)",
        f"CREATE POLICY researcher_reads ON {table} FOR SELECT TO ptp_researcher USING (research.purpose_declared())",
    )),
]))


# The vault per record (privacy/vault.py `seal_records`), and an opening that a rollback cannot erase: a
# re-identifier first requests records (`request_vault`, recorded in ops.vault_access and committed on its
# own), then opens that request (`open_vault_records`), which refuses unless the request's transaction has
# committed. So whatever the opening transaction does afterwards (even ROLLBACK), the request stays as the
# record of it. (dblink could commit the record autonomously, but needs an extension and a stored
# connection; this needs neither.) Extracts sealed whole before this stay readable through the same route.
MIGRATIONS.append((35, "vault sealed per record; openings recorded by a committed request before any record is read", [
    """CREATE TABLE IF NOT EXISTS restricted.vault_record (
        extract_id VARCHAR NOT NULL, source_row BIGINT NOT NULL, key_id VARCHAR NOT NULL, wrapped_key BYTEA NOT NULL,
        nonce BYTEA NOT NULL, ciphertext BYTEA NOT NULL)""",
    {"postgresql": "CREATE INDEX IF NOT EXISTS vault_record_row ON restricted.vault_record (extract_id, source_row)"},
    {"postgresql": "ALTER TABLE ops.vault_access ADD COLUMN IF NOT EXISTS source_rows BIGINT[]"},
    {"postgresql": "ALTER TABLE ops.vault_access ADD COLUMN IF NOT EXISTS xact xid8"},
    {"postgresql": """CREATE OR REPLACE FUNCTION restricted.request_vault(
            p_extract_id VARCHAR, p_rows BIGINT[], p_purpose VARCHAR) RETURNS BIGINT
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE aid BIGINT;
        BEGIN
            IF length(coalesce(btrim(p_purpose), '')) < 10 THEN
                RAISE EXCEPTION 'the vault opens only for a stated purpose' USING ERRCODE = 'insufficient_privilege';
            END IF;
            INSERT INTO ops.vault_access (login, accessed_at, extract_id, purpose, source_rows, xact)
                VALUES (session_user, now()::timestamp, p_extract_id, p_purpose, p_rows, pg_current_xact_id())
                RETURNING access_id INTO aid;
            RETURN aid;
        END $$"""},
    {"postgresql": """CREATE OR REPLACE FUNCTION restricted.open_vault_records(p_access_id BIGINT)
        RETURNS TABLE (source_row BIGINT, key_id VARCHAR, wrapped_key BYTEA, nonce BYTEA, ciphertext BYTEA)
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        #variable_conflict use_column
        DECLARE a ops.vault_access%ROWTYPE;
        BEGIN
            SELECT * INTO a FROM ops.vault_access WHERE access_id = p_access_id AND login = session_user;
            IF NOT FOUND OR a.xact IS NULL THEN
                RAISE EXCEPTION 'no vault request % by this login', p_access_id
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF pg_xact_status(a.xact) IS DISTINCT FROM 'committed' THEN
                RAISE EXCEPTION 'vault request % is not committed yet: request in its own transaction, then open it',
                    p_access_id USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF a.accessed_at < now()::timestamp - interval '10 minutes' THEN
                RAISE EXCEPTION 'vault request % has expired: make a new one', p_access_id
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF EXISTS (SELECT 1 FROM restricted.vault_record v WHERE v.extract_id = a.extract_id) THEN
                RETURN QUERY SELECT v.source_row, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
                    FROM restricted.vault_record v
                    WHERE v.extract_id = a.extract_id AND v.source_row = ANY (a.source_rows);
            ELSE  -- sealed whole before per-record sealing: one blob, source_row NULL
                RETURN QUERY SELECT NULL::BIGINT, v.key_id, v.wrapped_key, v.nonce, v.ciphertext
                    FROM restricted.vault v WHERE v.extract_id = a.extract_id;
            END IF;
        END $$"""},
    {"postgresql": "REVOKE ALL ON FUNCTION restricted.request_vault(VARCHAR, BIGINT[], VARCHAR), "
                   "restricted.open_vault_records(BIGINT) FROM PUBLIC"},
]))


# Equality-only lookups of single tokens: hash indexes. A B-tree insert compares 16-character tokens down the
# tree; a hash index stores a 4-byte hash and skips NULLs (most identities have no NI number, ULN, shared
# reference or local id). 1M-row extract on PostgreSQL, server CPU of its inserts 40.7 -> 36.4 s
# (link_identity 17.2 -> 13.8, link_record 13.9 -> 11.2). Event ids stay B-trees: the merge inserts them in
# id order, which a B-tree takes cheaply and a hash index does not (7.1 -> 9.1 s).
_HASH_INDEXES = {"link_identity_nhs": ("restricted.link_identity", "nhs"),
                 "link_identity_ni": ("restricted.link_identity", "ni"),
                 "link_identity_uln": ("restricted.link_identity", "uln"),
                 "link_identity_shared_ref": ("restricted.link_identity", "shared_ref"),
                 "link_identity_local_id": ("restricted.link_identity", "local_id"),
                 "link_identity_dob_sw": ("restricted.link_identity", "dob_sw"),
                 "link_identity_surname": ("restricted.link_identity", "sn"),
                 "link_record_ident": ("restricted.link_record", "ident")}
MIGRATIONS.append((36, "token look-ups by equality only: hash indexes, cheaper to insert into than B-trees", [
    stmt for name, (table, col) in _HASH_INDEXES.items() for stmt in (
        {"postgresql": f"DROP INDEX IF EXISTS {table.split('.')[0]}.{name}"},
        {"postgresql": f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING hash ({col})"})
]))


MIGRATIONS.append((50, "unit costs applied at derive time: the costs used, each event's cost and its source", [
    # The unit costs in force at the last derive (protocols/costs/*.yaml, uprated to one price year).
    """CREATE TABLE IF NOT EXISTS shared.unit_cost (
        agency VARCHAR NOT NULL, event_type VARCHAR NOT NULL, unit_cost DECIMAL(12, 2) NOT NULL,
        price_year INTEGER NOT NULL, source VARCHAR NOT NULL, source_cost DECIMAL(12, 2) NOT NULL,
        source_year INTEGER NOT NULL, theme VARCHAR NOT NULL, version INTEGER NOT NULL)""",
    # Every event's cost: the partner's own where sent, else the unit cost; cost_source says which.
    """CREATE TABLE IF NOT EXISTS shared.event_cost (
        event_id VARCHAR NOT NULL, person_id BIGINT, agency VARCHAR NOT NULL, dataset VARCHAR NOT NULL,
        event_type VARCHAR NOT NULL, event_date DATE NOT NULL, cost DECIMAL(12, 2), cost_source VARCHAR NOT NULL)""",
    # Each person's costed total (shared.person.total_cost keeps the partners' own costs only).
    """CREATE TABLE IF NOT EXISTS shared.person_cost (
        person_id BIGINT NOT NULL, total_cost DECIMAL(14, 2) NOT NULL, partner_cost DECIMAL(14, 2) NOT NULL,
        unit_costed_events BIGINT NOT NULL, uncosted_events BIGINT NOT NULL)""",
]))


MIGRATIONS.append((51, "release review: outputs requested, checked, released on a second approval", [
    """CREATE TABLE IF NOT EXISTS ops.release_request (
        request_id BIGINT PRIMARY KEY, file_name VARCHAR NOT NULL, kind VARCHAR NOT NULL, sha256 VARCHAR NOT NULL,
        requested_by VARCHAR NOT NULL, requested_login VARCHAR NOT NULL, requested_at TIMESTAMP NOT NULL,
        checks VARCHAR NOT NULL, checks_passed BOOLEAN NOT NULL, status VARCHAR NOT NULL, approved_by VARCHAR,
        approved_login VARCHAR, approved_at TIMESTAMP, released_path VARCHAR)""",
]))


# Place-based harm (issue 20, pathways/premises.py): where events happened as keyed property tokens (written
# at merge, removed with their events), the licensed premises from the register, the events attributed to
# them (exact property match, or shared among the premises of the postcode sector) and harm per premises
# per year. All restricted: a premises is a place, but its harm figures are published only through
# disclosure control (published.premises_harm; single premises only where project.yaml agrees).
MIGRATIONS.append((52, "place-based harm: event locations, licensed premises, attributed events, harm per premises", [
    """CREATE TABLE IF NOT EXISTS restricted.event_location (
        event_id VARCHAR NOT NULL, extract_id VARCHAR NOT NULL, premises VARCHAR, uprn VARCHAR, flat VARCHAR,
        street VARCHAR, sector VARCHAR, district VARCHAR, alcohol_related BOOLEAN)""",
    {"postgresql": "CREATE INDEX IF NOT EXISTS event_location_extract ON restricted.event_location (extract_id)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS event_location_event ON restricted.event_location (event_id)"},
    """CREATE TABLE IF NOT EXISTS restricted.premises (
        premises_id INTEGER NOT NULL, event_id VARCHAR NOT NULL, licence_type VARCHAR NOT NULL,
        hours_band VARCHAR NOT NULL, area VARCHAR, sector VARCHAR, status VARCHAR, opened DATE NOT NULL,
        closed DATE, label VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS restricted.premises_event (
        event_id VARCHAR NOT NULL, premises_id INTEGER NOT NULL, attribution VARCHAR NOT NULL,
        weight DOUBLE PRECISION NOT NULL, agency VARCHAR NOT NULL, event_year INTEGER NOT NULL, person_id BIGINT,
        cost DECIMAL(12, 2))""",
    """CREATE TABLE IF NOT EXISTS restricted.premises_year (
        premises_id INTEGER NOT NULL, year INTEGER NOT NULL, licence_type VARCHAR NOT NULL, hours_band VARCHAR NOT NULL,
        area VARCHAR, exposure_years DOUBLE PRECISION NOT NULL, events_exact BIGINT NOT NULL,
        events_sector DOUBLE PRECISION NOT NULL, persons BIGINT NOT NULL, cost DECIMAL(14, 2))""",
    """CREATE TABLE IF NOT EXISTS published.premises_harm (
        grouping VARCHAR NOT NULL, label VARCHAR NOT NULL, premises BIGINT, events BIGINT, events_by_postcode BIGINT,
        persons BIGINT, harm_cost DOUBLE PRECISION, rate DOUBLE PRECISION, rate_low DOUBLE PRECISION,
        rate_high DOUBLE PRECISION)""",
]))


# Attribution by distance band (issue 20): the grid reference of an event's postcode centroid (restricted only:
# as identifying as the full postcode; removed with its event like the other location columns), the band of a
# distance-attributed event, the per-premises-year share of those events and their published count.
MIGRATIONS.append((53, "place-based harm: postcode centroids of event locations, attribution by distance band", [
    "ALTER TABLE restricted.event_location ADD COLUMN IF NOT EXISTS easting DOUBLE PRECISION",
    "ALTER TABLE restricted.event_location ADD COLUMN IF NOT EXISTS northing DOUBLE PRECISION",
    "ALTER TABLE restricted.premises_event ADD COLUMN IF NOT EXISTS band VARCHAR",
    "ALTER TABLE restricted.premises_year ADD COLUMN IF NOT EXISTS events_distance DOUBLE PRECISION DEFAULT 0",
    "ALTER TABLE published.premises_harm ADD COLUMN IF NOT EXISTS events_nearby BIGINT",
]))


# Candidate search on PostgreSQL looks each new identity up through an index per blocking rule. Two rules led with
# a column that holds many identities: "forename, surname's first letters, district" through the forename (the
# (fn, sn) index) and "forename's first letters, surname, birth year and month" through the surname (hash): each
# look-up read and threw away ~1,500 stored identities at 233,554, a number that grows with the warehouse (2,000
# new identities: 4.2 s and 4.7 s of a 17.5 s search; 0.26 s and 0.06 s now). Each now has an index on its
# selective tokens, the surname's leading on the surname (it serves every surname look-up the hash index served),
# and the postcode, which two rules join on with a name, gets a hash index of its own.
MIGRATIONS.append((54, "candidate search: blocking rules looked up through an index on their selective tokens", [
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_fn_sn3 ON restricted.link_identity (fn, sn3, pc_dist)"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_sn_dob ON restricted.link_identity (sn, dob_y, dob_m)"},
    {"postgresql": "DROP INDEX IF EXISTS restricted.link_identity_surname"},
    {"postgresql": "CREATE INDEX IF NOT EXISTS link_identity_pc ON restricted.link_identity USING hash (pc)"},
]))

# A merge that adds many rows to a table relative to what it holds (an initial load above all) builds that table's
# secondary indexes once after its COPY instead of maintaining them row by row (`PostgresWarehouse.bulk_load`).
# The pipeline's login owns no table and runs no DDL, so the drop and the rebuild go through two functions that run
# as the schema's owner: they act only on the tables a merge bulk-loads, read the definitions from the catalogue
# themselves (the caller supplies no SQL), and keep them in `ops.bulk_index` until rebuilt. A deferred constraint
# trigger refuses to commit a transaction that dropped an index and did not rebuild it, so whatever the caller does,
# the committed index set is the one the migrations made. Primary keys and unique constraints are never dropped.
BULK_TABLES = ("restricted.link_identity", "restricted.link_record", "restricted.event_location",
               "restricted.record_address", "shared.pathway_event")
_BULK_TABLES_SQL = ", ".join(f"'{t}'" for t in BULK_TABLES)
MIGRATIONS.append((55, "bulk loads rebuild a table's secondary indexes after the COPY, never committing without them", [
    {"postgresql": """CREATE TABLE IF NOT EXISTS ops.bulk_index (
        relation VARCHAR NOT NULL, index_name VARCHAR NOT NULL, definition VARCHAR NOT NULL)"""},
    {"postgresql": """CREATE OR REPLACE FUNCTION ops.bulk_index_rebuilt() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM ops.bulk_index WHERE relation = NEW.relation AND index_name = NEW.index_name) THEN
                RAISE EXCEPTION 'index % of % was dropped for a bulk load and not rebuilt: nothing is committed',
                    NEW.index_name, NEW.relation USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NULL;
        END $$"""},
    {"postgresql": "DROP TRIGGER IF EXISTS bulk_index_rebuilt ON ops.bulk_index"},
    {"postgresql": "CREATE CONSTRAINT TRIGGER bulk_index_rebuilt AFTER INSERT ON ops.bulk_index "
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ops.bulk_index_rebuilt()"},
    {"postgresql": f"""CREATE OR REPLACE FUNCTION ops.bulk_drop_indexes(p_table VARCHAR) RETURNS INTEGER
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE ix RECORD; n INTEGER := 0;
        BEGIN
            IF p_table NOT IN ({_BULK_TABLES_SQL}) THEN
                RAISE EXCEPTION '% is not a table merges bulk-load', p_table USING ERRCODE = 'insufficient_privilege';
            END IF;
            EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_table::regclass);
            FOR ix IN SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
                      FROM pg_index i
                      WHERE i.indrelid = p_table::regclass AND NOT i.indisprimary AND NOT i.indisunique
                        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                      ORDER BY 1 LOOP
                INSERT INTO ops.bulk_index (relation, index_name, definition) VALUES (p_table, ix.name, ix.definition);
                EXECUTE format('DROP INDEX %s', ix.name);
                n := n + 1;
            END LOOP;
            RETURN n;
        END $$"""},
    {"postgresql": """CREATE OR REPLACE FUNCTION ops.bulk_rebuild_indexes(p_table VARCHAR) RETURNS INTEGER
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        DECLARE ix RECORD; n INTEGER := 0;
        BEGIN
            FOR ix IN DELETE FROM ops.bulk_index WHERE relation = p_table RETURNING definition LOOP
                EXECUTE ix.definition;
                n := n + 1;
            END LOOP;
            -- The planner's statistics for the next statement and the next merge's candidate search: a table
            -- grown many times over since autovacuum last looked is otherwise planned as the small one it was.
            EXECUTE format('ANALYZE %s', p_table::regclass);
            RETURN n;
        END $$"""},
    {"postgresql": "REVOKE ALL ON FUNCTION ops.bulk_drop_indexes(VARCHAR), ops.bulk_rebuild_indexes(VARCHAR), "
                   "ops.bulk_index_rebuilt() FROM PUBLIC"},
]))


MIGRATIONS.append((56, "person ids never handed out twice: the highest ever given, kept when its records are removed", [
    "CREATE TABLE IF NOT EXISTS ops.person_id_high (high BIGINT NOT NULL)",
    "INSERT INTO ops.person_id_high SELECT greatest(coalesce((SELECT max(person_id) FROM restricted.link_identity), "
    "0), coalesce((SELECT max(person_id) FROM restricted.link_record), 0)) "
    "WHERE NOT EXISTS (SELECT 1 FROM ops.person_id_high)",
]))


LATEST = max(v for v, _, _ in MIGRATIONS)
