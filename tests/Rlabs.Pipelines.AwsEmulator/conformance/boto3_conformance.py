"""Drives the emulator with the official Python SDK (Debian's python3-boto3) so that every implemented
operation is checked by a client we did not write: its requests must be accepted, its responses must
parse, and its errors must carry the codes botocore maps.

Usage: /usr/bin/python3 boto3_conformance.py ENDPOINT_URL
Prints one JSON object: {"operations": [...covered...], "failures": [...]} and exits 1 on any failure.
"""
import base64
import io
import json
import sys
import time
import traceback
import urllib.request
import zipfile

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
REGION = "eu-west-1"
ACCOUNT = "123456789012"
RUN = str(int(time.time() * 1000))[-9:]

covered = set()
failures = []


def client(service, validate=True):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id="AKIDCONFORMANCE",
        aws_secret_access_key="conformance-secret",
        config=Config(parameter_validation=validate, retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path"}),
    )


def check(name, condition, detail=""):
    if not condition:
        failures.append(f"{name}: {detail}")


def op(service, operation, fn):
    """Runs one call; records the operation as covered only if it succeeds."""
    try:
        result = fn()
        covered.add(f"{service}.{operation}")
        return result
    except Exception as error:  # noqa: BLE001 - every failure is reported, none hidden
        failures.append(f"{service}.{operation}: {type(error).__name__}: {error}")
        return None


def expect_error(name, code, fn, status=None):
    try:
        fn()
    except ClientError as error:
        actual = error.response["Error"]["Code"]
        check(name, actual == code, f"expected {code}, got {actual}: {error.response['Error'].get('Message')}")
        if status is not None:
            got = error.response["ResponseMetadata"]["HTTPStatusCode"]
            check(name, got == status, f"expected HTTP {status}, got {got}")
        return
    except Exception as error:  # noqa: BLE001
        failures.append(f"{name}: expected {code}, got {type(error).__name__}: {error}")
        return
    failures.append(f"{name}: expected {code}, the call succeeded")


