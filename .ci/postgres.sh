# Sourced by .ci/run: starts a throwaway PostgreSQL server on 127.0.0.1 for the database
# tests and exports PEDPAIN_TEST_POSTGRES_URL. Idempotent: reuses an initialised data
# folder and a running server; quiet unless something fails.
PG_PORT="${PEDPAIN_CI_PG_PORT:-54329}"
PG_DATA="${PEDPAIN_CI_PG_DATA:-/tmp/pedpain-ci-postgres}"
PG_DB="${PEDPAIN_CI_PG_DB:-pedpain_test}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
# The server refuses to run as root: run it as the package's postgres user when root.
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ ! -s "$PG_DATA/PG_VERSION" ]; then
  mkdir -p "$PG_DATA"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$PG_DATA"; fi
  chmod 700 "$PG_DATA"
  pg_as_owner "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust --no-sync >/dev/null
fi
if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
  # fsync off: the server is thrown away after the run, speed matters more.
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w \
    -o "-h 127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=off -c max_connections=200" start >/dev/null
fi
if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$PG_DB"
fi
export PEDPAIN_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/$PG_DB"
