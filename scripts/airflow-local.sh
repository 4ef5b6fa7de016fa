#!/usr/bin/env bash
# The local Airflow stack for one machine: `make airflow` (start) and `make airflow-stop` (stop).
#
#   scripts/airflow-local.sh start | stop | status
#
# Starts api-server, dag-processor, triggerer and scheduler (LocalExecutor, SQLite metadata DB in
# $AIRFLOW_HOME, default .airflow/) with .venv/bin first on PATH (the task runner starts `airflow`
# by name). Nothing listens beyond loopback: the api-server binds 127.0.0.1 and the scheduler and
# triggerer run without their log servers (those bind 0.0.0.0 and have no host option); the
# api-server reads task logs from $AIRFLOW_HOME/logs directly. Each process runs in its own session
# with its pid in $AIRFLOW_HOME/run/<name>.pid, so `stop` ends each process group (the api-server's
# workers, the scheduler's task runners) and nothing is left behind.
#
# Settings (environment): PTP_HOME (default .ptp), AIRFLOW_HOME (default .airflow),
# PTP_AIRFLOW_PORT (default 8080), PTP_WATCH_INTERVAL (landing-folder scan, default 2 s here).
# The scheduler runs with PTP_PRELOAD=1: with LocalExecutor it forks the task processes, which then
# start with pandas, DuckDB, GX and the pipeline imported (ptp_pipeline/preload.py; README, latency).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
export PATH="$REPO/.venv/bin:$PATH"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$REPO/.airflow}"
export PTP_HOME="${PTP_HOME:-$REPO/.ptp}"
PORT="${PTP_AIRFLOW_PORT:-8080}"
RUN="$AIRFLOW_HOME/run"
NAMES=(api-server dag-processor triggerer scheduler)

running() {  # running NAME: its pid file names a live process
    local pid
    pid=$(cat "$RUN/$1.pid" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

secret() {  # secret NAME: a random value kept in $AIRFLOW_HOME (0600), the same for every process
    local file="$AIRFLOW_HOME/$1"
    if [ ! -s "$file" ]; then
        (umask 077 && python -c 'import secrets; print(secrets.token_urlsafe(32))' > "$file")
    fi
    cat "$file"
}

start() {
    if [ ! -x .venv/bin/airflow ]; then
        echo "airflow-local: .venv is missing: run \`make airflow\` (it installs first)" >&2; exit 1
    fi
    mkdir -p "$RUN" "$PTP_HOME"
    chmod 700 "$AIRFLOW_HOME"
    for name in "${NAMES[@]}"; do
        if running "$name"; then
            echo "airflow-local: already running ($name, pid $(cat "$RUN/$name.pid")); \`make airflow-stop\` first" >&2
            exit 1
        fi
    done
    export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
    export AIRFLOW__CORE__LOAD_EXAMPLES=False
    export AIRFLOW__CORE__EXECUTOR=LocalExecutor
    export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$PORT/execution/"
    export AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT="$PORT"
    export AIRFLOW__API__BASE_URL="http://127.0.0.1:$PORT"
    export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
    export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
    export AIRFLOW__API_AUTH__JWT_SECRET; AIRFLOW__API_AUTH__JWT_SECRET=$(secret jwt_secret)
    export AIRFLOW__CORE__FERNET_KEY; AIRFLOW__CORE__FERNET_KEY=$(
        [ -s "$AIRFLOW_HOME/fernet_key" ] || (umask 077 && python -c \
            'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > "$AIRFLOW_HOME/fernet_key")
        cat "$AIRFLOW_HOME/fernet_key")
    export PYTHONPATH="$REPO/config:$REPO${PYTHONPATH:+:$PYTHONPATH}"
    export PTP_WATCH_INTERVAL="${PTP_WATCH_INTERVAL:-2}"
    export AIRFLOW__SCHEDULER__MP_START_METHOD=fork  # LocalExecutor workers share the preloaded modules
    export AIRFLOW_CONN_AIRFLOW_METADATA="{\"conn_type\": \"generic\", \"extra\": {\"sql_alchemy_conn\": \"$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN\"}}"
    if [ -z "${PTP_KEY:-}${PTP_KEY_FILE:-}${PTP_KEY_AIRFLOW_VARIABLE:-}" ] && [ ! -s "$PTP_HOME/keys/project.key" ]; then
        ptp key new "$PTP_HOME/keys/project.key" >/dev/null
        echo "airflow-local: created a demo key at $PTP_HOME/keys/project.key (0600); production keys come from the key custodian"
    fi
    echo "airflow-local: migrating the metadata DB in $AIRFLOW_HOME"
    airflow db migrate > "$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
    airflow pools set ptp_warehouse_writer 1 "DuckDB allows one writer" > /dev/null
    declare -A args=(
        [api-server]="api-server -H 127.0.0.1 -p $PORT -w 1"
        [dag-processor]="dag-processor"
        [triggerer]="triggerer --skip-serve-logs"
        [scheduler]="scheduler --skip-serve-logs"
    )
    declare -A preload=([scheduler]=1)
    mkdir -p "$AIRFLOW_HOME/logs"
    for name in "${NAMES[@]}"; do
        # shellcheck disable=SC2086  # the argument list is split on purpose
        PTP_PRELOAD="${preload[$name]:-}" setsid airflow ${args[$name]} > "$AIRFLOW_HOME/logs/$name.log" 2>&1 < /dev/null &
        echo $! > "$RUN/$name.pid"
    done
    for _ in $(seq 1 120); do
        if python - "$PORT" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v2/monitor/health", timeout=2)
PY
            break
        fi
        for name in "${NAMES[@]}"; do
            running "$name" || { echo "airflow-local: $name exited; see $AIRFLOW_HOME/logs/$name.log" >&2
                                 tail -20 "$AIRFLOW_HOME/logs/$name.log" >&2; stop; exit 1; }
        done
        sleep 1
    done
    echo "airflow-local: UI at http://127.0.0.1:$PORT (user admin; password in" \
         "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
    echo "airflow-local: process logs in $AIRFLOW_HOME/logs/; drop files under $PTP_HOME/landing/<partner>/<dataset>/"
    echo "airflow-local: stop with \`make airflow-stop\`"
}

stop() {
    local name pid stopped=0
    for name in "${NAMES[@]}"; do
        pid=$(cat "$RUN/$name.pid" 2>/dev/null) || continue
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            stopped=$((stopped + 1))
        fi
    done
    for _ in $(seq 1 30); do  # up to 30 s for a clean shutdown, then the rest of each group is killed
        local left=0
        for name in "${NAMES[@]}"; do
            pid=$(cat "$RUN/$name.pid" 2>/dev/null) || continue
            [ -n "$pid" ] && pgrep -g "$pid" >/dev/null 2>&1 && left=1
        done
        [ "$left" = 0 ] && break
        sleep 1
    done
    for name in "${NAMES[@]}"; do
        pid=$(cat "$RUN/$name.pid" 2>/dev/null) || continue
        if [ -n "$pid" ] && pgrep -g "$pid" >/dev/null 2>&1; then
            echo "airflow-local: $name did not stop in 30 s: killing its process group"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        rm -f "$RUN/$name.pid"
    done
    echo "airflow-local: stopped ($stopped process group(s))"
}

status() {
    local name
    for name in "${NAMES[@]}"; do
        if running "$name"; then echo "$name: running (pid $(cat "$RUN/$name.pid"))"; else echo "$name: stopped"; fi
    done
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