def sagemaker():
    sm = client("sagemaker")
    name = f"conf-{RUN}"
    job = dict(
        ProcessingJobName=name,
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/rlabs",
        AppSpecification={"ImageUri": "img:latest", "ContainerEntrypoint": ["python3", "run.py"]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}},
        ProcessingInputs=[{"InputName": "code", "S3Input": {"S3Uri": "s3://b/code", "LocalPath": "/opt/ml/processing/input/code",
                                                             "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {"S3Uri": "s3://b/out", "LocalPath": "/opt/ml/processing/output",
                                                                              "S3UploadMode": "EndOfJob"}}]},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        Environment={"RLABS_JOB_ID": RUN},
    )
    created = op("sagemaker", "CreateProcessingJob", lambda: sm.create_processing_job(**job))
    if created:
        check("CreateProcessingJob", created["ProcessingJobArn"].endswith(f"processing-job/{name}"), created["ProcessingJobArn"])
    described = op("sagemaker", "DescribeProcessingJob", lambda: sm.describe_processing_job(ProcessingJobName=name))
    if described:
        check("DescribeProcessingJob", described["ProcessingJobStatus"] in ("InProgress", "Completed"), described["ProcessingJobStatus"])
        check("DescribeProcessingJob.CreationTime", hasattr(described["CreationTime"], "year"), repr(described["CreationTime"]))
        check("DescribeProcessingJob.Inputs", described["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://b/code")
    listed = op("sagemaker", "ListProcessingJobs", lambda: sm.list_processing_jobs(NameContains=name, SortBy="CreationTime", SortOrder="Descending"))
    if listed:
        check("ListProcessingJobs", [s["ProcessingJobName"] for s in listed["ProcessingJobSummaries"]] == [name], str(listed))
    stop_name = name + "-stop"
    op("sagemaker", "CreateProcessingJob", lambda: sm.create_processing_job(**dict(job, ProcessingJobName=stop_name)))
    status = sm.describe_processing_job(ProcessingJobName=stop_name)["ProcessingJobStatus"]
    if status == "InProgress":
        op("sagemaker", "StopProcessingJob", lambda: sm.stop_processing_job(ProcessingJobName=stop_name))
    else:
        expect_error("StopProcessingJob.finished", "ValidationException", lambda: sm.stop_processing_job(ProcessingJobName=stop_name))
        covered.add("sagemaker.StopProcessingJob")
    expect_error("DescribeProcessingJob.missing", "ValidationException", lambda: sm.describe_processing_job(ProcessingJobName="missing-" + RUN))
    loose = client("sagemaker", validate=False)
    expect_error("CreateProcessingJob.missingRole", "ValidationException",
                 lambda: loose.create_processing_job(**{k: v for k, v in job.items() if k != "RoleArn"}))
    expect_error("CreateProcessingJob.badEnum", "ValidationException",
                 lambda: loose.create_processing_job(**dict(job, ProcessingJobName=name + "-enum",
                                                            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.huge", "VolumeSizeInGB": 30}})))
    expect_error("DescribeProcessingJob.wrongType", "SerializationException", lambda: loose.describe_processing_job(ProcessingJobName=5))


def logs():
    cw = client("logs")
    group = "/aws/sagemaker/ProcessingJobs"
    streams = op("logs", "DescribeLogStreams", lambda: cw.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"conf-{RUN}/"))
    if streams:
        check("DescribeLogStreams", len(streams["logStreams"]) >= 1, str(streams))
        stream = streams["logStreams"][0]["logStreamName"]
        events = op("logs", "GetLogEvents", lambda: cw.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True))
        if events:
            check("GetLogEvents", any("started" in e["message"] for e in events["events"]), str(events["events"]))
            again = cw.get_log_events(logGroupName=group, logStreamName=stream, nextToken=events["nextForwardToken"])
            check("GetLogEvents.follow", again["events"] == [] and again["nextForwardToken"] == events["nextForwardToken"], str(again))
    expect_error("DescribeLogStreams.missing", "ResourceNotFoundException", lambda: cw.describe_log_streams(logGroupName="/no/such/group"))
    expect_error("GetLogEvents.limit", "InvalidParameterException",
                 lambda: client("logs", validate=False).get_log_events(logGroupName=group, logStreamName="x", limit=0))


def s3():
    s3c = client("s3")
    bucket = f"conformance-{RUN}"
    op("s3", "CreateBucket", lambda: s3c.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}))
    op("s3", "HeadBucket", lambda: s3c.head_bucket(Bucket=bucket))
    op("s3", "PutPublicAccessBlock", lambda: s3c.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}))
    op("s3", "PutBucketEncryption", lambda: s3c.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}))
    op("s3", "PutObject", lambda: s3c.put_object(Bucket=bucket, Key="dir/a b.txt", Body=b"hello", Metadata={"step": "one"}))
    head = op("s3", "HeadObject", lambda: s3c.head_object(Bucket=bucket, Key="dir/a b.txt"))
    if head:
        check("HeadObject", head["ContentLength"] == 5 and head["Metadata"].get("step") == "one", str(head))
    got = op("s3", "GetObject", lambda: s3c.get_object(Bucket=bucket, Key="dir/a b.txt", Range="bytes=1-3"))
    if got:
        check("GetObject.range", got["Body"].read() == b"ell", "")
    listed = op("s3", "ListObjectsV2", lambda: s3c.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/"))
    if listed:
        check("ListObjectsV2", [o["Key"] for o in listed.get("Contents", [])] == ["dir/a b.txt"], str(listed))
    part = b"x" * (5 * 1024 * 1024)
    upload = op("s3", "CreateMultipartUpload", lambda: s3c.create_multipart_upload(Bucket=bucket, Key="big.bin"))
    if upload:
        uid = upload["UploadId"]
        p1 = op("s3", "UploadPart", lambda: s3c.upload_part(Bucket=bucket, Key="big.bin", UploadId=uid, PartNumber=1, Body=part))
        p2 = op("s3", "UploadPart", lambda: s3c.upload_part(Bucket=bucket, Key="big.bin", UploadId=uid, PartNumber=2, Body=b"tail"))
        if p1 and p2:
            done = op("s3", "CompleteMultipartUpload", lambda: s3c.complete_multipart_upload(Bucket=bucket, Key="big.bin", UploadId=uid, MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]}))
            if done:
                check("CompleteMultipartUpload", done["ETag"].endswith('-2"'), done["ETag"])
                check("CompleteMultipartUpload.size", s3c.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == len(part) + 4)
    aborted = s3c.create_multipart_upload(Bucket=bucket, Key="aborted.bin")["UploadId"]
    op("s3", "AbortMultipartUpload", lambda: s3c.abort_multipart_upload(Bucket=bucket, Key="aborted.bin", UploadId=aborted))
    expect_error("UploadPart.aborted", "NoSuchUpload", lambda: s3c.upload_part(Bucket=bucket, Key="aborted.bin", UploadId=aborted, PartNumber=1, Body=b"x"))
    small = s3c.create_multipart_upload(Bucket=bucket, Key="small.bin")["UploadId"]
    e1 = s3c.upload_part(Bucket=bucket, Key="small.bin", UploadId=small, PartNumber=1, Body=b"a")["ETag"]
    e2 = s3c.upload_part(Bucket=bucket, Key="small.bin", UploadId=small, PartNumber=2, Body=b"b")["ETag"]
    expect_error("CompleteMultipartUpload.tooSmall", "EntityTooSmall", lambda: s3c.complete_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=small, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}))
    expect_error("GetBucketLifecycleConfiguration.none", "NoSuchLifecycleConfiguration", lambda: s3c.get_bucket_lifecycle_configuration(Bucket=bucket), status=404)
    rules = [{"ID": "expire-tagged", "Status": "Enabled", "Filter": {"Tag": {"Key": "rlabs-expire", "Value": "credentials-2d"}}, "Expiration": {"Days": 2}},
             {"ID": "tmp", "Status": "Disabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 30}}]
    op("s3", "PutBucketLifecycleConfiguration", lambda: s3c.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules}))
    lifecycle = op("s3", "GetBucketLifecycleConfiguration", lambda: s3c.get_bucket_lifecycle_configuration(Bucket=bucket))
    if lifecycle:
        check("GetBucketLifecycleConfiguration", lifecycle["Rules"] == rules, str(lifecycle["Rules"]))
    expect_error("PutBucketLifecycleConfiguration.duplicateId", "InvalidArgument", lambda: s3c.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [rules[0], rules[0]]}))
    op("s3", "PutObject", lambda: s3c.put_object(Bucket=bucket, Key="tagged.txt", Body=b"x", Tagging="rlabs-expire=credentials-2d&team=a%20b"))
    tagging = op("s3", "GetObjectTagging", lambda: s3c.get_object_tagging(Bucket=bucket, Key="tagged.txt"))
    if tagging:
        check("GetObjectTagging", tagging["TagSet"] == [{"Key": "rlabs-expire", "Value": "credentials-2d"}, {"Key": "team", "Value": "a b"}], str(tagging["TagSet"]))
    op("s3", "DeleteBucketLifecycle", lambda: s3c.delete_bucket_lifecycle(Bucket=bucket))
    expect_error("GetBucketLifecycleConfiguration.deleted", "NoSuchLifecycleConfiguration", lambda: s3c.get_bucket_lifecycle_configuration(Bucket=bucket), status=404)
    op("s3", "DeleteObject", lambda: s3c.delete_object(Bucket=bucket, Key="big.bin"))
    deleted = op("s3", "DeleteObjects", lambda: s3c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir/a b.txt"}]}))
    if deleted:
        check("DeleteObjects", [d["Key"] for d in deleted["Deleted"]] == ["dir/a b.txt"], str(deleted))
    expect_error("GetObject.missing", "NoSuchKey", lambda: s3c.get_object(Bucket=bucket, Key="nope"), status=404)
    expect_error("ListObjectsV2.noBucket", "NoSuchBucket", lambda: s3c.list_objects_v2(Bucket="no-such-" + RUN), status=404)
    expect_error("CreateBucket.badName", "InvalidBucketName", lambda: client("s3", validate=False).create_bucket(Bucket="Bad_Name"))
    expect_error("PutBucketEncryption.badEnum", "InvalidArgument", lambda: client("s3", validate=False).put_bucket_encryption(
        Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "ROT13"}}]}))


