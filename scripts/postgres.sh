#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests on 127.0.0.1:${PGPORT:-54329}
# (trust auth, loopback only) and prints its URL. Installs Debian's postgresql first
# when it is missing. Usage: scripts/postgres.sh start|stop
set -euo pipefail
PGPORT="${PGPORT:-54329}"
DATA="${MOBIUS_PG_DATA:-/tmp/mobius-pg-$PGPORT}"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

case "${1:-start}" in
  start)
    if [ -z "$(bindir)" ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    BIN="$(bindir)"
    # initdb refuses to run as root: the cluster belongs to the postgres user.
    run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
    if ! run "$BIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
      rm -rf "$DATA"; mkdir -p "$DATA"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
      run "$BIN/initdb -D $DATA --auth=trust --username=postgres -E UTF8 --locale=C.UTF-8" >/dev/null
      run "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w -o '-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300' start" >/dev/null
    fi
    echo "postgres://postgres@127.0.0.1:$PGPORT/postgres"
    ;;
  stop)
    BIN="$(bindir)"
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 || true
    else "$BIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true; fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
