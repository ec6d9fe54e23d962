#!/usr/bin/env bash
# Healthy only when this node is a writable primary. The first run initiates the replica set
# (NotYetInitialized); any other error, or a secondary/recovering node, exits non-zero.
set -euo pipefail
exec mongosh --quiet --norc -u root -p "${MONGO_INITDB_ROOT_PASSWORD}" \
    --authenticationDatabase admin --eval '
try {
  rs.status();
} catch (e) {
  if (e.codeName !== "NotYetInitialized") { throw e; }
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}
quit(db.hello().isWritablePrimary ? 0 : 1);
'
