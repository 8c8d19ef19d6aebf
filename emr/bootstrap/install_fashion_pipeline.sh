#!/usr/bin/env bash
# EMR bootstrap action: install one release of fashion-pipeline on every node, for the cluster's
# Python 3.11. `fashion deploy` uploads this script, the wheel and constraints.txt; the cluster
# request (orchestration/steps.py run_job_flow_request) passes their S3 URIs.
#
#   install_fashion_pipeline.sh WHEEL_URI CONSTRAINTS_URI
#
# The wheel's own metadata (setup.py install_requires) decides what is installed, constraints.txt
# pins every version: nothing here lists packages. Spark and its pyspark come from EMR; nothing in
# the wheel requires pyspark, so pip never touches it (the check below refuses a wheel that would).
# Any failure fails the bootstrap, and with it the cluster, rather than a step hours later.
set -euo pipefail

usage="usage: install_fashion_pipeline.sh s3://.../fashion_pipeline-X-py3-none-any.whl s3://.../constraints.txt"
wheel_uri="${1:?$usage}"
constraints_uri="${2:?$usage}"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
# pip reads the version and tags from the wheel's file name: keep it.
wheel="$workdir/$(basename "$wheel_uri")"
constraints="$workdir/constraints.txt"
aws s3 cp --only-show-errors "$wheel_uri" "$wheel"
aws s3 cp --only-show-errors "$constraints_uri" "$constraints"

if python3 - "$wheel" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    lines = wheel.read(metadata).decode().splitlines()
needs_spark = [l for l in lines if l.lower().startswith(("requires-dist: pyspark", "requires-dist: py4j"))
               and "extra ==" not in l]
sys.exit(0 if needs_spark else 1)
EOF
then
  echo "install_fashion_pipeline.sh: $wheel_uri requires pyspark/py4j at runtime; EMR provides Spark" >&2
  exit 1
fi

# --only-binary: a pin without a wheel for this platform fails here instead of compiling on a node.
sudo python3 -m pip install --no-input --disable-pip-version-check --progress-bar off \
  --only-binary=:all: --constraint "$constraints" "$wheel"
python3 -c "import fashion_pipeline, sqlglot, pandas, pyarrow; print('fashion-pipeline installed')"
