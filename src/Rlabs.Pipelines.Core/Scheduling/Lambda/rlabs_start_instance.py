"""Starts the EC2 instance that runs a scheduled Rlabs pipeline; an EventBridge rule invokes it.

Installed by Rlabs.Pipelines (New-RlabsPipelineSchedule). The instance id comes from the function's
environment, so the role's policy can name that one instance and nothing else. When the instance boots,
its crontab @reboot line runs the pipeline and shuts the instance down 5 minutes after it finishes.
"""
import json
import os

import boto3


def handler(event, context):
    instance_id = os.environ["RLABS_INSTANCE_ID"]
    # boto3 before 1.28 ignores AWS_ENDPOINT_URL; honour it here so the handler also runs against a VPC
    # endpoint or an emulator. In Lambda neither variable is set and boto3 picks the regional endpoint.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_EC2") or os.environ.get("AWS_ENDPOINT_URL") or None
    ec2 = boto3.client("ec2", endpoint_url=endpoint)
    response = ec2.start_instances(InstanceIds=[instance_id])
    change = response["StartingInstances"][0]
    result = {
        "instance": instance_id,
        "previous_state": change["PreviousState"]["Name"],
        "current_state": change["CurrentState"]["Name"],
    }
    if isinstance(event, dict) and event.get("resources"):
        result["rule"] = event["resources"][0]
    print(json.dumps(result))
    return result
