#!/bin/bash
# The docker-compose stack's primary admits streaming replication from the
# "replica" profile's container: a replication role, and a pg_hba line for it
# (the image's own lines admit ordinary connections only). `eventcart stack up
# --replica` needs neither: it copies the primary as its superuser, on loopback.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD 'replicator'"
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
