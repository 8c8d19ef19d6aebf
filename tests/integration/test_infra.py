"""infra/fashion-pipeline.yaml: linted (cfn-lint, parliament), deployed to moto's CloudFormation
and checked resource by resource, and held to the code's own table definitions and conf/emr.yaml."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from parliament import analyze_policy_string, iam_definition

from fashion_pipeline.aws import aws_client
from fashion_pipeline.config import load_config
from fashion_pipeline.infra import (
    TEMPLATE_PATH,
    TemplateError,
    complete_emulated_stack,
    dynamodb_key_schemas,
    load_template,
    parameter_defaults,
    pseudo_parameters,
    resolve_intrinsics,
    resources_of_type,
    template_body,
)
from fashion_pipeline.quality.alerts import slack_webhook_url
from fashion_pipeline.realtime.package import HANDLER, RUNTIME, build_lambda_package
from fashion_pipeline.realtime.settings import RealtimeSettings
from fashion_pipeline.realtime.store import ensure_realtime_tables
from fashion_pipeline.recs.dynamodb import ensure_serving_tables
from fashion_pipeline.recs.items import EXPIRES_AT

CFN_LINT = Path(sys.executable).parent / "cfn-lint"
ACCOUNT, REGION = "123456789012", "eu-west-1"
STACK = "fashion-test"
TEST_BUCKET = "fashion-pipeline-infra-test"
IAM_POLICY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
# Parliament findings accepted, as (role, Sid, issue) -> why. Empty: the policies lint clean.
PARLIAMENT_ALLOWED: dict[tuple[str, str, str], str] = {}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="module")
def emr_config():
    return load_config("emr", environ={"FASHION_BUCKET": TEST_BUCKET})


# ---------------------------------------------------------------------------------- cfn-lint
def run_cfn_lint(path: Path) -> subprocess.CompletedProcess:
    # Informational checks too: they flag stateful resources without an explicit deletion policy.
    return subprocess.run([str(CFN_LINT), "--include-checks", "I", "--", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_template_passes_cfn_lint_with_no_finding():
    result = run_cfn_lint(TEMPLATE_PATH)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_cfn_lint_catches_an_unknown_iam_action(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(template_body().replace("kinesis:GetShardIterator", "kinesis:GetShardIterators", 1))
    result = run_cfn_lint(broken)
    assert result.returncode != 0 and "getsharditerators" in result.stdout.lower()


# ---------------------------------------------------------------------------------- parliament
def plausible_values(template: dict) -> tuple[dict, dict]:
    """What Ref and GetAtt give on AWS, as realistic names and ARNs, for the policy linter."""
    refs = {**parameter_defaults(template), "BucketName": TEST_BUCKET, **pseudo_parameters(REGION, ACCOUNT, STACK)}
    attributes = {}
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Kinesis::Stream":
            refs[name] = "fashion-clickstream"
            attributes[f"{name}.Arn"] = arn.format("kinesis", "stream/fashion-clickstream")
        elif kind == "AWS::DynamoDB::Table":
            refs[name] = resolve_intrinsics(properties["TableName"], refs)
            attributes[f"{name}.Arn"] = arn.format("dynamodb", f"table/{refs[name]}")
        elif kind == "AWS::SQS::Queue":
            queue = resolve_intrinsics(properties["QueueName"], refs)
            refs[name] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{queue}"
            attributes[f"{name}.Arn"] = arn.format("sqs", queue)
        elif kind == "AWS::Logs::LogGroup":
            group = resolve_intrinsics(properties["LogGroupName"], refs)
            refs[name] = group
            attributes[f"{name}.Arn"] = arn.format("logs", f"log-group:{group}:*")
        elif kind == "AWS::IAM::Role":
            refs[name] = resolve_intrinsics(properties["RoleName"], refs)
            attributes[f"{name}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{refs[name]}"
        elif kind == "AWS::SecretsManager::Secret":
            # Ref of a secret is its ARN, which ends in a random suffix.
            refs[name] = arn.format("secretsmanager", f"secret:{resolve_intrinsics(properties['Name'], refs)}-a1B2c3")
        elif kind == "AWS::Athena::WorkGroup":
            refs[name] = resolve_intrinsics(properties["Name"], refs)
    return refs, attributes


def iam_policy_documents(template: dict) -> dict[tuple[str, str], dict]:
    """(resource, policy name) -> the policy document, intrinsics resolved."""
    refs, attributes = plausible_values(template)
    documents = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] not in IAM_POLICY_TYPES:
            continue
        properties = resource["Properties"]
        inline = properties.get("Policies", []) if resource["Type"] == "AWS::IAM::Role" else [properties]
        for policy in inline:
            documents[(name, policy.get("PolicyName", name))] = resolve_intrinsics(policy["PolicyDocument"], refs, attributes)
    return documents


def test_every_iam_policy_passes_parliament(template):
    documents = iam_policy_documents(template)
    assert {role for role, _ in documents} >= {"EmrServiceRole", "EmrInstanceRole", "RealtimeFunctionRole", "AirflowExecutionRole"}
    findings = []
    for (role, policy), document in documents.items():
        for finding in analyze_policy_string(json.dumps(document), ignore_private_auditors=True).findings:
            sid = (finding.location or {}).get("Sid", "") if isinstance(finding.location, dict) else ""
            if (role, sid, finding.issue) not in PARLIAMENT_ALLOWED:
                findings.append(f"{role}/{policy} {sid}: {finding.issue} {finding.detail}")
    assert findings == []


def test_parliament_flags_a_wildcard_resource_where_aws_allows_a_narrower_one():
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:GetRecords", "Resource": "*"}]}
    issues = {f.issue for f in analyze_policy_string(json.dumps(document), ignore_private_auditors=True).findings}
    assert "RESOURCE_STAR" in issues


def actions_without_resource_types() -> set[str]:
    """Actions for which AWS's service authorization reference lists no resource type."""
    return {f"{service['prefix']}:{privilege['privilege']}".lower()
            for service in iam_definition for privilege in service["privileges"]
            if all(not r["resource_type"] for r in privilege["resource_types"])}


