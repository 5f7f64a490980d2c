#!/usr/bin/env bash
# Installs the pinned tools for the Go and Python clients into .tools/ (gitignored):
#   .tools/bin   protoc-gen-go, protoc-gen-connect-go, grpcurl (reflection test)  (go install module@version)
#   .tools/venv  protoc-gen-py, protoc-gen-connectrpc, the Python runtime, pytest, clients/python
# Idempotent and quick when already installed. Usage: scripts/clients-tools.sh [go|python|all]
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
what="${1:-all}"
# Keep these in step with clients/go/go.mod and clients/python/pyproject.toml.
PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_CONNECT_GO=connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
GRPCURL=github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
PY_PLUGINS=(protoc-gen-py==0.7.0 protoc-gen-connectrpc==0.13.0)

# A stamp per part, keyed by this script's contents: skip what is already installed at these pins.
stamp() { echo ".tools/installed-$1-$(sha256sum "$self" clients/python/pyproject.toml | sha256sum | cut -c1-16)"; }

if [[ ( "$what" == go || "$what" == all ) && ! -e "$(stamp go)" ]]; then
  GOBIN="$PWD/.tools/bin" go install "$PROTOC_GEN_GO"
  GOBIN="$PWD/.tools/bin" go install "$PROTOC_GEN_CONNECT_GO"
  GOBIN="$PWD/.tools/bin" go install "$GRPCURL"
  touch "$(stamp go)"
fi
if [[ ( "$what" == python || "$what" == all ) && ! -e "$(stamp python)" ]]; then
  [[ -x .tools/venv/bin/python ]] || python3 -m venv .tools/venv
  .tools/venv/bin/pip install --quiet --disable-pip-version-check "${PY_PLUGINS[@]}" -e 'clients/python[test]'
  touch "$(stamp python)"
fi
