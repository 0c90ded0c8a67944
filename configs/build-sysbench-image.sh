#!/usr/bin/env bash
# Builds bench-sysbench:local, a FROM-scratch image holding this host's sysbench and the
# libraries ldd says it loads (nothing is pulled: no registry is needed), for
# configs/image-isolations.yaml. Needs sysbench (apt-get install sysbench) and dockerd.
set -euo pipefail
tag=${1:-bench-sysbench:local}
program=$(command -v sysbench)
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
for path in "$program" $(ldd "$program" | grep -o '/[^ ]*'); do
  mkdir -p "$context$(dirname "$path")"
  cp -L "$path" "$context$path"
done
printf 'FROM scratch\nCOPY . /\nENV PATH=/usr/bin:/bin\n' >"$context/Dockerfile"
docker build -q -t "$tag" "$context"
