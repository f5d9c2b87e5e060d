"""moto's server with IAM judged per resource, for the least-privilege rehearsal (moto 5.2.6).

Stock moto enforces identity policies (INITIAL_NO_AUTH_ACTION_COUNT) but, for every service except
S3, IAM, STS and SQS, it checks each request against the resource "*": a statement naming a table,
a parameter or a stack never matches, so an exact grant is refused and only `"Resource": "*"` is
allowed. This launcher gives DynamoDB, SSM and CloudFormation requests the resource ARN IAM checks,
and checks as IAM does where moto checks something else:

- DynamoDB: the table (or `table/<t>/index/<i>`) of the request; BatchWriteItem/BatchGetItem once
  per table; TransactWriteItems/TransactGetItems as the item actions IAM authorizes (PutItem,
  UpdateItem, DeleteItem, ConditionCheckItem, GetItem), once per item.
- SSM: `parameter/<name>` for Name (a `:label` or `:version` selector removed), each of Names, Path.
- CloudFormation: the stack's ARN for StackName.
- S3: the IAM action of the request (HeadObject is s3:GetObject, ListObjectsV2 s3:ListBucket; moto
  5.2.6 asks IAM about the API operation's name), and DeleteObjects as s3:DeleteObject per key
  (moto checks the bucket, then deletes unchecked).
- A refusal of a JSON-protocol request (DynamoDB, SSM) is AWS's JSON AccessDeniedException, not
  moto's XML, which the SDK cannot parse.

What it still does not do (docs/aws-fidelity.md, "Proven on moto: SSM and IAM"): conditions are
not evaluated (moto treats every condition as met), KMS is not called by moto's SSM, and no
resource-based policy is read.

Enforcement starts when the parent writes `enforce-iam` on stdin (answered by `{"enforcing": true}`
on stdout), so the test can create tables, users and keys first; closing stdin stops the server.
"""
import json
import sys

import xmltodict

from moto import settings
from moto.cloudformation.models import cloudformation_backends
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest, PermissionResult, S3IAMRequest
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError
from moto.s3.responses import S3Response
from moto.ssm.responses import SimpleSystemManagerResponse

# Nothing is checked until the parent says so.
settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def enforcing() -> bool:
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def authorize(handler, request_class, action: str, resource: str) -> None:
    """Checks `action` on `resource` as moto checks a request's own action, signature included."""
    original = handler._get_action
    handler._get_action = lambda: action
    try:
        ActionAuthenticatorMixin._authenticate_and_authorize_action(handler, request_class, resource)
    finally:
        handler._get_action = original


def arn(handler, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{handler.region}:{handler.current_account}:{resource}"


def dynamodb_checks(handler) -> list:
    action = handler._get_action()
    table = lambda name, index=None: arn(handler, "dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))
    if action == "TransactWriteItems":
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
        return [(kinds[kind], table(item["TableName"])) for entry in handler._get_param("TransactItems", []) for kind, item in entry.items()]
    if action == "TransactGetItems":
        return [("GetItem", table(entry["Get"]["TableName"])) for entry in handler._get_param("TransactItems", [])]
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, table(name)) for name in handler._get_param("RequestItems", {})]
    name = handler._get_param("TableName")
    if name:
        return [(action, table(name, handler._get_param("IndexName")))]
    return [(action, "*")]


def ssm_checks(handler) -> list:
    action = handler._get_action()

    def parameter(name: str) -> str:
        if name.startswith("arn:"):
            return name
        name = name.split(":")[0]
        return arn(handler, "ssm", "parameter" + (name if name.startswith("/") else "/" + name))

    names = [handler._get_param("Name")] if handler._get_param("Name") else list(handler._get_param("Names") or [])
    if handler._get_param("Path"):
        names.append(handler._get_param("Path"))
    return [(action, parameter(name)) for name in names] or [(action, "*")]


