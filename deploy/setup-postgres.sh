#!/bin/sh
# One-shot: create Temporal's two PostgreSQL databases and bring their schemas to the
# version the server image expects. Runs in temporalio/admin-tools (which ships
# temporal-sql-tool and the schema files of the same release) before the server starts.
set -eu

: "${POSTGRES_SEEDS:?set POSTGRES_SEEDS to the PostgreSQL host}"
: "${POSTGRES_USER:?set POSTGRES_USER}"
: "${SQL_PASSWORD:?set SQL_PASSWORD (the PostgreSQL password)}"

schemas=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  sql="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p ${DB_PORT:-5432} -u $POSTGRES_USER --db $db"
  # `create` fails once the database exists (every `up` after the first); a real
  # connection or auth problem fails the setup-schema step right after it instead.
  $sql create || echo "setup-postgres: database $db exists"
  $sql setup-schema -v 0.0
  case $db in
    temporal) $sql update-schema -d "$schemas/temporal/versioned" ;;
    *) $sql update-schema -d "$schemas/visibility/versioned" ;;
  esac
done
echo "setup-postgres: schemas are up to date"
