"""The CloudFormation template (infra/fashion-pipeline.yaml) as data, and what an emulator skips.

- `load_template`: the YAML with CloudFormation's short tags (`!Ref`, `!Sub`, `!GetAtt`, ...) read
  as their long JSON forms (`{"Ref": ...}`), so Python sees what CloudFormation sees.
- `resolve_intrinsics`: substitutes `Ref`, `Fn::Sub`, `Fn::GetAtt` and `Fn::Join` from given values
  (stack parameters and physical ids, or plausible ARNs for a linter).
- `dynamodb_key_schemas`: each table's key schema as the template declares it.
- `complete_emulated_stack`: moto's CloudFormation reports CREATE_COMPLETE while it silently skips
  some resource types and properties; this creates them through the services' own APIs, so a
  stack on the emulator ends up like one on AWS.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from fashion_pipeline.aws import aws_client, is_local_endpoint
from fashion_pipeline.errors import PipelineError

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "fashion-pipeline.yaml"
# Resource types moto's CloudFormation skips without a word. It also drops properties: of a bucket
# it applies only the encryption and tags; of a stream, not its encryption; of a DynamoDB table,
# not its TimeToLiveSpecification, PointInTimeRecoverySpecification nor SSESpecification. The last
# cannot be made up for: moto reads the API's `Enabled` where CloudFormation says `SSEEnabled`, and
# its UpdateTable ignores SSESpecification, so a table's KMS encryption is checked in the template.
EMULATOR_SKIPPED_TYPES = (
    "AWS::S3::BucketPolicy", "AWS::Glue::Database", "AWS::Athena::WorkGroup", "AWS::SecretsManager::Secret",
)
_SEQUENCE_FUNCTIONS = ("And", "Base64", "Cidr", "Equals", "FindInMap", "If", "Join", "Not", "Or", "Select",
                       "Split", "Sub", "GetAZs", "ImportValue", "Transform")


class TemplateError(PipelineError):
    """The template cannot be read or one of its values cannot be resolved."""


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form tags."""


def _long_form(function: str) -> Callable:
    key = "Ref" if function in ("Ref", "Condition") else f"Fn::{function}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if function == "GetAtt":  # !GetAtt Resource.Attribute is the list [Resource, Attribute]
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {"Condition" if function == "Condition" else key: value}

    return construct


for _function in (*_SEQUENCE_FUNCTIONS, "Ref", "GetAtt", "Condition"):
    _CloudFormationLoader.add_constructor(f"!{_function}", _long_form(_function))


def load_template(path: Path = TEMPLATE_PATH) -> dict:
    try:
        template = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    except (OSError, yaml.YAMLError) as error:
        raise TemplateError(f"cannot read template {path}: {error}") from None
    if not isinstance(template, dict) or "Resources" not in template:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return template


def template_body(path: Path = TEMPLATE_PATH) -> str:
    return Path(path).read_text(encoding="utf-8")


def parameter_defaults(template: Mapping) -> dict[str, str]:
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


def resources_of_type(template: Mapping, resource_type: str) -> dict[str, dict]:
    return {name: resource for name, resource in template["Resources"].items() if resource["Type"] == resource_type}


# ---------------------------------------------------------------------------------- intrinsics
def resolve_intrinsics(value: Any, refs: Mapping[str, str], attributes: Mapping[str, str] | None = None) -> Any:
    """`value` with Ref, Fn::Sub, Fn::GetAtt and Fn::Join replaced: `refs` maps a parameter,
    pseudo parameter or resource name to what Ref gives; `attributes` maps "Resource.Attribute" to
    what GetAtt gives. Anything unresolvable raises TemplateError rather than passing through."""
    attributes = attributes or {}

    def lookup_ref(name: str) -> str:
        if name not in refs:
            raise TemplateError(f"cannot resolve Ref {name}")
        return refs[name]

    def lookup_attribute(name: str) -> str:
        if name not in attributes:
            raise TemplateError(f"cannot resolve GetAtt {name}")
        return attributes[name]

    def substitute(text: str, local: Mapping[str, Any]) -> str:
        out, position = [], 0
        while (start := text.find("${", position)) >= 0:
            end = text.index("}", start)
            out.append(text[position:start])
            name = text[start + 2:end]
            if name.startswith("!"):  # ${!Literal} is the literal ${Literal}
                out.append("${" + name[1:] + "}")
            elif name in local:
                out.append(str(resolve(local[name])))
            elif "." in name and not name.startswith("AWS::"):
                out.append(lookup_attribute(name))
            else:
                out.append(lookup_ref(name))
            position = end + 1
        out.append(text[position:])
        return "".join(out)

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), = node.items()
            if function == "Ref":
                return lookup_ref(argument)
            if function == "Fn::GetAtt":
                return lookup_attribute(".".join(argument) if isinstance(argument, list) else argument)
            if function == "Fn::Sub":
                text, local = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
                return substitute(text, local)
            if function == "Fn::Join":
                separator, items = argument
                return separator.join(str(item) for item in resolve(items))
            if function.startswith("Fn::"):
                raise TemplateError(f"{function} is not resolved here")
        return {key: resolve(item) for key, item in node.items()}

    return resolve(value)


