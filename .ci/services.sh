#!/usr/bin/env bash
# Services the tests meet for real: Debian's chromium (dashboard browser test) and a throwaway
# PostgreSQL cluster (storage adapter tests). Sourced by .ci/run; exports where to find them.
pkgs=()
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql)
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}") >/dev/null || echo "services: could not install ${pkgs[*]}" >&2
  else
    echo "services: ${pkgs[*]} missing and not root; the tests that need them will fail" >&2
  fi
fi
export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium || true)}"

if [ -z "${CIPHER_NEXUS_TEST_PG_URL:-}" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$bin" ]; then
    pgdir=$(mktemp -d /tmp/cipher-nexus-pg.XXXXXX)
    port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    run_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
    [ "$(id -u)" = 0 ] && chown postgres "$pgdir"
    if run_pg "$bin/initdb" -D "$pgdir/data" -A trust -U postgres >/dev/null \
      && run_pg "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
      && run_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres cipher_nexus_test; then
      export CIPHER_NEXUS_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/cipher_nexus_test"
      trap 'run_pg "$bin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
    else
      echo "services: could not start PostgreSQL (see $pgdir/log)" >&2
    fi
  fi
fi
