#!/usr/bin/env bash
# Formats hearth's C++ with .clang-format, or with --check only says which
# files differ (and fails): `make test` runs the check, so CI refuses an
# unformatted tree. The files are git's own (nothing generated, nothing ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.h' 'src/*.cpp' 'tests/unit/*.h' 'tests/unit/*.cpp' \
                                  'fuzz/*.h' 'fuzz/*.cpp' 'tests/layers/*.cpp')
if [[ "${1:-}" == "--check" ]]; then
  if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/hearth-format.$$; then
    grep -oE '^[^ :]+\.(h|cpp):[0-9]+' /tmp/hearth-format.$$ | sort -u -t: -k1,1 | head -20 | sed 's/^/  not formatted: /'
    rm -f /tmp/hearth-format.$$
    echo "format check: run 'make format' (clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))" >&2
    exit 1
  fi
  rm -f /tmp/hearth-format.$$
  echo "format check: ${#files[@]} files formatted"
else
  clang-format -i "${files[@]}"
fi
