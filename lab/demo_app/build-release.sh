#!/usr/bin/env bash
# Package one demo app release as a deterministic tarball (same inputs, same bytes), the way a CI would:
# the code, release.json (version + the schema it needs) and its migrations up to that schema.
# Usage: build-release.sh VERSION SCHEMA OUTDIR   -> OUTDIR/demo-VERSION.tar.gz; prints "built" or "unchanged"
set -euo pipefail
version=$1 schema=$2 outdir=$3
src=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/migrations" "$outdir"
cp "$src/demoapp.py" "$src/worker.py" "$src/migrate.py" "$stage/"
printf '{"version": "%s", "schema": "%s"}\n' "$version" "$schema" > "$stage/release.json"
for f in "$src"/migrations/*.sql; do
  [[ "$(basename "$f" | cut -c1-4)" > "$schema" ]] || cp "$f" "$stage/migrations/"
done
chmod -R u=rwX,go=rX "$stage"
out="$outdir/demo-$version.tar.gz"
tar -C "$stage" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - . | gzip -n > "$stage.tgz"
if cmp -s "$stage.tgz" "$out"; then rm -f "$stage.tgz"; echo unchanged; else mv "$stage.tgz" "$out"; echo built; fi