def sts_and_ec2():
    identity = op("sts", "GetCallerIdentity", lambda: client("sts").get_caller_identity())
    if identity:
        check("GetCallerIdentity", identity["Account"] == ACCOUNT and identity["UserId"] == "AKIDCONFORMANCE", str(identity))
    # CI OIDC: botocore sends AssumeRoleWithWebIdentity unsigned; the emulator accepts a token it was told to trust.
    trust = urllib.request.Request(ENDPOINT.rstrip("/") + "/_emulator/sts/web-identity", method="POST",
                                   data=json.dumps({"token": "conformance-oidc-token"}).encode(),
                                   headers={"Content-Type": "application/json"})
    urllib.request.urlopen(trust, timeout=10).close()
    role = f"arn:aws:iam::{ACCOUNT}:role/conformance-oidc"
    assumed = op("sts", "AssumeRoleWithWebIdentity", lambda: client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="conformance", WebIdentityToken="conformance-oidc-token", DurationSeconds=900))
    if assumed:
        credentials = assumed["Credentials"]
        check("AssumeRoleWithWebIdentity", credentials["AccessKeyId"].startswith("ASIA") and credentials["SessionToken"]
              and credentials["Expiration"].timestamp() > time.time() + 800
              and assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/conformance-oidc/conformance"), str(assumed))
    expect_error("AssumeRoleWithWebIdentity.untrustedToken", "InvalidIdentityToken", lambda: client("sts").assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="conformance", WebIdentityToken="not-a-trusted-token"))
    expect_error("AssumeRoleWithWebIdentity.shortDuration", "ValidationError", lambda: client("sts", validate=False).assume_role_with_web_identity(
        RoleArn=role, RoleSessionName="conformance", WebIdentityToken="conformance-oidc-token", DurationSeconds=60))
    ec2 = client("ec2")
    instance = "i-0c0f0000000000001"
    described = op("ec2", "DescribeInstances", lambda: ec2.describe_instances(InstanceIds=[instance]))
    if described:
        found = described["Reservations"][0]["Instances"][0]
        check("DescribeInstances", found["State"]["Name"] == "stopped" and "PublicIpAddress" not in found, str(found))
    started = op("ec2", "StartInstances", lambda: ec2.start_instances(InstanceIds=[instance]))
    if started:
        check("StartInstances", started["StartingInstances"][0]["PreviousState"]["Name"] == "stopped", str(started))
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["running"]}])["Reservations"]
    check("DescribeInstances.filter", any(i["InstanceId"] == instance and i["PublicIpAddress"] == "127.0.0.1"
                                          for r in running for i in r["Instances"]), str(running))
    console = op("ec2", "GetConsoleOutput", lambda: ec2.get_console_output(InstanceId=instance, Latest=True))
    if console:
        check("GetConsoleOutput", console["InstanceId"] == instance and "Timestamp" in console, str(console))
    stopped = op("ec2", "StopInstances", lambda: ec2.stop_instances(InstanceIds=[instance]))
    if stopped:
        check("StopInstances", stopped["StoppingInstances"][0]["CurrentState"]["Name"] in ("stopping", "stopped"), str(stopped))
    expect_error("DescribeInstances.missing", "InvalidInstanceID.NotFound", lambda: ec2.describe_instances(InstanceIds=["i-0c0f0000000000009"]))
    expect_error("StartInstances.missingParameter", "MissingParameter", lambda: client("ec2", validate=False).start_instances())


