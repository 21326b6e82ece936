#!/usr/bin/env bash
# Installs everything hearth needs to build, run, test and benchmark, from
# Debian's packages and the npm registry only. Idempotent: installs only what
# is missing, and runs `apt-get update` at most once.
#
#   scripts/deps.sh            build + run + test
#   scripts/deps.sh --bench    also the peers the benchmarks compare against
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(g++ cmake ninja-build pkg-config make
  libcli11-dev nlohmann-json3-dev libtomlplusplus-dev
  libssl-dev libsqlite3-dev libcurl4-openssl-dev zlib1g-dev libbrotli-dev libzstd-dev libsodium-dev libnghttp2-dev)
TEST_PKGS=(libgtest-dev libgmock-dev clang clang-format libclang-rt-14-dev curl nodejs openssl nghttp2-client pebble slowhttptest testssl.sh chromium)
BENCH_PKGS=(libbenchmark-dev nginx h2o caddy wrk nghttp2-client util-linux procps sqlite3)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
if [[ "${1:-}" == "--bench" ]]; then want+=("${BENCH_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # nodejs may come from elsewhere on a developer's machine: a working node is enough.
    if [[ "$p" == nodejs ]] && command -v node >/dev/null && command -v npm >/dev/null; then continue; fi
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's nginx and h2o packages start system services where systemd runs;
  # the benchmarks start their own instances on other ports.
fi

# Node from Debian comes without npm (NodeSource's includes it).
if ! command -v npm >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

# npm packages for the end-to-end tests (the pocketbase SDK, eventsource, s3rver
# and the AWS SDK for S3),
# pinned by package-lock.json; their install scripts never run.
if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
  fi
fi
