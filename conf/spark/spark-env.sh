# Sourced by Spark's launch scripts (variables are exported) for local runs; see spark-defaults.conf.

# The driver binds to loopback only, and calls itself by that address (spark.driver.host) without a
# reverse DNS lookup: a laptop's hostname may resolve to an address that is not its own, to one
# others can reach, or slowly.
SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
SPARK_LOCAL_HOSTNAME="${SPARK_LOCAL_HOSTNAME:-127.0.0.1}"

# The spark-submit driver and the Python workers run the interpreter of the venv this pyspark is
# installed in (SPARK_HOME is <venv>/lib/python3.X/site-packages/pyspark): it has pyarrow and our
# package, whatever python3 comes first on PATH.
if [ -z "${PYSPARK_PYTHON:-}" ] && [ -f "${SPARK_HOME}/../../../../pyvenv.cfg" ]; then
  PYSPARK_PYTHON="$(cd "${SPARK_HOME}/../../../../bin" && pwd)/python"
fi
