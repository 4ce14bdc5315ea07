#!/usr/bin/env bash
# The single-node midex service: PostgreSQL databases (on the server at PG_HOST:PG_PORT, or a
# private server it starts itself: PG_EMBEDDED in service.env), a Spark standalone master and
# worker, and Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor, metadata in
# PostgreSQL).
#
#   infra/service.sh up       start everything (idempotent: running parts are left alone)
#   infra/service.sh down     stop everything it started
#   infra/service.sh status   what runs, where the logs are
#   eval "$(infra/service.sh env)"   this shell gets the service's settings (airflow, midex CLIs)
#
# `make up` / `make down` call it. Settings: infra/service.env. Everything it writes lives under
# $SERVICE_DIR (default .midex/service): logs/ (airflow/, spark/, one file per daemon), run/ (pid
# files), data/ (MIDEX_HOME: lake and landing), airflow/ (AIRFLOW_HOME), postgres/ (the private
# PostgreSQL's data, when it runs one).
# Verified end to end inside a private network namespace by infra/trial.sh.
# Note: Airflow's log servers (ports 8793/8794) bind to all interfaces; firewall them on a shared
# host. Everything else listens on 127.0.0.1.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICE_DIR="${SERVICE_DIR:-$REPO/.midex/service}"
BIN="${BIN:-$REPO/.venv/bin}"
export REPO SERVICE_DIR

set -a
# shellcheck source=infra/service.env
. "$REPO/infra/service.env"
set +a

LOGS="$SERVICE_DIR/logs"
RUN="$SERVICE_DIR/run"
AIRFLOW_COMPONENTS=(dag-processor scheduler triggerer api-server)
SPARK_HOME="${SPARK_HOME:-$("$BIN/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_HOME
DAEMON="$SPARK_HOME/sbin/spark-daemon.sh"
MASTER_CLASS=org.apache.spark.deploy.master.Master
WORKER_CLASS=org.apache.spark.deploy.worker.Worker

say() { printf 'midex-service: %s\n' "$*"; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

secrets() {
  # One JWT secret shared by all Airflow components, kept with the service (never in the repo).
  local file="$SERVICE_DIR/jwt_secret"
  [[ -s "$file" ]] || { umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$file"; }
  AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$file")"
  # and one key for the api-server's signed requests to the log servers (task logs in the UI)
  file="$SERVICE_DIR/api_secret_key"
  [[ -s "$file" ]] || { umask 077; "$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$file"; }
  AIRFLOW__API__SECRET_KEY="$(cat "$file")"
  export AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY
}

# ---------------------------------------------------------------- PostgreSQL (maybe our own)

pg_bindir() {
  if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return; fi
  if command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/initdb" ]]; then
    pg_config --bindir
    return
  fi
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -x "$dir/initdb" ]] || { say "no PostgreSQL binaries (initdb, pg_ctl) found; set PG_BIN" >&2; return 1; }
  echo "$dir"
}

as_pg() {
  # initdb and postgres refuse root: as root, run them as the postgres user
  if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_answers() {
  "$BIN/python" -c "import socket, sys; socket.create_connection(('$PG_HOST', $PG_PORT), 3)" 2>/dev/null
}

pg_embedded_running() {
  [[ -s "$PG_DATA/postmaster.pid" ]] && kill -0 "$(head -n 1 "$PG_DATA/postmaster.pid")" 2>/dev/null
}

postgres_up() {
  case "$PG_EMBEDDED" in
    no) return 0 ;;
    auto | yes) ;;
    *) say "PG_EMBEDDED must be auto, yes or no (is: $PG_EMBEDDED)"; return 1 ;;
  esac
  if pg_embedded_running; then
    say "private PostgreSQL already runs ($PG_DATA, pid $(head -n 1 "$PG_DATA/postmaster.pid"))"
    return 0
  fi
  if [[ "$PG_EMBEDDED" == auto ]] && pg_answers; then
    say "using the PostgreSQL server at $PG_HOST:$PG_PORT"
    return 0
  fi
  local bin
  bin="$(pg_bindir)"
  mkdir -p "$PG_DATA"
  chmod 700 "$PG_DATA"
  [[ $EUID -eq 0 ]] && chown postgres: "$PG_DATA"
  if ! as_pg test -w "$PG_DATA"; then
    say "the postgres user cannot write $PG_DATA (a parent folder is closed to it); set PG_DATA"
    return 1
  fi
  if [[ ! -s "$PG_DATA/PG_VERSION" ]]; then
    say "initdb a private PostgreSQL in $PG_DATA"
    as_pg "$bin/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 >"$LOGS/postgres-initdb.log" 2>&1 \
      || { say "initdb failed; see $LOGS/postgres-initdb.log"; return 1; }
  fi
  touch "$LOGS/postgres.log"
  [[ $EUID -eq 0 ]] && chown postgres: "$LOGS/postgres.log"
  as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 120 \
    -o "-c listen_addresses=$PG_HOST -p $PG_PORT -c unix_socket_directories=''" start >/dev/null \
    || { say "the private PostgreSQL did not start; see $LOGS/postgres.log"; return 1; }
  say "private PostgreSQL started on $PG_HOST:$PG_PORT (data $PG_DATA, log $LOGS/postgres.log)"
}

postgres_down() {
  if pg_embedded_running; then
    as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null \
      && say "private PostgreSQL stopped" || say "private PostgreSQL did not stop; see $LOGS/postgres.log"
  fi
}