def iam_lambda_events():
    iam = client("iam")
    role = f"conf-role-{RUN}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    created = op("iam", "CreateRole", lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust, Tags=[{"Key": "k", "Value": "v"}]))
    fetched = op("iam", "GetRole", lambda: iam.get_role(RoleName=role))
    if fetched:
        check("GetRole", fetched["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == "lambda.amazonaws.com", str(fetched))
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:StartInstances", "Resource": "*"}]})
    op("iam", "PutRolePolicy", lambda: iam.put_role_policy(RoleName=role, PolicyName="start", PolicyDocument=policy))
    read_policy = op("iam", "GetRolePolicy", lambda: iam.get_role_policy(RoleName=role, PolicyName="start"))
    if read_policy:
        check("GetRolePolicy", read_policy["PolicyDocument"] == json.loads(policy), str(read_policy))
    expect_error("GetRolePolicy.missing", "NoSuchEntity", lambda: iam.get_role_policy(RoleName=role, PolicyName="missing"), status=404)
    expect_error("DeleteRole.conflict", "DeleteConflict", lambda: iam.delete_role(RoleName=role), status=409)
    expect_error("CreateRole.duplicate", "EntityAlreadyExists", lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust), status=409)
    expect_error("GetRole.missing", "NoSuchEntity", lambda: iam.get_role(RoleName="missing-" + RUN), status=404)
    expect_error("GetRole.pattern", "ValidationError", lambda: client("iam", validate=False).get_role(RoleName="has space"))

    lam = client("lambda")
    function = f"conf-fn-{RUN}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", "def lambda_handler(event, context):\n    return 1\n")
    code = buffer.getvalue()
    if created:
        made = op("lambda", "CreateFunction", lambda: lam.create_function(FunctionName=function, Runtime="python3.9", Role=created["Role"]["Arn"],
                                                                          Handler="lambda_function.lambda_handler", Code={"ZipFile": code},
                                                                          Environment={"Variables": {"INSTANCE_ID": "i-0c0f0000000000001"}}))
        if made:
            check("CreateFunction", made["FunctionArn"].endswith(f":function:{function}") and made["State"] == "Active", str(made))
    got = op("lambda", "GetFunction", lambda: lam.get_function(FunctionName=function))
    if got:
        check("GetFunction", got["Configuration"]["Environment"]["Variables"]["INSTANCE_ID"] == "i-0c0f0000000000001", str(got))
    op("lambda", "UpdateFunctionConfiguration", lambda: lam.update_function_configuration(FunctionName=function, Timeout=90))
    op("lambda", "UpdateFunctionCode", lambda: lam.update_function_code(FunctionName=function, ZipFile=code))
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/conf-rule-{RUN}"
    added = op("lambda", "AddPermission", lambda: lam.add_permission(FunctionName=function, StatementId="events", Action="lambda:InvokeFunction",
                                                                     Principal="events.amazonaws.com", SourceArn=rule_arn))
    if added:
        check("AddPermission", json.loads(added["Statement"])["Condition"]["ArnLike"]["AWS:SourceArn"] == rule_arn, added["Statement"])
    function_policy = op("lambda", "GetPolicy", lambda: lam.get_policy(FunctionName=function))
    if function_policy:
        check("GetPolicy", json.loads(function_policy["Policy"])["Statement"][0]["Sid"] == "events", str(function_policy))
    expect_error("AddPermission.duplicate", "ResourceConflictException", lambda: lam.add_permission(
        FunctionName=function, StatementId="events", Action="lambda:InvokeFunction", Principal="events.amazonaws.com"), status=409)
    op("lambda", "RemovePermission", lambda: lam.remove_permission(FunctionName=function, StatementId="events"))
    expect_error("GetPolicy.none", "ResourceNotFoundException", lambda: lam.get_policy(FunctionName=function), status=404)
    op("lambda", "DeleteFunction", lambda: lam.delete_function(FunctionName=function))
    expect_error("GetFunction.missing", "ResourceNotFoundException", lambda: lam.get_function(FunctionName=function), status=404)
    expect_error("CreateFunction.badRuntime", "ValidationException", lambda: client("lambda", validate=False).create_function(
        FunctionName=function, Runtime="cobol", Role=f"arn:aws:iam::{ACCOUNT}:role/{role}", Handler="h.h", Code={"ZipFile": code}))

    events = client("events")
    rule = f"conf-rule-{RUN}"
    put = op("events", "PutRule", lambda: events.put_rule(Name=rule, ScheduleExpression="rate(1 hour)", State="ENABLED"))
    if put:
        check("PutRule", put["RuleArn"] == rule_arn, put["RuleArn"])
    op("events", "PutTargets", lambda: events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}",
                                                                               "Input": json.dumps({"instance_id": "i-0c0f0000000000001"})}]))
    targets = op("events", "ListTargetsByRule", lambda: events.list_targets_by_rule(Rule=rule))
    if targets:
        check("ListTargetsByRule", [t["Id"] for t in targets["Targets"]] == ["fn"], str(targets))
    op("events", "DisableRule", lambda: events.disable_rule(Name=rule))
    described = op("events", "DescribeRule", lambda: events.describe_rule(Name=rule))
    if described:
        check("DescribeRule", described["State"] == "DISABLED" and described["ScheduleExpression"] == "rate(1 hour)", str(described))
    op("events", "EnableRule", lambda: events.enable_rule(Name=rule))
    rules = op("events", "ListRules", lambda: events.list_rules(NamePrefix=rule))
    if rules:
        check("ListRules", [r["State"] for r in rules["Rules"]] == ["ENABLED"], str(rules))
    expect_error("DeleteRule.withTargets", "ValidationException", lambda: events.delete_rule(Name=rule))
    op("events", "RemoveTargets", lambda: events.remove_targets(Rule=rule, Ids=["fn"]))
    op("events", "DeleteRule", lambda: events.delete_rule(Name=rule))
    expect_error("DescribeRule.missing", "ResourceNotFoundException", lambda: events.describe_rule(Name=rule))
    expect_error("PutRule.badState", "ValidationException", lambda: client("events", validate=False).put_rule(Name=rule, ScheduleExpression="rate(1 hour)", State="SOMETIMES"))

    # Clean up the role in the order IAM demands.
    op("iam", "DeleteRolePolicy", lambda: iam.delete_role_policy(RoleName=role, PolicyName="start"))
    op("iam", "DeleteRole", lambda: iam.delete_role(RoleName=role))


