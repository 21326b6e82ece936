#!/usr/bin/env bash
# `make run`: serves the platform, not a folder. Starts `hearth serve`, then,
# with the same CLI and API a user has, deploys examples/demo (with the docs)
# as the site `localhost`, gives it a `notes` collection with a few records,
# and prints where everything is and the admin token. Runs until Ctrl-C.
#
# Idempotent: a second run with the same data folder changes nothing (the site
# is deployed again only when examples/demo or the docs changed; the
# collection and records are made only when missing).
#
#   HEARTH_BIN   the binary [build/release/hearth]
#   HEARTH_HTTP  address to listen on [127.0.0.1:8080] (hearth reads it too)
#   HEARTH_DATA  data folder [./hearth-data] (hearth reads it too)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${HEARTH_BIN:-build/release/hearth}
HTTP=${HEARTH_HTTP:-127.0.0.1:8080}
DATA=${HEARTH_DATA:-./hearth-data}
SITE=localhost

# Clients reach a wildcard listener on loopback.
port=${HTTP##*:}
host=${HTTP%:*}
case "$host" in 0.0.0.0 | "" | "[::]") host=127.0.0.1 ;; esac
SERVER="http://$host:$port"

# In a session of its own, so that Ctrl-C reaches only this script, which
# then stops hearth once, gracefully (two signals would make it hurry).
setsid "$BIN" serve --http "$HTTP" --data "$DATA" &
pid=$!
stop() {
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null
  exit $?
}
trap stop INT TERM HUP

# Up to 10 s for the first start (it makes hearth.db and the admin token).
for _ in $(seq 100); do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    exit $?
  fi
  curl -fsS -o /dev/null "$SERVER/_hearth/health" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null "$SERVER/_hearth/health" || { echo "run-demo: hearth did not answer on $SERVER" >&2; stop; }

fail() {
  echo "run-demo: $1" >&2
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  exit 1
}
token=${HEARTH_TOKEN:-$(cat "$DATA/admin.token" 2>/dev/null || true)}
[[ -n "$token" ]] || fail "no admin token: $DATA/admin.token is gone; set HEARTH_TOKEN to an admin token (hearth tokens add)"
cli() { "$BIN" "$@" --server "$SERVER" --token "$token"; }

# The site: examples/demo, and the docs under /docs/. A stamp in the data
# folder remembers what was deployed as which version, so an unchanged tree
# that is still live is not deployed again.
stage=$(mktemp -d)
cleanup_stage() { rm -rf "$stage"; }
trap 'cleanup_stage' EXIT
cp -R examples/demo/. "$stage/"
mkdir -p "$stage/docs"
cp README.md ARCHITECTURE.md docs/*.md "$stage/docs/"
{
  echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>hearth docs</title>'
  echo '<link rel="stylesheet" href="/assets/site.css"></head><body><main><h1>hearth docs</h1><ul>'
  for f in "$stage"/docs/*.md; do
    n=$(basename "$f")
    echo "<li><a href=\"/docs/$n\">$n</a></li>"
  done
  echo '</ul><p><a href="/">Back</a></p></main></body></html>'
} >"$stage/docs/index.html"
digest=$(cd "$stage" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
live=$(cli versions --site "$SITE" --json 2>/dev/null | grep -o '"live_version":[0-9]*' | head -1 | cut -d: -f2 || true)
if [[ -z "$live" || "$(cat "$DATA/demo.deployed" 2>/dev/null)" != "$digest $live" ]]; then
  out=$(cli deploy "$stage" --site "$SITE" -m "make run: examples/demo and the docs" --json) || fail "deploying examples/demo failed"
  live=$(grep -o '"version":[0-9]*' <<<"$out" | cut -d: -f2)
  echo "$digest $live" >"$DATA/demo.deployed"
fi

# The collection and its records, only when missing.
if ! cli collections --site "$SITE" show notes >/dev/null 2>&1; then
  cli collections --site "$SITE" create examples/demo-data/notes.json >/dev/null || fail "creating the notes collection failed"
fi
records="$SERVER/api/collections/notes/records"
total=$(curl -fsS -H "Host: $SITE" -H "Authorization: Bearer $token" "$records?perPage=1" |
  grep -o '"totalItems":[0-9]*' | cut -d: -f2)
if [[ "${total:-0}" == 0 ]]; then
  while IFS= read -r record; do
    [[ -n "$record" ]] || continue
    curl -fsS -o /dev/null -H "Host: $SITE" -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
      --data-binary "$record" "$records" || fail "adding a record to notes failed"
  done <examples/demo-data/notes.ndjson
fi

site_url="http://$SITE:$port"
cat <<EOF

  hearth is serving the platform (Ctrl-C to stop; data in $DATA)

    demo site      $site_url/
    data API       $site_url/api/collections/notes/records
    admin console  $SERVER/_hearth/
    admin token    $token
                   (also in $DATA/admin.token; log in to the console with it)

    the CLI        $BIN sites        (or \`make install\`, then \`hearth sites\`)

EOF

wait "$pid"