def pseudo_parameters(region: str, account_id: str, stack_name: str, partition: str = "aws") -> dict[str, str]:
    return {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack_name,
            "AWS::Partition": partition, "AWS::URLSuffix": "amazonaws.com"}


# ---------------------------------------------------------------------------------- tables
def dynamodb_key_schemas(template: Mapping, refs: Mapping[str, str]) -> dict[str, dict]:
    """Table name -> {"KeySchema": [...], "AttributeDefinitions": [...]} as the template declares."""
    schemas = {}
    for resource in resources_of_type(template, "AWS::DynamoDB::Table").values():
        properties = resolve_intrinsics(resource["Properties"], refs)
        schemas[properties["TableName"]] = {
            "KeySchema": properties["KeySchema"], "AttributeDefinitions": properties["AttributeDefinitions"],
        }
    return schemas


# ---------------------------------------------------------------------------------- emulator
def complete_emulated_stack(config, stack_name: str, template: Mapping | None = None) -> list[str]:
    """Create what moto's CloudFormation skipped for the stack `stack_name`: the bucket's public
    access block, object ownership, versioning and lifecycle rules; the stream's encryption; the
    bucket policy, the Glue
    database, the Athena workgroup, the secrets (a generated password where the template generates
    one); the DynamoDB tables' TTL and point-in-time recovery. Idempotent; refuses any endpoint but
    a loopback emulator (on AWS, CloudFormation creates all of these itself). Returns what it did."""
    if not is_local_endpoint(config.aws.endpoint_url):
        raise TemplateError(f"complete_emulated_stack is for a local emulator, not {config.aws.endpoint_url or 'AWS'}")
    template = template if template is not None else load_template()
    cloudformation = aws_client("cloudformation", config)
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    account_id = stack["StackId"].split(":")[4]
    refs = {**parameter_defaults(template),
            **{p["ParameterKey"]: p["ParameterValue"] for p in stack.get("Parameters", [])},
            **pseudo_parameters(config.aws.region, account_id, stack_name)}
    # A skipped resource is listed without a logical id: only the created ones have names.
    summaries = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    created = {r["LogicalResourceId"]: r["PhysicalResourceId"]
               for page in summaries for r in page["StackResourceSummaries"] if r.get("LogicalResourceId")}
    refs.update(created)
    done = []
    for logical_id, resource in template["Resources"].items():
        if logical_id in created and resource["Type"] in EMULATOR_SKIPPED_TYPES:
            continue  # a later moto that creates it itself
        handler = _COMPLETERS.get(resource["Type"])
        if handler is not None:
            done.extend(handler(config, resolve_intrinsics(resource.get("Properties", {}), refs)))
    return done


def _put_bucket_policy(config, properties: dict) -> list[str]:
    s3 = aws_client("s3", config)
    bucket, wanted = properties["Bucket"], properties["PolicyDocument"]
    try:
        if json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == wanted:
            return []
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(wanted))
    return [f"bucket policy of {bucket}"]