def ecr():
    token = op("ecr", "GetAuthorizationToken", lambda: client("ecr").get_authorization_token(registryIds=["683313688378"]))
    if token:
        data = token["authorizationData"][0]
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        check("GetAuthorizationToken", user == "AWS" and password != ""
              and data["proxyEndpoint"] == f"https://683313688378.dkr.ecr.{REGION}.amazonaws.com"
              and data["expiresAt"].timestamp() > time.time(), str(data))


def wait_execution(sm, arn, until=lambda e: e["PipelineExecutionStatus"] in ("Succeeded", "Failed", "Stopped"), seconds=60):
    deadline = time.time() + seconds
    while True:
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if until(execution) or time.time() > deadline:
            return execution
        time.sleep(0.1)


def shell_step(name, command, bucket, inputs=(), depends_on=None):
    """A Processing step whose command is a shell line; the emulator runs it for real."""
    step = {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.t3.medium", "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": "img:latest", "ContainerEntrypoint": ["/bin/sh", "-c", command]},
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/rlabs",
            "ProcessingInputs": [{"InputName": f"in{i}", "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/in{i}",
                                                                      "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                                 for i, uri in enumerate(inputs)],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": [f"s3://{bucket}/runs", {"Get": "Parameters.JobId"},
                                                             {"Get": "Execution.PipelineExecutionId"}, name]}},
                "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
        },
    }
    if depends_on:
        step["DependsOn"] = depends_on
    return step


