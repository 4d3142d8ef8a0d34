#!/usr/bin/env bash
# Interop suite: the portcullis SDK against node's oidc-provider (an OpenID-certified provider no
# one here wrote) as the issuer — code + PKCE, refresh rotation, revocation, introspection,
# UserInfo, client credentials, key rotation, logout.
#
#   bash interop/oidc-provider/run.sh [TEST-NAME-FILTER …]
#
# Installs oidc-provider from the committed package-lock.json, starts provider.mjs on 127.0.0.1
# (a port the system picks), waits for its discovery document, then runs
# `cargo test -p portcullis --test interop_oidc_provider` against it with
# PORTCULLIS_INTEROP_REQUIRED=1 (so a missing provider fails instead of skipping). Loopback only,
# every step bounded in time; always stops the provider it started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

for tool in node npm curl cargo; do
  command -v "$tool" >/dev/null || { echo "interop/oidc-provider: $tool is required" >&2; exit 2; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-interop-op.XXXXXX")"
provider_pid=""
cleanup() {
  local rc=$?
  if [ -n "$provider_pid" ] && kill -0 "$provider_pid" 2>/dev/null; then
    kill -TERM "$provider_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$provider_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$provider_pid" 2>/dev/null || true
    wait "$provider_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$work/provider.log" ]; then
    echo "--- oidc-provider log (last 60 lines) ---" >&2
    tail -n 60 "$work/provider.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# node_modules is gitignored; the committed package-lock.json pins every package.
(cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

# The test's key to the provider's rotation endpoint: random, never written to disk.
admin_token="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')"

echo "interop/oidc-provider: starting oidc-provider"
# DEBUG: oidc-provider logs why it refused a request (never a token), shown when a test fails.
DEBUG=oidc-provider:error INTEROP_ADMIN_TOKEN="$admin_token" node "$here/provider.mjs" \
  >"$work/provider.out" 2>"$work/provider.log" &
provider_pid=$!

issuer=""
deadline=$((SECONDS + 30))
while :; do
  issuer="$(sed -n 's/^issuer \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$work/provider.out" | head -n 1)"
  if [ -n "$issuer" ] \
    && curl -fsS --max-time 2 "$issuer/.well-known/openid-configuration" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$provider_pid" 2>/dev/null; then
    echo "interop/oidc-provider: the provider exited before answering" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "interop/oidc-provider: the provider did not answer within 30s" >&2
    exit 1
  fi
  sleep 0.2
done
echo "interop/oidc-provider: oidc-provider answers at $issuer"

# The test binary may still need building: allow for it.
PORTCULLIS_INTEROP_OIDC_PROVIDER="$issuer" \
PORTCULLIS_INTEROP_OIDC_PROVIDER_ADMIN_TOKEN="$admin_token" \
PORTCULLIS_INTEROP_REQUIRED=1 \
  timeout 1200 cargo test -p portcullis --test interop_oidc_provider -- "$@"
