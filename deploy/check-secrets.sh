#!/bin/sh
# One-shot, before anything else starts: refuse the settings a copied .env.example (or an
# old README) would leave weak. Compose's own `${VAR:?}` refuses only empty values.
set -eu

fail() {
  echo "check-secrets: $*" >&2
  exit 1
}

password=${POSTGRES_PASSWORD:-}
case $password in
  change-me | changeme | password | postgres | temporal | secret)
    fail "POSTGRES_PASSWORD is a placeholder; set a real one in .env (openssl rand -base64 24)" ;;
esac
[ "${#password}" -ge 16 ] || fail "POSTGRES_PASSWORD must be at least 16 characters"
[ -n "${TETHER_ENCRYPTION_KEYS:-}" ] || fail "set TETHER_ENCRYPTION_KEYS in .env"
# Temporal and its UI beyond this machine only with deploy/compose.secure.yml, which says
# so (TETHER_SECURE): anyone who reaches them unauthenticated may start, approve (with a
# trusted key's signature) and terminate runs and read histories' metadata.
bind=${TETHER_BIND_ADDRESS:-127.0.0.1}
case $bind in
  127.0.0.1 | ::1 | "[::1]" | localhost) ;;
  *) [ "${TETHER_SECURE:-}" = 1 ] ||
    fail "TETHER_BIND_ADDRESS=$bind publishes Temporal and its UI beyond this machine: add deploy/compose.secure.yml (mTLS, an authorizer, UI login), or bind to 127.0.0.1" ;;
esac
# The setup job's token is an admin's; a worker's must not be.
if [ -n "${TETHER_WORKER_API_KEY:-}" ] && [ "${TETHER_WORKER_API_KEY}" = "${TETHER_SETUP_API_KEY:-}" ]; then
  fail "TETHER_WORKER_API_KEY and TETHER_SETUP_API_KEY are the same token; give the workers their own (writer on the namespace, not admin)"
fi
echo "check-secrets: ok"
