#!/usr/bin/env bash
# `make workers` / `make test-workers`: build, or unit-test, each worker written in another language, on hosts that
# have its toolchain. A worker whose toolchain is missing is skipped with the reason (its conformance tests then skip
# too); in CI (CI=true) a missing toolchain fails instead.
#
#   providers/workers.sh build|test
set -euo pipefail
cd "$(dirname "$0")"
target=${1:?usage: workers.sh build|test}

toolchain() { # the command a worker is built with
  case "$1" in
    whatsmeow) echo go ;;
    *) echo npm ;;
  esac
}

for dir in */; do
  name=${dir%/}
  [[ -f $name/Makefile ]] || continue
  tool=$(toolchain "$name")
  if ! command -v "$tool" >/dev/null; then
    if [[ ${CI:-} == true ]]; then
      echo "$name: $tool is not installed" >&2
      exit 1
    fi
    echo "-- $name: skipped ($tool is not installed)"
    continue
  fi
  echo "-- $name: $target"
  make --no-print-directory -C "$name" "$target"
done
