"""conf/spark gives spark-submit runs and in-process sessions the same start-up settings: quiet logs,
loopback only, the venv's Python, the JDBC driver, the configured heap and collector."""
import json
from pathlib import Path

from fashion_pipeline.spark import LOCAL_SPARK_CONF_DIR
from tests.spark_submit import VENV_BIN, info_lines, spark_submit

# Prints what the driver JVM and a Python worker got, as one JSON line.
PROBE_JOB = '''
import json, sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("probe").getOrCreate()
jvm = spark._jvm
worker_python = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
print(json.dumps({
    "driver_host": spark.conf.get("spark.driver.host"),
    "heap_bytes": jvm.java.lang.Runtime.getRuntime().maxMemory(),
    "collectors": sorted(b.getName() for b in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()),
    "jdbc_driver_loaded": jvm.java.lang.Class.forName("org.postgresql.Driver").getName(),
    "driver_python": sys.executable,
    "worker_python": worker_python,
}))
spark.stop()
'''
PARALLEL_GC = ["PS MarkSweep", "PS Scavenge"]


def _spark_defaults() -> dict[str, str]:
    settings = {}
    for line in (LOCAL_SPARK_CONF_DIR / "spark-defaults.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split(None, 1)
            settings[key] = value.strip()
    return settings


def _gibibytes(size: str) -> int:
    assert size.endswith("g"), size
    return int(size[:-1])


def test_the_venv_uses_the_project_spark_configuration():
    import pyspark

    link = Path(pyspark.__file__).parent / "conf"
    assert link.resolve() == LOCAL_SPARK_CONF_DIR.resolve(), f"{link} is not linked to conf/spark: run `make venv`"


def test_spark_submit_is_quiet_binds_loopback_and_has_the_project_settings(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE_JOB)

    done = spark_submit(str(probe), cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    assert info_lines(done.stderr) == []
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert facts["driver_host"] == "127.0.0.1"
    assert facts["driver_python"] == facts["worker_python"] == str(VENV_BIN / "python")
    assert facts["jdbc_driver_loaded"] == "org.postgresql.Driver"
    assert facts["collectors"] == PARALLEL_GC
    # The JVM reports a little less than -Xmx (one survivor space).
    configured = _gibibytes(_spark_defaults()["spark.driver.memory"])
    assert configured - 1 < facts["heap_bytes"] / 2**30 <= configured


def test_in_process_sessions_read_the_same_configuration(spark):
    jvm = spark._jvm
    assert spark.conf.get("spark.driver.host") == "127.0.0.1"
    assert sorted(b.getName() for b in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) == PARALLEL_GC
    assert jvm.java.lang.Class.forName("org.postgresql.Driver").getName() == "org.postgresql.Driver"
    assert "-XX:+UseParallelGC" in spark.conf.get("spark.driver.extraJavaOptions")

