"""`fashion lambda package`: the zip holds the handler, powertools and the settings, no Spark; and
the handler runs from the unpacked zip alone (plus boto3, which the Lambda runtime provides)."""
import json
import site
import subprocess
import sys
import sysconfig
import zipfile

from fashion_pipeline.aws import aws_client
from fashion_pipeline.jobs import OneLineArgumentParser
from fashion_pipeline.realtime.commands import add_lambda_commands
from fashion_pipeline.realtime.package import HANDLER, build_lambda_package
from fashion_pipeline.realtime.settings import PACKAGED_SETTINGS_FILE, RealtimeSettings
from tests.realtime_events import CUSTOMER, aws_event, click, seed_serving_items

# Run from the unpacked zip in a bare interpreter (no site: no editable install of the project),
# with everything the runtime does not provide made unimportable.
RUN_FROM_TASK_DIR = """
import importlib.abc, json, sys
task, site_packages, event_file = sys.argv[1:4]
class NotInTheRuntime(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {"pyspark", "pydantic", "pydantic_core", "yaml", "numpy", "pandas", "pyarrow",
                                  "faker", "psycopg", "moto", "duckdb"}:
            raise ImportError(f"{name} is not in the Lambda runtime")
sys.meta_path.insert(0, NotInTheRuntime())
sys.path[:0] = [task]
sys.path.append(site_packages)  # boto3 and botocore, as the runtime has them
from fashion_pipeline.realtime import lambda_handler
import fashion_pipeline, aws_lambda_powertools
assert fashion_pipeline.__file__.startswith(task) and aws_lambda_powertools.__file__.startswith(task)
class Context:
    function_name, aws_request_id, memory_limit_in_mb = "fashion-realtime-recs", "r-1", 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:fashion-realtime-recs"
    def get_remaining_time_in_millis(self): return 60000
print(json.dumps(lambda_handler.handler(json.load(open(event_file)), Context())))
"""


def test_the_zip_carries_the_handler_powertools_and_settings_but_no_spark(config, tmp_path):
    settings = RealtimeSettings.from_config(config)
    result = build_lambda_package(tmp_path / "fn.zip", settings)
    names = zipfile.ZipFile(result.path).namelist()

    top = {name.split("/")[0] for name in names}
    assert top == {"fashion_pipeline", "aws_lambda_powertools", "typing_extensions.py", PACKAGED_SETTINGS_FILE}
    assert "fashion_pipeline/realtime/lambda_handler.py" in names and "fashion_pipeline/config.py" not in names
    assert not [n for n in names if n.endswith((".so", ".pyc")) or "/pyspark" in n or n.startswith("boto")]
    packaged = RealtimeSettings.from_json(zipfile.ZipFile(result.path).read(PACKAGED_SETTINGS_FILE).decode())
    assert packaged == settings
    assert result.distributions.keys() == {"aws_lambda_powertools", "typing_extensions"}
    again = build_lambda_package(tmp_path / "again.zip", settings)
    assert again.sha256 == result.sha256  # same sources and settings, same bytes


def test_the_unpacked_zip_runs_the_handler_without_the_project_installed(aws_config, tmp_path, capsys):
    seed_serving_items(aws_config)
    parser = OneLineArgumentParser(prog="fashion")
    add_lambda_commands(parser.add_subparsers(dest="_command", required=True))
    args = parser.parse_args(["lambda", "package", "--out", str(tmp_path / "fn.zip"),
                              "--set", f"aws.endpoint_url={aws_config.aws.endpoint_url}"])
    assert args._handler(args) == 0
    assert HANDLER in capsys.readouterr().out
    task = tmp_path / "task"  # where Lambda unpacks a function (/var/task)
    zipfile.ZipFile(tmp_path / "fn.zip").extractall(task)
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(aws_event([click(1, "0200000001", 0), b"{broken", click(2, "0200000002", 30)])))

    site_packages = sysconfig.get_paths()["purelib"]
    assert site_packages in site.getsitepackages()
    run = subprocess.run([sys.executable, "-S", "-c", RUN_FROM_TASK_DIR, str(task), site_packages, str(event_file)],
                         capture_output=True, text=True, env={"AWS_ACCESS_KEY_ID": "local-emulator",
                                                               "AWS_SECRET_ACCESS_KEY": "local-emulator"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    item = aws_client("dynamodb", aws_config).get_item(
        TableName=aws_config.names.realtime_recommendations_table, Key={"user_id": {"S": CUSTOMER}})["Item"]
    assert item["items"]["L"][0]["M"]["reason"] == {"S": "session"}
