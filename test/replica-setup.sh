#!/usr/bin/env bash
# A streaming replica of the machine's PostgreSQL, for test/machine-pg/read-replicas.test.ts and
# `npm run bench:replicas`: a second PostgreSQL cluster (Debian's pg_createcluster) on
# REPLICA_PORT, made with `pg_basebackup -R` from the server at 127.0.0.1:5432 and kept
# streaming from it. Idempotent: a replica already running and streaming is kept; one
# stopped is started; one that cannot catch up (its WAL recycled on the primary, as no
# slot holds it) is made again. Needs root (CI runs as root on this machine), because it
# allows replication connections from 127.0.0.1 in the primary's pg_hba.conf and runs the
# cluster tools. `--stop` stops the replica (it is created with start=manual, so it does
# not start with the machine and replay the others' bulk loads unasked).
set -euo pipefail

VERSION=${PG_VERSION:-15}
PRIMARY=${PRIMARY_CLUSTER:-main}
NAME=${REPLICA_CLUSTER:-replica}
PORT=${REPLICA_PORT:-5433}
PRIMARY_PORT=${PRIMARY_PORT:-5432}
ETC=/etc/postgresql/$VERSION
DATA=/var/lib/postgresql/$VERSION/$NAME

q () { psql -h 127.0.0.1 -U postgres -d postgres -Atq "$@"; }
exists () { [ -d "$ETC/$NAME" ]; }
online () { pg_lsclusters -h "$VERSION" "$NAME" 2>/dev/null | awk '{print $4}' | grep -q online; }
# The primary sees this replica's WAL receiver streaming (its application_name is the cluster's name).
streaming () { [ "$(q -p "$PRIMARY_PORT" -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$VERSION/$NAME' AND state = 'streaming'")" = 1 ] && [ "$(q -p "$PORT" -c 'SELECT pg_is_in_recovery()')" = t ]; }
wait_streaming () {
  for _ in $(seq 1 "${1:-30}"); do streaming 2>/dev/null && return 0; sleep 1; done
  return 1
}
ctl () { pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$NAME" "$@"; }

if [ "${1:-}" = --stop ]; then
  if exists && online; then ctl stop -m fast; fi
  exit 0
fi

# The primary must accept replication connections from 127.0.0.1 (its hba has none by default).
HBA=$ETC/$PRIMARY/pg_hba.conf
if ! grep -Eq '^host[[:space:]]+replication[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$HBA"; then
  printf '\n# streaming replicas on this machine (test/replica-setup.sh)\nhost replication all 127.0.0.1/32 trust\n' >> "$HBA"
  q -p "$PRIMARY_PORT" -c 'SELECT pg_reload_conf()' >/dev/null
fi
[ "$(q -p "$PRIMARY_PORT" -c 'SHOW wal_level')" != minimal ] || { echo "the primary's wal_level is minimal: no replica can stream from it" >&2; exit 1; }

if exists; then
  online || ctl start || true
  if wait_streaming 30; then echo "replica $VERSION/$NAME on port $PORT: streaming (kept)"; exit 0; fi
  echo "replica $VERSION/$NAME is not streaming: making it again" >&2
  online && ctl stop -m immediate || true
  pg_dropcluster "$VERSION" "$NAME"
fi

pg_createcluster "$VERSION" "$NAME" -p "$PORT" --start-conf manual >/dev/null
# Reads from the replica: trust on 127.0.0.1 like the primary (the new cluster asks for passwords).
cat > "$ETC/$NAME/pg_hba.conf" <<'EOF'
local all all trust
host all all 127.0.0.1/32 trust
EOF
cat > "$ETC/$NAME/conf.d/replica.conf" <<'EOF'
# A read replica: queries on it are not cancelled by the primary's vacuum.
hot_standby = on
hot_standby_feedback = on
EOF
rm -rf "${DATA:?}"/*
su postgres -c "pg_basebackup -h 127.0.0.1 -p $PRIMARY_PORT -U postgres -D $DATA -R -X stream -c fast"
ctl start
wait_streaming 60 || { echo "replica $VERSION/$NAME started but does not stream" >&2; exit 1; }
echo "replica $VERSION/$NAME on port $PORT: streaming (new)"
