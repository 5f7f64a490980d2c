#!/usr/bin/env bash
# Copies Apache Kafka's broker jars (pom.xml beside this script) from Maven Central into a cache dir,
# once per machine: the Kafka tests run that broker with Java 17. Later runs find the marker and
# return at once; a rerun after a cleared cache takes Maven's ~/.m2 copies (no network needed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version="$(sed -n 's:.*<version>\(4\.[0-9.]*\)</version>.*:\1:p' "$here/pom.xml" | head -1)"
dir="${LPSIGNER_KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/lpsigner-tools/kafka-$version}"
# The marker holds the pom's hash: a changed dependency list fetches again.
sum="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
[ "$(cat "$dir/.complete" 2>/dev/null)" = "$sum" ] && { echo "$dir"; exit 0; }
rm -rf "$dir" && mkdir -p "$dir"
mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir" >&2
echo "$sum" > "$dir/.complete"
echo "$dir"
