"""conf/spark gives spark-submit runs and in-process sessions the same start-up settings: quiet logs,
loopback only, the venv's Python, the JDBC driver, the configured heap and collector."""
import json

from fashion_pipeline.local_spark import (
    ARCHIVE_NAME,
    CLASS_PATH_KEY,
    JAVA_OPTIONS_KEY,
    QUIET_ARCHIVE_OPTIONS,
    SOURCE_CONF_DIR,
    installed_conf_dir,
    read_spark_defaults,
)
from tests.spark_submit import VENV_BIN, info_lines, spark_submit

# Prints what the driver JVM and a Python worker got, as one JSON line.
PROBE_JOB = '''
import json, sys
import pyspark
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
    "pyspark_module": pyspark.__file__,
    "worker_python": worker_python,
    "jvm_arguments": list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()),
}))
spark.stop()
'''
PARALLEL_GC = ["PS MarkSweep", "PS Scavenge"]
ARCHIVE_OPTION = f"-XX:SharedArchiveFile={installed_conf_dir() / ARCHIVE_NAME}"


def _gibibytes(size: str) -> int:
    assert size.endswith("g"), size
    return int(size[:-1])


def test_the_venv_reads_the_project_spark_configuration():
    installed = installed_conf_dir()
    for name in ("spark-env.sh", "log4j2.properties"):
        assert (installed / name).resolve() == (SOURCE_CONF_DIR / name).resolve(), f"run `make venv`: {installed}"
    source = read_spark_defaults(SOURCE_CONF_DIR / "spark-defaults.conf")
    effective = read_spark_defaults(installed / "spark-defaults.conf")
    generated = (JAVA_OPTIONS_KEY, CLASS_PATH_KEY)
    assert {k: v for k, v in effective.items() if k not in generated} == {k: v for k, v in source.items() if k not in generated}
    assert effective[JAVA_OPTIONS_KEY] == f"{source[JAVA_OPTIONS_KEY]} {ARCHIVE_OPTION} {QUIET_ARCHIVE_OPTIONS}"
    assert effective[CLASS_PATH_KEY].startswith(source[CLASS_PATH_KEY] + ":")


def test_spark_submit_is_quiet_binds_loopback_and_has_the_project_settings(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE_JOB)

    done = spark_submit(str(probe), cwd=tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    assert info_lines(done.stderr) == []
    # A class-data-sharing archive that does not fit this JVM and class path says so on stdout.
    assert [line for line in (done.stdout + done.stderr).splitlines() if "[cds" in line] == []
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    assert ARCHIVE_OPTION in facts["jvm_arguments"]
    assert set(QUIET_ARCHIVE_OPTIONS.split()) <= set(facts["jvm_arguments"])
    assert facts["driver_host"] == "127.0.0.1"
    assert facts["driver_python"] == facts["worker_python"] == str(VENV_BIN / "python")
    # pyspark from site-packages, compiled once, not from the zip copy spark-submit puts first.
    assert ".zip" not in facts["pyspark_module"]
    assert facts["jdbc_driver_loaded"] == "org.postgresql.Driver"
    assert facts["collectors"] == PARALLEL_GC
    # The JVM reports a little less than -Xmx (one survivor space).
    configured = _gibibytes(read_spark_defaults(SOURCE_CONF_DIR / "spark-defaults.conf")["spark.driver.memory"])
    assert configured - 1 < facts["heap_bytes"] / 2**30 <= configured


def test_in_process_sessions_read_the_same_configuration(spark):
    jvm = spark._jvm
    assert spark.conf.get("spark.driver.host") == "127.0.0.1"
    assert sorted(b.getName() for b in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) == PARALLEL_GC
    assert jvm.java.lang.Class.forName("org.postgresql.Driver").getName() == "org.postgresql.Driver"
    assert ARCHIVE_OPTION in spark.conf.get("spark.driver.extraJavaOptions")

