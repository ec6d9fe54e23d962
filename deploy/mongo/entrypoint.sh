#!/usr/bin/env bash
# mongod with a replica set (transactions need one) and authentication. Members of a replica
# set with auth authenticate to each other with a key file; it is written from MONGO_REPLICA_KEY
# (any 6-1024 base64 characters: `openssl rand -base64 756`) with the permissions mongod demands.
set -euo pipefail
: "${MONGO_REPLICA_KEY:?set MONGO_REPLICA_KEY}"
keyfile=/data/db/.replica.key
printf '%s\n' "${MONGO_REPLICA_KEY}" >"${keyfile}"
chmod 400 "${keyfile}"
chown mongodb:mongodb "${keyfile}" 2>/dev/null || true
exec docker-entrypoint.sh mongod --replSet rs0 --bind_ip_all --keyFile "${keyfile}"