databases() {
  # Create the catalog and Airflow databases when missing (trust auth on loopback).
  "$BIN/python" - "$PG_ADMIN_URL" $PG_DATABASES <<'PY'
import sys

import psycopg

url, names = sys.argv[1], sys.argv[2:]
try:
    conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
except psycopg.OperationalError as exc:
    sys.exit(f"PostgreSQL is not reachable at {url}: {exc}\nStart it, or set PG_ADMIN_URL.")
with conn:
    have = {r[0] for r in conn.execute("select datname from pg_database")}
    for name in names:
        if name not in have:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"midex-service: created database {name}")
PY
}

spark_up() {
  mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR" "$SPARK_WORKER_DIR"
  bash "$DAEMON" start "$MASTER_CLASS" 1 --host "$SPARK_LOCAL_IP" --port "$SPARK_MASTER_PORT" \
    --webui-port "$SPARK_MASTER_WEBUI_PORT" | sed 's/^/midex-service: /'
  bash "$DAEMON" start "$WORKER_CLASS" 1 "$MIDEX_SPARK_MASTER" --host "$SPARK_LOCAL_IP" \
    --cores "$SPARK_WORKER_CORES" --memory "$SPARK_WORKER_MEMORY" \
    --webui-port "$SPARK_WORKER_WEBUI_PORT" | sed 's/^/midex-service: /'
}

spark_down() {
  bash "$DAEMON" stop "$WORKER_CLASS" 1 | sed 's/^/midex-service: /' || true
  bash "$DAEMON" stop "$MASTER_CLASS" 1 | sed 's/^/midex-service: /' || true
}

airflow_up() {
  mkdir -p "$AIRFLOW_HOME" "$AIRFLOW__LOGGING__BASE_LOG_FOLDER" "$RUN"
  say "airflow db migrate (log: $LOGS/airflow-migrate.log)"
  "$BIN/airflow" db migrate >>"$LOGS/airflow-migrate.log" 2>&1
  for component in "${AIRFLOW_COMPONENTS[@]}"; do
    local pid="$RUN/airflow-$component.pid"
    if alive "$pid"; then
      say "airflow $component already runs (pid $(cat "$pid"))"
      continue
    fi
    local args=("$component")
    [[ "$component" == api-server ]] && args+=(--host "$AIRFLOW_API_HOST" --port "$AIRFLOW_API_PORT")
    # setsid: each component leads its own process group, so `down` stops its children too
    setsid "$BIN/airflow" "${args[@]}" >>"$LOGS/airflow-$component.log" 2>&1 </dev/null &
    echo $! >"$pid"
    say "airflow $component started (pid $!, log $LOGS/airflow-$component.log)"
  done
}

airflow_down() {
  for component in "${AIRFLOW_COMPONENTS[@]}"; do
    local pid="$RUN/airflow-$component.pid"
    if alive "$pid"; then
      kill -TERM -- "-$(cat "$pid")" 2>/dev/null || true
      for _ in $(seq 30); do alive "$pid" || break; sleep 1; done
      alive "$pid" && kill -KILL -- "-$(cat "$pid")" 2>/dev/null || true
      say "airflow $component stopped"
    fi
    rm -f "$pid"
  done
}

wait_for_api() {
  local url="http://$AIRFLOW_API_HOST:$AIRFLOW_API_PORT/api/v2/monitor/health"
  for _ in $(seq 120); do
    if "$BIN/python" -c "import urllib.request as u; u.urlopen('$url', timeout=2)" 2>/dev/null; then
      say "Airflow UI: http://$AIRFLOW_API_HOST:$AIRFLOW_API_PORT (users: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS; passwords in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
      return 0
    fi
    sleep 1
  done
  say "the api-server did not answer in 120 s; see $LOGS/airflow-api-server.log"
  return 1
}

case "${1:-}" in
  up)
    mkdir -p "$LOGS" "$RUN" "$MIDEX_HOME"
    secrets
    postgres_up
    databases
    "$BIN/midex" init >/dev/null
    spark_up
    airflow_up
    wait_for_api
    say "Spark master: $MIDEX_SPARK_MASTER (UI http://$SPARK_LOCAL_IP:$SPARK_MASTER_WEBUI_PORT); logs: $LOGS"
    ;;
  down)
    airflow_down
    spark_down
    postgres_down
    ;;
  status)
    for component in "${AIRFLOW_COMPONENTS[@]}"; do
      pid="$RUN/airflow-$component.pid"
      if alive "$pid"; then say "airflow $component: running (pid $(cat "$pid"))"; else say "airflow $component: stopped"; fi
    done
    bash "$DAEMON" status "$MASTER_CLASS" 1 | sed 's/^/midex-service: spark master: /' || true
    bash "$DAEMON" status "$WORKER_CLASS" 1 | sed 's/^/midex-service: spark worker: /' || true
    if pg_embedded_running; then say "private PostgreSQL: running ($PG_DATA)"; fi
    say "logs: $LOGS"
    ;;
  env)
    secrets
    env | grep -E '^(MIDEX_|AIRFLOW|SPARK_)' | sed "s/^/export /; s/=\(.*\)$/='\1'/"
    ;;
  *)
    echo "usage: $0 up|down|status|env" >&2
    exit 2
    ;;
esac