def test_wildcard_resources_only_where_aws_requires_them(template):
    without_resources = actions_without_resource_types()
    wildcard_statements = []
    for (role, _), document in iam_policy_documents(template).items():
        for statement in document["Statement"]:
            resources = statement.get("Resource", [])
            if "*" in ([resources] if isinstance(resources, str) else resources):
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                wildcard_statements.append((role, statement["Sid"]))
                assert {a.lower() for a in actions} <= without_resources, (role, statement["Sid"])
    # The wildcards the template's comments justify, and no others.
    assert sorted(wildcard_statements) == sorted([
        ("EmrInstanceRole", "ListTablesHasNoResource"), ("EmrInstanceRole", "StreamingMetricsHaveNoResource"),
        ("AirflowExecutionRole", "CreateClustersHasNoResource"),
        ("AirflowExecutionRole", "AccountPublicAccessBlockHasNoResource"),
        ("AirflowExecutionRole", "StreamLagHasNoResource"),
    ])


def test_airflow_may_pass_only_the_two_emr_roles(template):
    refs, attributes = plausible_values(template)
    passes = [s for (role, _), d in iam_policy_documents(template).items() if role == "AirflowExecutionRole"
              for s in d["Statement"] if "iam:PassRole" in s["Action"]]
    assert [sorted(s["Resource"]) for s in passes] == [sorted([attributes["EmrServiceRole.Arn"], attributes["EmrInstanceRole.Arn"]])]


def test_what_the_emulator_cannot_show_is_declared(template):
    """moto drops a table's SSESpecification and attaches no AWS managed policy: checked here."""
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    assert len(tables) == 5
    assert all(t["Properties"]["SSESpecification"] == {"SSEEnabled": True} for t in tables.values())
    refs, _ = plausible_values(template)
    managed = resolve_intrinsics(template["Resources"]["EmrServiceRole"]["Properties"]["ManagedPolicyArns"], refs)
    assert managed == ["arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"]


