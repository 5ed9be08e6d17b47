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
echo "check-secrets: ok"
