#!/usr/bin/env bash
# Dump MongoDB every INTERVAL_SECONDS into a gzip archive, keep RETENTION_DAYS days of them.
# An archive is written under a temporary name and renamed, so a crash never leaves a file
# that looks complete but is not.
set -euo pipefail
: "${MONGO_URI:?}" "${BACKUP_DIR:?}"
RETENTION_DAYS="${RETENTION_DAYS:-3}"
INTERVAL_SECONDS="${INTERVAL_SECONDS:-21600}"
mkdir -p "$BACKUP_DIR"
while true; do
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  tmp="$BACKUP_DIR/.companion-$stamp.archive.gz.part"
  if mongodump --uri="$MONGO_URI" --oplog --gzip --archive="$tmp"; then
    mv "$tmp" "$BACKUP_DIR/companion-$stamp.archive.gz"
    echo "backup companion-$stamp.archive.gz done"
  else
    rm -f "$tmp"
    echo "backup failed at $stamp" >&2
  fi
  find "$BACKUP_DIR" -name 'companion-*.archive.gz' -mtime +"$((RETENTION_DAYS - 1))" -delete
  sleep "$INTERVAL_SECONDS"
done