# ---------------------------------------------------------------------------------- drift
def test_template_defaults_are_conf_emr_values(template, emr_config):
    defaults = parameter_defaults(template)
    names, realtime = emr_config.names, emr_config.realtime
    assert {
        "GlueDatabaseName": defaults["GlueDatabaseName"],
        "RecommendationsTableName": defaults["RecommendationsTableName"],
        "RealtimeRecommendationsTableName": defaults["RealtimeRecommendationsTableName"],
        "ItemNeighborsTableName": defaults["ItemNeighborsTableName"],
        "TrendingTableName": defaults["TrendingTableName"],
        "RealtimeEventsTableName": defaults["RealtimeEventsTableName"],
        "RealtimeFailureQueueName": defaults["RealtimeFailureQueueName"],
        "RealtimeFunctionName": defaults["RealtimeFunctionName"],
        "ClickstreamStreamName": defaults["ClickstreamStreamName"],
        "RdsSecretName": defaults["RdsSecretName"],
        "SlackWebhookSecretName": defaults["SlackWebhookSecretName"],
    } == {
        "GlueDatabaseName": names.glue_database,
        "RecommendationsTableName": names.recommendations_table,
        "RealtimeRecommendationsTableName": names.realtime_recommendations_table,
        "ItemNeighborsTableName": names.item_neighbors_table,
        "TrendingTableName": names.trending_table,
        "RealtimeEventsTableName": names.realtime_events_table,
        "RealtimeFailureQueueName": names.realtime_failure_queue,
        "RealtimeFunctionName": names.realtime_function,
        "ClickstreamStreamName": names.clickstream_stream,
        "RdsSecretName": names.rds_secret_id,
        "SlackWebhookSecretName": names.slack_webhook_secret_id,
    }
    assert (int(defaults["ClickstreamShardCount"]), int(defaults["RealtimeBatchSize"]),
            float(defaults["RealtimeBatchingWindowSeconds"]), int(defaults["RealtimeMaximumRetryAttempts"]),
            defaults["RealtimeBisectOnError"], defaults["RealtimeStartingPosition"],
            float(defaults["RealtimeFunctionTimeoutSeconds"])) == (
        emr_config.clickstream.shard_count, realtime.batch_size, realtime.batching_window_s,
        realtime.maximum_retry_attempts, str(realtime.bisect_on_error).lower(), realtime.starting_position,
        realtime.function_timeout_s)


def test_table_definitions_are_the_codes(template, aws_config):
    """The code creates its tables itself (locally); the template must declare the same keys and
    the same TTL attribute on the same tables, or the code would read and write the wrong items."""
    dynamodb = aws_client("dynamodb", aws_config)
    ensure_serving_tables(aws_config, dynamodb)
    ensure_realtime_tables(dynamodb, RealtimeSettings.from_config(aws_config), waiter_delay_s=0)
    names = aws_config.names
    tables = [names.recommendations_table, names.realtime_recommendations_table, names.item_neighbors_table,
              names.trending_table, names.realtime_events_table]
    from_code = {}
    for table in tables:
        described = dynamodb.describe_table(TableName=table)["Table"]
        from_code[table] = {"KeySchema": described["KeySchema"], "AttributeDefinitions": described["AttributeDefinitions"]}
    assert dynamodb_key_schemas(template, parameter_defaults(template)) == from_code

    code_ttl = {t: dynamodb.describe_time_to_live(TableName=t)["TimeToLiveDescription"].get("AttributeName") for t in tables}
    template_ttl = {
        resolve_intrinsics(r["Properties"]["TableName"], parameter_defaults(template)):
            (r["Properties"].get("TimeToLiveSpecification") or {}).get("AttributeName")
        for r in resources_of_type(template, "AWS::DynamoDB::Table").values()
    }
    assert template_ttl == code_ttl
    assert set(template_ttl.values()) == {EXPIRES_AT, None}


# ---------------------------------------------------------------------------------- deployment
def stack_parameters(**values: str) -> list[dict]:
    return [{"ParameterKey": key, "ParameterValue": value} for key, value in {"BucketName": TEST_BUCKET, **values}.items()]