def pipelines():
    sm = client("sagemaker")
    s3c = client("s3")
    bucket = f"pipelines-{RUN}"
    s3c.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    name = f"conf-pipe-{RUN}"
    definition = {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "JobId", "Type": "String", "DefaultValue": "0"}],
        "Steps": [
            shell_step("A", "echo hello > /opt/ml/processing/output/a.txt", bucket),
            shell_step("B", "cat /opt/ml/processing/input/in0/a.txt > /opt/ml/processing/output/b.txt", bucket,
                       inputs=[{"Get": "Steps.A.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}]),
        ],
    }
    created = op("sagemaker", "CreatePipeline", lambda: sm.create_pipeline(
        PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=f"arn:aws:iam::{ACCOUNT}:role/rlabs",
        Tags=[{"Key": "rlabs:project", "Value": "conformance"}]))
    if not created:
        return
    pipeline_arn = created["PipelineArn"]
    check("CreatePipeline", pipeline_arn == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{name}", pipeline_arn)
    described = op("sagemaker", "DescribePipeline", lambda: sm.describe_pipeline(PipelineName=name))
    if described:
        check("DescribePipeline", json.loads(described["PipelineDefinition"]) == definition and hasattr(described["CreationTime"], "year"), str(described))
    op("sagemaker", "UpdatePipeline", lambda: sm.update_pipeline(PipelineName=name, PipelineDescription="updated"))
    check("UpdatePipeline", sm.describe_pipeline(PipelineName=pipeline_arn)["PipelineDescription"] == "updated")
    listed = op("sagemaker", "ListPipelines", lambda: sm.list_pipelines(PipelineNamePrefix=name))
    if listed:
        check("ListPipelines", [p["PipelineName"] for p in listed["PipelineSummaries"]] == [name], str(listed))

    token = "conformance-" + RUN + "-" + "0" * 24
    start = dict(PipelineName=name, PipelineParameters=[{"Name": "JobId", "Value": "j1"}], ClientRequestToken=token)
    started = op("sagemaker", "StartPipelineExecution", lambda: sm.start_pipeline_execution(**start))
    if started:
        arn = started["PipelineExecutionArn"]
        check("StartPipelineExecution.idempotent", sm.start_pipeline_execution(**start)["PipelineExecutionArn"] == arn)
        execution = wait_execution(sm, arn)
        covered.add("sagemaker.DescribePipelineExecution")
        check("DescribePipelineExecution", execution["PipelineExecutionStatus"] == "Succeeded" and hasattr(execution["CreationTime"], "year"), str(execution))
        executions = op("sagemaker", "ListPipelineExecutions", lambda: sm.list_pipeline_executions(PipelineName=name))
        if executions:
            check("ListPipelineExecutions", [e["PipelineExecutionArn"] for e in executions["PipelineExecutionSummaries"]] == [arn], str(executions))
        # Paging, newest first (Get-RlabsPipelineRun -Last follows NextToken): one execution per page.
        second = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": "JobId", "Value": "j2"}])["PipelineExecutionArn"]
        wait_execution(sm, second)
        newest = dict(PipelineName=name, SortBy="CreationTime", SortOrder="Descending", MaxResults=1)
        first_page = sm.list_pipeline_executions(**newest)
        first_arns = [e["PipelineExecutionArn"] for e in first_page["PipelineExecutionSummaries"]]
        paged_once = first_arns == [second] and bool(first_page.get("NextToken"))
        check("ListPipelineExecutions.page1", paged_once, str(first_page))
        if paged_once:
            next_page = sm.list_pipeline_executions(**newest, NextToken=first_page["NextToken"])
            check("ListPipelineExecutions.page2", [e["PipelineExecutionArn"] for e in next_page["PipelineExecutionSummaries"]] == [arn]
                  and not next_page.get("NextToken"), str(next_page))
        paged = [e["PipelineExecutionArn"] for page in sm.get_paginator("list_pipeline_executions").paginate(
            PipelineName=name, SortOrder="Descending", PaginationConfig={"PageSize": 1}) for e in page["PipelineExecutionSummaries"]]
        check("ListPipelineExecutions.paginator", paged == [second, arn], str(paged))
        steps = op("sagemaker", "ListPipelineExecutionSteps", lambda: sm.list_pipeline_execution_steps(PipelineExecutionArn=arn, SortOrder="Ascending"))
        if steps:
            check("ListPipelineExecutionSteps", [(s["StepName"], s["StepStatus"]) for s in steps["PipelineExecutionSteps"]] == [("A", "Succeeded"), ("B", "Succeeded")]
                  and all(":processing-job/pipelines-" in s["Metadata"]["ProcessingJob"]["Arn"] for s in steps["PipelineExecutionSteps"]), str(steps))
        execution_id = arn.rsplit("/", 1)[1]
        output = s3c.get_object(Bucket=bucket, Key=f"runs/j1/{execution_id}/B/b.txt")["Body"].read()
        check("PipelineExecution.output", output == b"hello\n", repr(output))
        expect_error("RetryPipelineExecution.succeeded", "ValidationException", lambda: sm.retry_pipeline_execution(PipelineExecutionArn=arn))

    slow_name = name + "-slow"
    slow = {"Version": "2020-12-01", "Parameters": [{"Name": "JobId", "Type": "String", "DefaultValue": "0"}],
            "Steps": [shell_step("Sleep", "sleep 30", bucket)]}
    sm.create_pipeline(PipelineName=slow_name, PipelineDefinition=json.dumps(slow), RoleArn=f"arn:aws:iam::{ACCOUNT}:role/rlabs")
    slow_arn = sm.start_pipeline_execution(PipelineName=slow_name)["PipelineExecutionArn"]

    def step_running(_):
        listed_steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=slow_arn)["PipelineExecutionSteps"]
        return bool(listed_steps) and listed_steps[0]["StepStatus"] == "Executing"

    wait_execution(sm, slow_arn, step_running)
    op("sagemaker", "StopPipelineExecution", lambda: sm.stop_pipeline_execution(PipelineExecutionArn=slow_arn))
    stopped = wait_execution(sm, slow_arn)
    check("StopPipelineExecution", stopped["PipelineExecutionStatus"] == "Stopped", str(stopped))
    op("sagemaker", "RetryPipelineExecution", lambda: sm.retry_pipeline_execution(PipelineExecutionArn=slow_arn))
    check("RetryPipelineExecution", sm.describe_pipeline_execution(PipelineExecutionArn=slow_arn)["PipelineExecutionStatus"] == "Executing")
    sm.stop_pipeline_execution(PipelineExecutionArn=slow_arn)
    check("RetryPipelineExecution.stopped", wait_execution(sm, slow_arn)["PipelineExecutionStatus"] == "Stopped")

    op("sagemaker", "AddTags", lambda: sm.add_tags(ResourceArn=pipeline_arn, Tags=[{"Key": "owner", "Value": "data"}]))
    op("sagemaker", "DeleteTags", lambda: sm.delete_tags(ResourceArn=pipeline_arn, TagKeys=["rlabs:project"]))
    tags = op("sagemaker", "ListTags", lambda: sm.list_tags(ResourceArn=pipeline_arn))
    if tags:
        check("ListTags", tags["Tags"] == [{"Key": "owner", "Value": "data"}], str(tags))
    deleted = op("sagemaker", "DeletePipeline", lambda: sm.delete_pipeline(PipelineName=name))
    if deleted:
        check("DeletePipeline", deleted["PipelineArn"] == pipeline_arn, str(deleted))
    sm.delete_pipeline(PipelineName=slow_name)
    expect_error("DescribePipeline.missing", "ResourceNotFound", lambda: sm.describe_pipeline(PipelineName=name))
    cyclic = dict(definition, Steps=[dict(definition["Steps"][0], DependsOn=["B"]), definition["Steps"][1]])
    expect_error("CreatePipeline.cycle", "ValidationException", lambda: sm.create_pipeline(
        PipelineName=name + "-cycle", PipelineDefinition=json.dumps(cyclic), RoleArn=f"arn:aws:iam::{ACCOUNT}:role/rlabs"))
    expect_error("StartPipelineExecution.missing", "ResourceNotFound", lambda: sm.start_pipeline_execution(PipelineName="missing-" + RUN))


def scheduler():
    sch = client("scheduler")
    group = f"conf-group-{RUN}"
    made = op("scheduler", "CreateScheduleGroup", lambda: sch.create_schedule_group(Name=group, Tags=[{"Key": "rlabs:project", "Value": "conf"}]))
    if made:
        check("CreateScheduleGroup", made["ScheduleGroupArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}", str(made))
    got_group = op("scheduler", "GetScheduleGroup", lambda: sch.get_schedule_group(Name=group))
    if got_group:
        check("GetScheduleGroup", got_group["State"] == "ACTIVE", str(got_group))
    group_arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    op("scheduler", "TagResource", lambda: sch.tag_resource(ResourceArn=group_arn, Tags=[{"Key": "owner", "Value": "data"}]))
    tags = op("scheduler", "ListTagsForResource", lambda: sch.list_tags_for_resource(ResourceArn=group_arn))
    if tags:
        check("ListTagsForResource", sorted(t["Key"] for t in tags["Tags"]) == ["owner", "rlabs:project"], str(tags))
    expect_error("CreateScheduleGroup.duplicate", "ConflictException", lambda: sch.create_schedule_group(Name=group), status=409)
    pipeline_arn = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/conf-pipeline"
    target = {"Arn": pipeline_arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/conf-scheduler",
              "SageMakerPipelineParameters": {"PipelineParameterList": [{"Name": "JobId", "Value": "<aws.scheduler.execution-id>"}]},
              "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600}}
    created = op("scheduler", "CreateSchedule", lambda: sch.create_schedule(
        Name="daily", GroupName=group, ScheduleExpression="cron(0 6 * * ? *)", ScheduleExpressionTimezone="Europe/Amsterdam",
        FlexibleTimeWindow={"Mode": "OFF"}, Target=target, State="ENABLED", Description="conformance"))
    if created:
        check("CreateSchedule", created["ScheduleArn"] == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/daily", str(created))
    got = op("scheduler", "GetSchedule", lambda: sch.get_schedule(Name="daily", GroupName=group))
    if got:
        check("GetSchedule", got["ScheduleExpressionTimezone"] == "Europe/Amsterdam" and got["Target"]["SageMakerPipelineParameters"]["PipelineParameterList"][0]["Value"] == "<aws.scheduler.execution-id>", str(got))
    op("scheduler", "UpdateSchedule", lambda: sch.update_schedule(
        Name="daily", GroupName=group, ScheduleExpression="cron(0 6 * * ? *)", ScheduleExpressionTimezone="Europe/Amsterdam",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, Target=target, State="DISABLED"))
    listed = op("scheduler", "ListSchedules", lambda: sch.list_schedules(GroupName=group, NamePrefix="dai"))
    if listed:
        check("ListSchedules", [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed["Schedules"]] == [("daily", "DISABLED", pipeline_arn)], str(listed))
    expect_error("CreateSchedule.duplicate", "ConflictException", lambda: sch.create_schedule(
        Name="daily", GroupName=group, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target), status=409)
    expect_error("CreateSchedule.badZone", "ValidationException", lambda: sch.create_schedule(
        Name="zone", GroupName=group, ScheduleExpression="rate(1 day)", ScheduleExpressionTimezone="Mars/Olympus", FlexibleTimeWindow={"Mode": "OFF"}, Target=target))
    expect_error("CreateSchedule.badCron", "ValidationException", lambda: sch.create_schedule(
        Name="cron", GroupName=group, ScheduleExpression="cron(0 6 * * *)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target))
    expect_error("CreateSchedule.noGroup", "ResourceNotFoundException", lambda: sch.create_schedule(
        Name="daily", GroupName="missing-" + RUN, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target), status=404)
    op("scheduler", "DeleteSchedule", lambda: sch.delete_schedule(Name="daily", GroupName=group))
    expect_error("GetSchedule.missing", "ResourceNotFoundException", lambda: sch.get_schedule(Name="daily", GroupName=group), status=404)
    op("scheduler", "DeleteScheduleGroup", lambda: sch.delete_schedule_group(Name=group))
    expect_error("GetScheduleGroup.missing", "ResourceNotFoundException", lambda: sch.get_schedule_group(Name=group), status=404)


for section in (sagemaker, pipelines, logs, s3, sts_and_ec2, iam_lambda_events, ecr, scheduler):
    try:
        section()
    except Exception:  # noqa: BLE001 - a crash in one section must not hide the others
        failures.append(f"{section.__name__} crashed: {traceback.format_exc()}")

print(json.dumps({"operations": sorted(covered), "failures": failures, "boto3": boto3.__version__, "botocore": botocore.__version__}))
sys.exit(1 if failures else 0)
