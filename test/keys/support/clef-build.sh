#!/usr/bin/env bash
# Builds go-ethereum's clef (the JSON-RPC signer test's real component) once per machine, into a
# cache outside the work tree, from the Go module proxy. clef was removed in go-ethereum v1.17, so
# this pins the last v1.16 release. Idempotent: skips when the binary is there. Prints its path.
# Keep CLEF_VERSION in step with test/keys/support/clef-harness.ts.
set -euo pipefail
CLEF_VERSION=v1.16.9
dir="${LP_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lpsigner-tools}/clef-$CLEF_VERSION"
if [[ ! -x "$dir/clef" ]]; then
  mkdir -p "$dir"
  # ~2 minutes on 2 cores with an empty Go module cache.
  (cd "$dir" && GOBIN="$dir" go install "github.com/ethereum/go-ethereum/cmd/clef@$CLEF_VERSION") >&2
fi
echo "$dir/clef"