def cloudformation_checks(handler) -> list:
    action = handler._get_action()
    name = handler._get_param("StackName")
    if not name:
        return [(action, "*")]
    if name.startswith("arn:"):
        return [(action, name)]
    stacks = cloudformation_backends[handler.current_account][handler.region].stacks.values()
    found = next((stack.stack_id for stack in stacks if stack.name == name and stack.status != "DELETE_COMPLETE"), None)
    return [(action, found or arn(handler, "cloudformation", f"stack/{name}/*"))]


def judged_per_resource(checks, json_protocol: bool):
    def authorize_request(self, resource: str = "*") -> None:
        if not enforcing():
            return
        for action, resource_arn in checks(self):
            try:
                authorize(self, IAMRequest, action, resource_arn)
            except AccessDeniedError as denied:
                if not json_protocol:
                    raise
                # moto answers in XML, which a JSON-protocol client cannot read; AWS answers this.
                service = self.service_name if hasattr(self, "service_name") else "aws"
                raise JsonRESTError(
                    "AccessDeniedException",
                    f"{denied.message.rstrip('.')} on resource: {resource_arn} because no identity-based policy allows the {service}:{action} action",
                )

    return authorize_request


DynamoHandler._authenticate_and_authorize_normal_action = judged_per_resource(dynamodb_checks, json_protocol=True)
SimpleSystemManagerResponse._authenticate_and_authorize_normal_action = judged_per_resource(ssm_checks, json_protocol=True)
CloudFormationResponse._authenticate_and_authorize_normal_action = judged_per_resource(cloudformation_checks, json_protocol=False)

original_s3_authorize = S3Response._authenticate_and_authorize_s3_action


def s3_authorize(self, bucket_name=None, key_name=None) -> None:
    """Judges the IAM action moto names in data["Action"] (HeadObject as s3:GetObject, ListObjectsV2
    as s3:ListBucket), not the API operation moto 5.2.6 passes to IAM (s3:HeadObject, which no
    policy grants: AWS has no such IAM action)."""
    action = self.data.get("Action")
    if not action or not enforcing():
        return original_s3_authorize(self, bucket_name=bucket_name, key_name=key_name)
    original = self._get_action
    self._get_action = lambda: action
    try:
        return original_s3_authorize(self, bucket_name=bucket_name, key_name=key_name)
    finally:
        self._get_action = original


S3Response._authenticate_and_authorize_s3_action = s3_authorize

original_delete_keys = S3Response._bucket_response_delete_keys


def delete_keys_per_key(self, bucket_name: str, authenticated: bool = True):
    """DeleteObjects as S3 answers it: a key the caller may not delete is an AccessDenied entry."""
    if not enforcing():
        return original_delete_keys(self, bucket_name, authenticated)
    objects = xmltodict.parse(self.body, strip_whitespace=False)["Delete"].get("Object", [])
    objects = objects if isinstance(objects, list) else [objects]
    denied = set()
    for entry in objects:
        try:
            authorize(self, S3IAMRequest, "DeleteObject", f"arn:aws:s3:::{bucket_name}/{entry['Key']}")
        except (BucketAccessDeniedError, S3AccessDeniedError):
            denied.add(entry["Key"])
    bucket = self.backend.get_bucket(bucket_name)
    bucket_permission = bucket.get_permission

    def permission(action: str, resource: str):
        if action == "s3:DeleteObject" and resource.split(":::", 1)[1].split("/", 1)[1] in denied:
            return PermissionResult.DENIED
        return bucket_permission(action, resource)

    bucket.get_permission = permission
    try:
        return original_delete_keys(self, bucket_name, True)
    finally:
        del bucket.get_permission


S3Response._bucket_response_delete_keys = delete_keys_per_key


def main() -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    print(json.dumps({"port": port}), flush=True)
    for line in sys.stdin:
        if line.strip() == "enforce-iam":
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
            print(json.dumps({"enforcing": True}), flush=True)
    server.stop()


if __name__ == "__main__":
    main()