def _complete_bucket(config, properties: dict) -> list[str]:
    """moto's CloudFormation applies a bucket's encryption and tags only."""
    s3 = aws_client("s3", config)
    bucket, done = properties["BucketName"], []

    def current(read, *keys):
        try:
            value = read(Bucket=bucket)
        except s3.exceptions.ClientError:
            return None  # not configured yet
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    block = properties.get("PublicAccessBlockConfiguration")
    if block and current(s3.get_public_access_block, "PublicAccessBlockConfiguration") != block:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=block)
        done.append(f"public access block of {bucket}")
    ownership = properties.get("OwnershipControls")
    if ownership and current(s3.get_bucket_ownership_controls, "OwnershipControls") != ownership:
        s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=ownership)
        done.append(f"object ownership of {bucket}")
    versioning = properties.get("VersioningConfiguration")
    if versioning and current(s3.get_bucket_versioning, "Status") != versioning["Status"]:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": versioning["Status"]})
        done.append(f"versioning of {bucket}")
    lifecycle = properties.get("LifecycleConfiguration")
    if lifecycle:
        rules = [_lifecycle_rule(rule) for rule in lifecycle["Rules"]]
        existing = current(s3.get_bucket_lifecycle_configuration, "Rules") or []
        if sorted(r["ID"] for r in existing) != sorted(r["ID"] for r in rules):
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
            done.append(f"lifecycle rules of {bucket}")
    return done


def _lifecycle_rule(rule: Mapping) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape (parameters arrive as strings)."""
    api_rule: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        api_rule["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "Transitions" in rule:
        api_rule["Transitions"] = [{"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]}
                                   for t in rule["Transitions"]]
    if "NoncurrentVersionExpiration" in rule:
        api_rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        api_rule["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return api_rule


def _encrypt_stream(config, properties: dict) -> list[str]:
    encryption = properties.get("StreamEncryption")
    if not encryption:
        return []
    kinesis = aws_client("kinesis", config)
    name = properties["Name"]
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    if summary.get("EncryptionType", "NONE") == encryption["EncryptionType"]:
        return []
    kinesis.start_stream_encryption(StreamName=name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"])
    return [f"encryption of stream {name}"]


def _create_glue_database(config, properties: dict) -> list[str]:
    glue = aws_client("glue", config)
    name = properties["DatabaseInput"]["Name"]
    try:
        glue.create_database(DatabaseInput=properties["DatabaseInput"])
    except glue.exceptions.AlreadyExistsException:
        return []
    return [f"glue database {name}"]


def _create_athena_workgroup(config, properties: dict) -> list[str]:
    athena = aws_client("athena", config)
    name = properties["Name"]
    if any(w["Name"] == name for w in athena.list_work_groups()["WorkGroups"]):
        return []
    athena.create_work_group(Name=name, Description=properties.get("Description", ""),
                             Configuration=properties.get("WorkGroupConfiguration", {}))
    return [f"athena workgroup {name}"]


def _create_secret(config, properties: dict) -> list[str]:
    secrets = aws_client("secretsmanager", config)
    name = properties["Name"]
    try:
        secrets.describe_secret(SecretId=name)
        return []  # never replace a value someone has set
    except secrets.exceptions.ResourceNotFoundException:
        pass
    secrets.create_secret(Name=name, Description=properties.get("Description", ""),
                          SecretString=_secret_value(secrets, properties))
    return [f"secret {name}"]


def _secret_value(secrets, properties: dict) -> str:
    if "SecretString" in properties:
        return properties["SecretString"]
    generate = properties.get("GenerateSecretString", {})
    password_options = {key: generate[key] for key in ("PasswordLength", "ExcludeCharacters", "ExcludePunctuation",
                                                        "ExcludeUppercase", "ExcludeLowercase", "ExcludeNumbers",
                                                        "IncludeSpace", "RequireEachIncludedType") if key in generate}
    password = secrets.get_random_password(**password_options)["RandomPassword"]
    if "GenerateStringKey" not in generate:
        return password
    return json.dumps({**json.loads(generate["SecretStringTemplate"]), generate["GenerateStringKey"]: password})


def _complete_table(config, properties: dict) -> list[str]:
    dynamodb = aws_client("dynamodb", config)
    table, done = properties["TableName"], []
    ttl = properties.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled"):
        current = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})
            done.append(f"ttl of {table} on {ttl['AttributeName']}")
    recovery = properties.get("PointInTimeRecoverySpecification") or {}
    if recovery.get("PointInTimeRecoveryEnabled"):
        backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        if backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] != "ENABLED":
            dynamodb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": True})
            done.append(f"point-in-time recovery of {table}")
    return done


_COMPLETERS = {
    "AWS::S3::Bucket": _complete_bucket,
    "AWS::Kinesis::Stream": _encrypt_stream,
    "AWS::S3::BucketPolicy": _put_bucket_policy,
    "AWS::Glue::Database": _create_glue_database,
    "AWS::Athena::WorkGroup": _create_athena_workgroup,
    "AWS::SecretsManager::Secret": _create_secret,
    "AWS::DynamoDB::Table": _complete_table,
}
