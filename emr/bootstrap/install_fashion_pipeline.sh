#!/usr/bin/env bash
# EMR bootstrap action: install the fashion-pipeline wheel (built by `python -m build` or
# `pip wheel . --no-deps`) and its pure-Python needs on every node, for the cluster's Python 3.11.
# Args: S3 URI of the wheel. Spark itself comes from EMR; pyspark is not reinstalled.
set -euo pipefail
wheel_uri="${1:?usage: install_fashion_pipeline.sh s3://bucket/path/fashion_pipeline-X-py3-none-any.whl}"
workdir="$(mktemp -d)"
aws s3 cp "$wheel_uri" "$workdir/"
sudo python3 -m pip install --quiet --no-deps "$workdir"/*.whl
sudo python3 -m pip install --quiet "pyarrow>=15" "pandas>=2.0,<3" "numpy>=1.26" "faker==40.54.0" "pyyaml>=6" "pydantic>=2.6,<3" "boto3>=1.34" "tqdm>=4.66"