def test_template_deploys_to_the_emulator_in_two_steps(aws_config, emr_config, tmp_path):
    cloudformation = aws_client("cloudformation", aws_config)
    cloudformation.create_stack(StackName=STACK, TemplateBody=template_body(), Parameters=stack_parameters(),
                                Capabilities=["CAPABILITY_NAMED_IAM"])
    stack = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert "RealtimeFunctionArn" not in outputs  # no code uploaded yet: no function
    names = emr_config.names

    s3 = aws_client("s3", aws_config)
    assert outputs["BucketName"] == TEST_BUCKET
    encryption = s3.get_bucket_encryption(Bucket=TEST_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")

    stream = aws_client("kinesis", aws_config).describe_stream_summary(StreamName=names.clickstream_stream)["StreamDescriptionSummary"]
    assert (stream["OpenShardCount"], stream["RetentionPeriodHours"]) == (emr_config.clickstream.shard_count, 48)

    dynamodb = aws_client("dynamodb", aws_config)
    for table, key in [(names.recommendations_table, "user_id"), (names.realtime_recommendations_table, "user_id"),
                       (names.item_neighbors_table, "article_id"), (names.trending_table, "scope"),
                       (names.realtime_events_table, "user_id")]:
        described = dynamodb.describe_table(TableName=table)["Table"]
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert described["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]

    sqs = aws_client("sqs", aws_config)
    queue_url = sqs.get_queue_url(QueueName=names.realtime_failure_queue)["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["SqsManagedSseEnabled"])["Attributes"] == {
        "SqsManagedSseEnabled": "true"}

    iam = aws_client("iam", aws_config)
    profile = iam.get_instance_profile(InstanceProfileName=outputs["EmrInstanceProfileName"])["InstanceProfile"]
    assert [r["Arn"] for r in profile["Roles"]] == [outputs["EmrInstanceRoleArn"]]
    service_role = outputs["EmrServiceRoleName"]
    assert iam.list_role_policies(RoleName=service_role)["PolicyNames"] == ["pass-instance-role"]
    trusted = {role: iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
               for role in (service_role, "prod-fashion-emr-instance", "prod-fashion-realtime-lambda", "prod-fashion-airflow")}
    assert trusted == {service_role: "elasticmapreduce.amazonaws.com", "prod-fashion-emr-instance": "ec2.amazonaws.com",
                       "prod-fashion-realtime-lambda": "lambda.amazonaws.com",
                       "prod-fashion-airflow": ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]}

    # Second step, as infra/README.md: upload the content-hashed zip, deploy again with its key.
    package = build_lambda_package(tmp_path / "fast-path.zip", RealtimeSettings.from_config(emr_config))
    code_key = f"deploy/lambda/fashion-realtime-{package.sha256}.zip"
    s3.upload_file(str(package.path), TEST_BUCKET, code_key)
    cloudformation.update_stack(StackName=STACK, TemplateBody=template_body(),
                                Parameters=stack_parameters(LambdaCodeKey=code_key), Capabilities=["CAPABILITY_NAMED_IAM"])
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"

    lambda_client = aws_client("lambda", aws_config)
    function = lambda_client.get_function_configuration(FunctionName=names.realtime_function)
    assert (function["Runtime"], function["Handler"], function["Timeout"], function["Role"]) == (
        RUNTIME, HANDLER, int(emr_config.realtime.function_timeout_s),
        f"arn:aws:iam::{ACCOUNT}:role/prod-fashion-realtime-lambda")
    # The mapping the stack made, by its id: moto's ListEventSourceMappings answered [] now and then.
    resources = {r.get("LogicalResourceId"): r["PhysicalResourceId"]
                 for r in cloudformation.list_stack_resources(StackName=STACK)["StackResourceSummaries"]}
    mapping = lambda_client.get_event_source_mapping(UUID=resources["RealtimeEventSourceMapping"])
    assert mapping["FunctionArn"] == function["FunctionArn"]
    realtime = emr_config.realtime
    assert {key: mapping[key] for key in ("EventSourceArn", "StartingPosition", "BatchSize", "MaximumBatchingWindowInSeconds",
                                          "MaximumRetryAttempts", "BisectBatchOnFunctionError", "FunctionResponseTypes",
                                          "DestinationConfig")} == {
        "EventSourceArn": outputs["ClickstreamStreamArn"], "StartingPosition": realtime.starting_position,
        "BatchSize": realtime.batch_size, "MaximumBatchingWindowInSeconds": int(realtime.batching_window_s),
        "MaximumRetryAttempts": realtime.maximum_retry_attempts, "BisectBatchOnFunctionError": realtime.bisect_on_error,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": outputs["RealtimeFailureQueueArn"]}},
    }


def test_emulated_stack_is_completed_with_what_moto_skips(aws_config):
    """moto's CloudFormation reports CREATE_COMPLETE without the bucket's settings but encryption,
    the stream's encryption, the bucket policy, the Glue database, the Athena workgroup, the
    secrets, and the tables' TTL and point-in-time recovery: complete_emulated_stack creates them."""
    cloudformation = aws_client("cloudformation", aws_config)
    cloudformation.create_stack(StackName=STACK, TemplateBody=template_body(), Parameters=stack_parameters(),
                                Capabilities=["CAPABILITY_NAMED_IAM"])
    done = complete_emulated_stack(aws_config, STACK)
    assert complete_emulated_stack(aws_config, STACK) == []  # a second run finds nothing to do
    assert len(done) == 18, done
    names = aws_config.names

    s3 = aws_client("s3", aws_config)
    assert s3.get_public_access_block(Bucket=TEST_BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_ownership_controls(Bucket=TEST_BUCKET)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerEnforced"}]
    assert s3.get_bucket_versioning(Bucket=TEST_BUCKET)["Status"] == "Enabled"
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=TEST_BUCKET)["Rules"]}
    assert rules["raw-to-glacier-then-expire"]["Filter"]["Prefix"] == "raw/"
    assert rules["raw-to-glacier-then-expire"]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER_IR"}]
    assert rules["raw-to-glacier-then-expire"]["Expiration"]["Days"] == 730
    assert (rules["emr-logs-expire"]["Filter"]["Prefix"], rules["emr-logs-expire"]["Expiration"]["Days"]) == ("emr-logs/", 30)
    assert rules["old-versions-and-uploads"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30

    stream = aws_client("kinesis", aws_config).describe_stream_summary(StreamName=names.clickstream_stream)
    assert (stream["StreamDescriptionSummary"]["EncryptionType"], stream["StreamDescriptionSummary"]["KeyId"]) == (
        "KMS", "alias/aws/kinesis")

    assert aws_client("glue", aws_config).get_database(Name=names.glue_database)["Database"]["LocationUri"] == (
        f"s3://{TEST_BUCKET}/lake/")
    dynamodb = aws_client("dynamodb", aws_config)
    for table in (names.realtime_recommendations_table, names.realtime_events_table, names.trending_table):
        assert dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": EXPIRES_AT}
    assert dynamodb.describe_time_to_live(TableName=names.recommendations_table)["TimeToLiveDescription"][
        "TimeToLiveStatus"] == "DISABLED"
    for table in (names.recommendations_table, names.realtime_recommendations_table, names.item_neighbors_table,
                  names.trending_table, names.realtime_events_table):
        recovery = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        assert recovery["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


    policy = json.loads(s3.get_bucket_policy(Bucket=TEST_BUCKET)["Policy"])
    assert policy["Statement"] == [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{TEST_BUCKET}", f"arn:aws:s3:::{TEST_BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]

    workgroup = aws_client("athena", aws_config).get_work_group(WorkGroup="prod-fashion-pipeline")["WorkGroup"]
    assert workgroup["Configuration"]["ResultConfiguration"]["OutputLocation"] == f"s3://{TEST_BUCKET}/athena-results/"

    secrets = aws_client("secretsmanager", aws_config)
    login = json.loads(secrets.get_secret_value(SecretId=names.rds_secret_id)["SecretString"])
    assert set(login) == {"username", "password", "host", "port", "dbname"}
    assert len(login["password"]) == 32 and not set(login["password"]) & set("\"@/\\ '")
    assert login["password"] not in template_body()
    # The placeholder means "no alerts yet" to the code that reads it.
    assert not slack_webhook_url(aws_config, environ={})


def test_completing_a_stack_refuses_a_real_aws_endpoint(config):
    aws = config.with_overrides({"aws.endpoint_url": None})
    with pytest.raises(TemplateError, match="local emulator"):
        complete_emulated_stack(aws, STACK)


# ---------------------------------------------------------------------------------- loader
def test_short_tags_load_as_their_long_forms(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  A:\n    Properties:\n"
                    "      Arn: !GetAtt Stream.Arn\n      Name: !Ref Param\n"
                    "      Text: !Sub 'arn:${AWS::Partition}:s3:::${Param}/x'\n"
                    "      Pair: !Sub ['${Word}-${Param}', {Word: !Ref Other}]\n"
                    "      Joined: !Join ['/', [a, !Ref Param]]\n")
    properties = load_template(path)["Resources"]["A"]["Properties"]
    assert properties["Arn"] == {"Fn::GetAtt": ["Stream", "Arn"]}
    assert properties["Name"] == {"Ref": "Param"}
    refs = {"Param": "p", "Other": "o", "AWS::Partition": "aws"}
    assert resolve_intrinsics(properties, refs, {"Stream.Arn": "arn:s"}) == {
        "Arn": "arn:s", "Name": "p", "Text": "arn:aws:s3:::p/x", "Pair": "o-p", "Joined": "a/p"}
    with pytest.raises(TemplateError, match="Ref Missing"):
        resolve_intrinsics({"Ref": "Missing"}, refs)
