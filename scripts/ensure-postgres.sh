#!/usr/bin/env bash
# Make sure the PostgreSQL the tests use answers on 127.0.0.1:5432 (user postgres, trust on loopback).
# Idempotent: does nothing when it already answers; starts an installed cluster; on a fresh Debian
# machine run as root, installs Debian's postgresql and trusts loopback for the throwaway test server.
# Never fails `make test` by itself: if PostgreSQL still cannot be reached, the PostgreSQL tests fail
# with a message saying how to start it.
set -u
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
command -v pg_isready >/dev/null 2>&1 && ready && exit 0
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "ensure-postgres: installing Debian's postgresql for the tests"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || exit 0
        for hba in /etc/postgresql/*/main/pg_hba.conf; do
            grep -q "^host all all 127.0.0.1/32 trust" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        done
    else
        echo "ensure-postgres: PostgreSQL is not installed; the PostgreSQL tests will fail until it runs"
        exit 0
    fi
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
ready || pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do ready && exit 0; sleep 1; done
echo "ensure-postgres: PostgreSQL did not start; see pg_lsclusters"
exit 0
