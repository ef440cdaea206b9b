#!/bin/sh
# The stand-in's entrypoint: what the official postgres image's does for compose.yaml —
# a new data directory gets POSTGRES_USER (with POSTGRES_PASSWORD) and POSTGRES_DB, then the
# server runs in the foreground as `postgres`, listening on every address, passwords required.
set -eu
: "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}" "${PGDATA:=/var/lib/postgresql/data}"
if [ -z "$(printenv POSTGRES_PASSWORD)" ]; then
    echo "POSTGRES_PASSWORD must be set" >&2
    exit 1
fi
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    chown postgres /tmp/pwfile
    runuser -u postgres -- initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8
    rm -f /tmp/pwfile
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    if [ "$POSTGRES_DB" != "postgres" ]; then
        runuser -u postgres -- postgres --single -D "$PGDATA" -c listen_addresses= postgres \
            <<SQL
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
    fi
fi
exec runuser -u postgres -- postgres -D "$PGDATA" -c listen_addresses='*'
