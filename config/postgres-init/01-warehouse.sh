#!/bin/sh
# First start of the PostgreSQL container: the warehouse database and its owner role. CREATEROLE: the
# warehouse migrations create its NOLOGIN group roles (ptp_analyst, ptp_pipeline, ptp_reidentifier,
# ptp_researcher): analysts read the published tier only, researchers the generalised research tier.
# The password comes from the environment (PTP_WAREHOUSE_PASSWORD), never from this file.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$PTP_WAREHOUSE_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE ptp LOGIN CREATEROLE PASSWORD :'pw';
CREATE DATABASE ptp OWNER ptp;
SQL
