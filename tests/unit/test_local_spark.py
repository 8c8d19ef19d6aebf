"""Installing conf/spark into a venv's pyspark: what is generated, when the archive is rebuilt."""
from pathlib import Path

import pytest

from fashion_pipeline import local_spark
from fashion_pipeline.local_spark import (
    ARCHIVE_NAME,
    CLASS_PATH_KEY,
    GENERATED_MARKER,
    JAVA_OPTIONS_KEY,
    QUIET_ARCHIVE_OPTIONS,
    LocalSparkError,
    install,
    read_spark_defaults,
)

DEFAULTS = """# comment
spark.driver.memory   4g
spark.driver.extraJavaOptions  -XX:+UseParallelGC -XX:Tier4InvocationThreshold=50000
spark.driver.extraClassPath    /usr/share/java/postgresql.jar
"""


@pytest.fixture
def fake_spark(tmp_path, monkeypatch):
    """A source conf dir, a pyspark home with one jar, and an archive job that only writes a file."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "spark-defaults.conf").write_text(DEFAULTS)
    (source / "spark-env.sh").write_text("SPARK_LOCAL_IP=127.0.0.1\n")
    (source / "log4j2.properties").write_text("rootLogger.level = warn\n")
    home = tmp_path / "pyspark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "spark-core.jar").write_bytes(b"jar")
    monkeypatch.setattr(local_spark, "spark_home", lambda: home)
    archive_runs = []

    def fake_archive_job(work, source_defaults, dumped):
        archive_runs.append(source_defaults[JAVA_OPTIONS_KEY])
        dumped.write_bytes(b"archive")

    monkeypatch.setattr(local_spark, "_run_archive_job", fake_archive_job)
    return source, home, archive_runs


def test_spark_defaults_are_key_value_lines_and_the_last_key_wins(tmp_path):
    path = tmp_path / "spark-defaults.conf"
    path.write_text(DEFAULTS + "spark.driver.memory 8g\n")
    assert read_spark_defaults(path) == {
        "spark.driver.memory": "8g",
        "spark.driver.extraJavaOptions": "-XX:+UseParallelGC -XX:Tier4InvocationThreshold=50000",
        "spark.driver.extraClassPath": "/usr/share/java/postgresql.jar",
    }
    path.write_text("spark.driver.memory\n")
    with pytest.raises(LocalSparkError, match="expected `key value`"):
        read_spark_defaults(path)


def test_install_links_the_sources_and_appends_jars_first_and_the_archive(fake_spark):
    source, home, archive_runs = fake_spark
    install(source)

    conf = home / "conf"
    assert (conf / "spark-env.sh").resolve() == (source / "spark-env.sh").resolve()
    assert (conf / "log4j2.properties").resolve() == (source / "log4j2.properties").resolve()
    assert (conf / GENERATED_MARKER).is_file()
    effective = read_spark_defaults(conf / "spark-defaults.conf")
    assert effective["spark.driver.memory"] == "4g"
    assert effective[CLASS_PATH_KEY] == f"/usr/share/java/postgresql.jar:{home / 'jars' / '*'}"
    assert effective[JAVA_OPTIONS_KEY] == (
        f"-XX:+UseParallelGC -XX:Tier4InvocationThreshold=50000 -XX:SharedArchiveFile={conf / ARCHIVE_NAME}"
        f" {QUIET_ARCHIVE_OPTIONS}"
    )
    # The archive was dumped with the source's options, not with an archive of its own.
    assert archive_runs == ["-XX:+UseParallelGC -XX:Tier4InvocationThreshold=50000"]


def test_the_path_file_drops_only_the_zips_inside_this_pyspark(fake_spark, monkeypatch):
    source, home, _ = fake_spark
    install(source)
    line = (home.parent / local_spark.PATH_FILE_NAME).read_text()
    assert line.startswith("import os, sys;")
    emr_zip = "/usr/lib/spark/python/lib/pyspark.zip"
    monkeypatch.setattr("sys.path", [f"{home}/python/lib/pyspark.zip", f"{home}/python/lib/py4j-0.10.9.9-src.zip",
                                     emr_zip, str(home.parent)])
    exec(line)
    import sys

    assert sys.path == [emr_zip, str(home.parent)]


def test_install_again_changes_nothing_until_jars_or_options_change(fake_spark):
    source, home, archive_runs = fake_spark
    install(source)
    assert install(source) == [f"{home / 'conf'}: up to date"]
    assert len(archive_runs) == 1

    (home / "jars" / "spark-sql.jar").write_bytes(b"another jar")
    install(source)
    assert len(archive_runs) == 2

    (source / "spark-defaults.conf").write_text(DEFAULTS.replace("50000", "60000"))
    install(source)
    assert len(archive_runs) == 3
    assert "60000" in read_spark_defaults(home / "conf" / "spark-defaults.conf")[JAVA_OPTIONS_KEY]


def test_install_refuses_a_conf_directory_it_did_not_make(fake_spark):
    source, home, _ = fake_spark
    (home / "conf").mkdir()
    (home / "conf" / "spark-defaults.conf").write_text("spark.master local[1]\n")
    with pytest.raises(LocalSparkError, match="was not made by us"):
        install(source)
    assert (home / "conf" / "spark-defaults.conf").read_text() == "spark.master local[1]\n"


def test_a_directory_link_of_an_earlier_layout_is_replaced(fake_spark, tmp_path):
    source, home, _ = fake_spark
    (home / "conf").symlink_to(source)
    install(source)
    assert not (home / "conf").is_symlink()
    assert Path(source / "spark-defaults.conf").read_text() == DEFAULTS


def test_a_failed_archive_leaves_a_working_configuration_without_it(fake_spark, monkeypatch):
    source, home, _ = fake_spark

    def failing_archive_job(work, source_defaults, dumped):
        raise LocalSparkError("building the class-data-sharing archive failed (exit 1):\nno space left")

    monkeypatch.setattr(local_spark, "_run_archive_job", failing_archive_job)
    done = install(source)

    conf = home / "conf"
    assert any("not built, Spark starts without it" in line and "no space left" in line for line in done)
    assert not (conf / ARCHIVE_NAME).exists()
    effective = read_spark_defaults(conf / "spark-defaults.conf")
    assert "SharedArchiveFile" not in effective[JAVA_OPTIONS_KEY]
    assert effective[CLASS_PATH_KEY].endswith(str(home / "jars" / "*"))
