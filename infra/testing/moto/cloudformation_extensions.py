"""What stock moto's CloudFormation lacks for our templates, built on moto's own backends.

Imported by launcher.py before the server starts. Written against moto 5.2.6 and refused on any
other version: it reaches into moto's internals (the model registry, the backend's change-set and
delete methods), which move between releases.

- Resource types our stack and the CDK bootstrap stack use and moto does not create:
  AWS::ApiGatewayV2::Api / Integration / Route / Stage (the apigatewayv2 backend),
  AWS::CloudWatch::Alarm / CompositeAlarm (cloudwatch), AWS::S3::BucketPolicy (s3),
  AWS::SNS::TopicPolicy / Subscription (sns), AWS::CDK::Metadata (nothing to create).
- The `Value` attribute of AWS::SSM::Parameter (the bootstrap stack's BootstrapVersion output).
- Custom::S3AutoDeleteObjects: moto would invoke the provider Lambda through Docker; modelled here
  as what the provider does on delete (empties the bucket), and nothing on create.
- UpdateTerminationProtection, and DeleteStack refused while it is on, with CloudFormation's error;
  a stack whose resources cannot all be deleted is kept as DELETE_FAILED (moto loses it).
- Outputs of a stack made or changed by a change set (moto keeps the ones of the stack's first
  template, none for a change set's new stack).
- A CREATE change set whose execution fails rolls back: CREATE_FAILED on the resource, the
  resources made so far deleted, and the stack left in ROLLBACK_COMPLETE (moto raises instead).
- Bucket policies: statements with a condition are left out of moto's evaluation (it ignores
  conditions, so the TLS-only Deny would refuse all of its plain-http requests).
- AWS::KMS::Key with Tags (moto passes CloudFormation's {Key, Value} to a tagger that reads
  {TagKey, TagValue}, and the create fails).
- Change sets scoped by stack, removed once one executes, ChangeSetNotFoundException for a
  missing one, and DeleteChangeSet of a missing one a no-op (toolkit-lib relies on each).
- AWS::DynamoDB::Table updates of DeletionProtectionEnabled, in place (moto has no table update).
- Resource events (CREATE_IN_PROGRESS / CREATE_COMPLETE / CREATE_FAILED) as CloudFormation emits
  them, so a deploy's progress shows each resource.
"""
from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

PINNED_MOTO = "5.2.6"
if version("moto") != PINNED_MOTO:
    raise SystemExit(
        f"infra/testing/moto/cloudformation_extensions.py was written for moto {PINNED_MOTO}, "
        f"but .venv has moto {version('moto')}: check the extension against that version's "
        "cloudformation/parsing.py and models.py, then change PINNED_MOTO and requirements-tools.txt together"
    )

from moto.apigatewayv2.models import apigatewayv2_backends  # noqa: E402
from moto.cloudformation import models as cfn_models  # noqa: E402
from moto.cloudformation import parsing  # noqa: E402
from moto.cloudformation.exceptions import ValidationError  # noqa: E402
from moto.cloudformation.responses import CloudFormationResponse  # noqa: E402
from moto.cloudwatch.models import cloudwatch_backends  # noqa: E402
from moto.core.common_models import CloudFormationModel  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.s3.models import s3_backends  # noqa: E402
from moto.sns.models import sns_backends  # noqa: E402
from moto.ssm.models import Parameter  # noqa: E402


def _lower_keys(value: Any, keep: frozenset[str] = frozenset()) -> Any:
    """CloudFormation's PascalCase properties as the apigatewayv2 backend's camelCase config."""
    if isinstance(value, dict):
        return {
            (key if key in keep else key[:1].lower() + key[1:]): (
                {route: _lower_keys(settings) for route, settings in item.items()} if key == "RouteSettings" else _lower_keys(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


# moto files every model under a service named by the second part of its module's name.
_MODULE = "chatshyld_moto.cloudformation"


class _Resource:
    """Shared by the models below: a physical id, attributes, replace-on-update, delete."""

    attributes: dict[str, str] = {}

    def __init__(self, account_id: str, region_name: str, properties: dict[str, Any], physical_id: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.properties = properties
        self._physical_id = physical_id

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.attributes:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return getattr(self, self.attributes[attribute_name])

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any) -> Any:
        return cls.create(account_id, region_name, cloudformation_json.get("Properties", {}), resource_name)

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        original_resource.delete(account_id, region_name)
        return cls.create(account_id, region_name, cloudformation_json.get("Properties", {}), new_resource_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> None:
        return None

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> Any:
        raise NotImplementedError

    def delete(self, account_id: str, region_name: str) -> None:
        return None


class HttpApi(_Resource, CloudFormationModel):
    __module__ = _MODULE
    attributes = {"ApiEndpoint": "api_endpoint", "ApiId": "api_id"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> HttpApi:
        api = apigatewayv2_backends[account_id][region_name].create_api(
            api_key_selection_expression=properties.get("ApiKeySelectionExpression"),
            cors_configuration=_lower_keys(properties.get("CorsConfiguration")),
            description=properties.get("Description"),
            disable_schema_validation=properties.get("DisableSchemaValidation"),
            disable_execute_api_endpoint=properties.get("DisableExecuteApiEndpoint"),
            name=properties.get("Name", name),
            protocol_type=properties.get("ProtocolType", "HTTP"),
            route_selection_expression=properties.get("RouteSelectionExpression"),
            tags=properties.get("Tags", {}),
            version=properties.get("Version"),
        )
        resource = cls(account_id, region_name, properties, api.api_id)
        resource.api_id = api.api_id
        resource.api_endpoint = api.api_endpoint
        return resource

    @classmethod
    def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str) -> Any:
        # An HTTP API is updated in place (its id and endpoint stay), as CloudFormation does.
        properties = cloudformation_json.get("Properties", {})
        api = apigatewayv2_backends[account_id][region_name].get_api(original_resource.api_id)
        api.cors_configuration = _lower_keys(properties.get("CorsConfiguration"))
        api.name = properties.get("Name", api.name)
        original_resource.properties = properties
        return original_resource

    def delete(self, account_id: str, region_name: str) -> None:
        apigatewayv2_backends[account_id][region_name].delete_api(self.api_id)


class HttpApiIntegration(_Resource, CloudFormationModel):
    __module__ = _MODULE
    attributes = {"IntegrationId": "physical_resource_id"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Integration"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> HttpApiIntegration:
        integration = apigatewayv2_backends[account_id][region_name].create_integration(
            api_id=properties["ApiId"],
            connection_id=properties.get("ConnectionId"),
            connection_type=properties.get("ConnectionType"),
            content_handling_strategy=properties.get("ContentHandlingStrategy"),
            credentials_arn=properties.get("CredentialsArn"),
            description=properties.get("Description"),
            integration_method=properties.get("IntegrationMethod"),
            integration_subtype=properties.get("IntegrationSubtype"),
            integration_type=properties["IntegrationType"],
            integration_uri=properties.get("IntegrationUri"),
            passthrough_behavior=properties.get("PassthroughBehavior"),
            payload_format_version=properties.get("PayloadFormatVersion"),
            request_parameters=properties.get("RequestParameters"),
            request_templates=properties.get("RequestTemplates"),
            response_parameters=properties.get("ResponseParameters"),
            template_selection_expression=properties.get("TemplateSelectionExpression"),
            timeout_in_millis=properties.get("TimeoutInMillis"),
            tls_config=properties.get("TlsConfig"),
        )
        return cls(account_id, region_name, properties, integration.id)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = apigatewayv2_backends[account_id][region_name]
        # Deleting the API took its integrations with it (a stack deletes in any order).
        if self.properties["ApiId"] in backend.apis:
            backend.delete_integration(self.properties["ApiId"], self.physical_resource_id)


class HttpApiRoute(_Resource, CloudFormationModel):
    __module__ = _MODULE
    attributes = {"RouteId": "physical_resource_id"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Route"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> HttpApiRoute:
        route = apigatewayv2_backends[account_id][region_name].create_route(
            api_id=properties["ApiId"],
            api_key_required=properties.get("ApiKeyRequired", False),
            authorization_scopes=properties.get("AuthorizationScopes"),
            authorization_type=properties.get("AuthorizationType"),
            authorizer_id=properties.get("AuthorizerId"),
            model_selection_expression=properties.get("ModelSelectionExpression"),
            operation_name=properties.get("OperationName"),
            request_models=properties.get("RequestModels"),
            request_parameters=properties.get("RequestParameters"),
            route_key=properties["RouteKey"],
            route_response_selection_expression=properties.get("RouteResponseSelectionExpression"),
            target=properties.get("Target"),
        )
        return cls(account_id, region_name, properties, route.route_id)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = apigatewayv2_backends[account_id][region_name]
        # Deleting the API took its routes with it (a stack deletes in any order).
        if self.properties["ApiId"] in backend.apis:
            backend.delete_route(self.properties["ApiId"], self.physical_resource_id)


class HttpApiStage(_Resource, CloudFormationModel):
    __module__ = _MODULE
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> HttpApiStage:
        config = _lower_keys({key: value for key, value in properties.items() if key != "ApiId"})
        stage = apigatewayv2_backends[account_id][region_name].create_stage(properties["ApiId"], config)
        return cls(account_id, region_name, properties, stage.name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = apigatewayv2_backends[account_id][region_name]
        # Deleting the API took its stages with it (a stack deletes in any order).
        if self.properties["ApiId"] in backend.apis:
            backend.delete_stage(self.properties["ApiId"], self.physical_resource_id)


class AlreadyExists(Exception):
    """A create handler's refusal of a name another resource holds (HandlerErrorCode AlreadyExists)."""


class MetricAlarm(_Resource, CloudFormationModel):
    __module__ = _MODULE
    attributes = {"Arn": "arn"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> Any:
        from moto.cloudwatch.models import MetricDataQuery, MetricStat

        queries = None
        if properties.get("Metrics"):
            queries = []
            for query in properties["Metrics"]:
                stat = query.get("MetricStat")
                metric_stat = None
                if stat:
                    metric = stat["Metric"]
                    metric_stat = MetricStat(
                        metric=cls._metric(metric),
                        period=stat["Period"],
                        stat=stat["Stat"],
                        unit=stat.get("Unit"),
                    )
                queries.append(
                    MetricDataQuery(
                        query_id=query["Id"],
                        label=query.get("Label"),
                        period=query.get("Period"),
                        return_data=query.get("ReturnData"),
                        expression=query.get("Expression"),
                        metric_stat=metric_stat,
                    )
                )
        alarm_name = properties.get("AlarmName", name)
        # PutMetricAlarm overwrites an alarm of the same name; CloudFormation's create handler does not:
        # a resource type's create must fail AlreadyExists when the name is taken (the handler contract).
        if properties.get("AlarmName") and alarm_name in cloudwatch_backends[account_id][region_name].alarms:
            raise AlreadyExists(f"Resource of type 'AWS::CloudWatch::Alarm' with identifier '{alarm_name}' already exists.")
        alarm = cloudwatch_backends[account_id][region_name].put_metric_alarm(
            name=alarm_name,
            namespace=properties.get("Namespace"),
            metric_name=properties.get("MetricName"),
            comparison_operator=properties.get("ComparisonOperator"),
            evaluation_periods=properties.get("EvaluationPeriods"),
            period=properties.get("Period"),
            threshold=properties.get("Threshold"),
            statistic=properties.get("Statistic"),
            description=properties.get("AlarmDescription"),
            dimensions=properties.get("Dimensions", []),
            alarm_actions=properties.get("AlarmActions", []),
            metric_data_queries=queries,
            datapoints_to_alarm=properties.get("DatapointsToAlarm"),
            ok_actions=properties.get("OKActions", []),
            insufficient_data_actions=properties.get("InsufficientDataActions", []),
            actions_enabled=properties.get("ActionsEnabled", True),
            treat_missing_data=properties.get("TreatMissingData"),
            rule=properties.get("AlarmRule"),
            tags=properties.get("Tags"),
        )
        resource = cls(account_id, region_name, properties, alarm_name)
        resource.arn = alarm.alarm_arn
        return resource

    @staticmethod
    def _metric(metric: dict[str, Any]) -> Any:
        from moto.cloudwatch.models import Dimension, Metric

        return Metric(
            metric_name=metric.get("MetricName"),
            namespace=metric.get("Namespace"),
            dimensions=[Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])],
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend = cloudwatch_backends[account_id][region_name]
        if self.physical_resource_id in backend.alarms:
            backend.delete_alarms([self.physical_resource_id])


class CompositeAlarm(_Resource, CloudFormationModel):
    """moto keeps a composite alarm as an alarm with a rule (PutCompositeAlarm does the same)."""
    __module__ = _MODULE

    attributes = {"Arn": "arn"}

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::CompositeAlarm"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> Any:
        return MetricAlarm.create.__func__(cls, account_id, region_name, properties, name)  # type: ignore[attr-defined]

    def delete(self, account_id: str, region_name: str) -> None:
        backend = cloudwatch_backends[account_id][region_name]
        if self.physical_resource_id in backend.alarms:
            backend.delete_alarms([self.physical_resource_id])


class BucketPolicy(_Resource, CloudFormationModel):
    __module__ = _MODULE
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> BucketPolicy:
        bucket = properties["Bucket"]
        s3_backends[account_id]["global"].put_bucket_policy(bucket, json.dumps(properties["PolicyDocument"]).encode())
        return cls(account_id, region_name, properties, bucket)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id]["global"]
        if self.physical_resource_id in backend.buckets:
            backend.delete_bucket_policy(self.physical_resource_id)


class TopicPolicy(_Resource, CloudFormationModel):
    __module__ = _MODULE
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> TopicPolicy:
        backend = sns_backends[account_id][region_name]
        for topic in properties["Topics"]:
            backend.set_topic_attribute(topic, "policy", json.dumps(properties["PolicyDocument"]))
        return cls(account_id, region_name, properties, name)


class TopicSubscription(_Resource, CloudFormationModel):
    __module__ = _MODULE
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> TopicSubscription:
        subscription = sns_backends[account_id][region_name].subscribe(properties["TopicArn"], properties["Endpoint"], properties["Protocol"])
        return cls(account_id, region_name, properties, subscription.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.physical_resource_id)


class CdkMetadata(_Resource, CloudFormationModel):
    __module__ = _MODULE
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CDK::Metadata"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> CdkMetadata:
        return cls(account_id, region_name, properties, name)


class AutoDeleteObjects(_Resource, CloudFormationModel):
    """A model of the CDK's auto-delete provider: on delete, the bucket is emptied (nothing on create)."""
    __module__ = _MODULE

    @staticmethod
    def cloudformation_type() -> str:
        return "Custom::S3AutoDeleteObjects"

    @classmethod
    def create(cls, account_id: str, region_name: str, properties: dict[str, Any], name: str) -> AutoDeleteObjects:
        return cls(account_id, region_name, properties, name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id]["global"]
        bucket = self.properties.get("BucketName")
        if bucket in backend.buckets:
            for key in list(backend.buckets[bucket].keys.keys()):
                backend.delete_object(bucket, key)


_stock_class_from_type = parsing.resource_class_from_type


def _class_from_type(resource_type: str) -> Any:
    if resource_type == AutoDeleteObjects.cloudformation_type():
        return AutoDeleteObjects
    return _stock_class_from_type(resource_type)


parsing.resource_class_from_type = _class_from_type


# AWS::SSM::Parameter's `Value`: the CDK bootstrap stack's BootstrapVersion output is a GetAtt of it.
def _parameter_attribute(self: Parameter, attribute_name: str) -> Any:
    if attribute_name == "Value":
        return self.value
    if attribute_name == "Type":
        return self.parameter_type
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    raise UnformattedGetAttTemplateException()


Parameter.get_cfn_attribute = _parameter_attribute  # type: ignore[method-assign]
Parameter.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Value", "Type"))  # type: ignore[method-assign,assignment]


# Resource events, as CloudFormation records them while it creates a stack's resources.
_stock_create = parsing.parse_and_create_resource


def _stack_of(resources_map: Any) -> Any:
    backend = cfn_models.cloudformation_backends[resources_map._account_id][resources_map._region_name]
    return backend.stacks.get(resources_map.stack_id)


def _resource_event(stack: Any, logical_id: str, resource_type: str, status: str, reason: str | None = None, physical_id: str = "") -> None:
    if stack is None:
        return
    stack.events.append(
        cfn_models.Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _create_with_events(logical_id: str, resource_json: dict[str, Any], resources_map: Any, account_id: str, region_name: str) -> Any:
    stack = _stack_of(resources_map)
    resource_type = resource_json.get("Type", "")
    _resource_event(stack, logical_id, resource_type, "CREATE_IN_PROGRESS")
    try:
        resource = _stock_create(logical_id, resource_json, resources_map, account_id, region_name)
    except Exception as error:
        # moto creates a resource's dependencies from inside its create: only the one that failed
        # reports it, as in CloudFormation (the others never got to start).
        if not getattr(error, "_chatshyld_reported", False):
            _resource_event(stack, logical_id, resource_type, "CREATE_FAILED", f"{type(error).__name__}: {error}")
            error._chatshyld_reported = True  # type: ignore[attr-defined]
        raise
    physical_id = getattr(resource, "physical_resource_id", "") if resource is not None else ""
    _resource_event(stack, logical_id, resource_type, "CREATE_COMPLETE", physical_id=str(physical_id or ""))
    return resource


parsing.parse_and_create_resource = _create_with_events


# A CREATE change set that fails rolls back to ROLLBACK_COMPLETE; the API call itself succeeds.
_stock_execute = cfn_models.CloudFormationBackend.execute_change_set


def _execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = self.change_sets.get(change_set_name) or next(
        (candidate for candidate in self.change_sets.values() if candidate.change_set_name == change_set_name), None
    )
    if change_set is None:
        return _stock_execute(self, change_set_name, stack_name)
    stack = self.stacks[change_set.stack_id]
    try:
        _stock_execute(self, change_set_name, stack_name)
        # moto builds a stack's outputs when the stack is made, from the template it had then (none,
        # for a stack a change set created): build them from the template just executed.
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()
        # CloudFormation removes every change set of a stack once one of them has executed.
        for change_set_id in [key for key, candidate in self.change_sets.items() if candidate.stack_id == stack.stack_id]:
            del self.change_sets[change_set_id]
        return None
    except Exception as error:
        if change_set.change_set_type != "CREATE":
            raise
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=f"The following resource(s) failed to create: {error}. Rollback requested by user.")
        stack.template = change_set.template
        change_set.execution_status = "EXECUTE_FAILED"
        try:
            stack.resource_map.delete()
        except Exception as rollback_error:
            stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=f"{type(rollback_error).__name__}: {rollback_error}")
            stack.status = "ROLLBACK_FAILED"
            return None
        # The rolled-back stack holds no resources (moto would create them again when listed).
        stack.resource_map._resource_json_map = {}
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
        return None


cfn_models.CloudFormationBackend.execute_change_set = _execute_change_set  # type: ignore[method-assign]


# Termination protection: stored by moto, now also settable and enforced on DeleteStack.
_stock_delete_stack = cfn_models.CloudFormationBackend.delete_stack


def _delete_stack(self: Any, name_or_stack_id: str) -> None:
    stack = self.stacks.get(name_or_stack_id) or next((s for s in self.stacks.values() if s.name == name_or_stack_id), None)
    if stack is not None and stack.enable_termination_protection:
        raise ValidationError(message=f"Stack [{name_or_stack_id}] cannot be deleted while TerminationProtection is enabled")
    if stack is None:
        return _stock_delete_stack(self, name_or_stack_id)
    try:
        _stock_delete_stack(self, stack.stack_id)
        # A deleted stack's change sets go with it (moto keeps them, and a later stack of the same
        # name would find them by name).
        for change_set_id in [key for key, candidate in self.change_sets.items() if candidate.stack_id == stack.stack_id]:
            del self.change_sets[change_set_id]
        return None
    except Exception as error:
        # moto drops a stack whose resources it could not delete; CloudFormation keeps it, DELETE_FAILED.
        stack._add_stack_event("DELETE_FAILED", resource_status_reason=f"{type(error).__name__}: {error}")
        stack.status = "DELETE_FAILED"
        self.stacks[stack.stack_id] = stack
        return None


cfn_models.CloudFormationBackend.delete_stack = _delete_stack  # type: ignore[method-assign]


def _update_termination_protection(self: CloudFormationResponse) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    enabled = self._get_param("EnableTerminationProtection")
    stack.enable_termination_protection = enabled is True or str(enabled).lower() == "true"
    return ActionResult({"StackId": stack.stack_id})


CloudFormationResponse.update_termination_protection = _update_termination_protection  # type: ignore[attr-defined]


# moto evaluates a bucket policy without its conditions, so the TLS-only Deny of every CDK bucket
# (aws:SecureTransport false) would refuse every request, and moto speaks plain http. Statements
# with a condition are left out of moto's evaluation; the policy itself is stored as written.
from moto.s3.models import FakeBucket  # noqa: E402

_stock_permission = FakeBucket.get_permission


def _permission_without_conditions(self: FakeBucket, action: str, resource: str) -> Any:
    if self.policy is None:
        return _stock_permission(self, action, resource)
    document = json.loads(self.policy)
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = [statement for statement in statements if "Condition" not in statement]
    if len(kept) == len(statements):
        return _stock_permission(self, action, resource)
    stored = self.policy
    try:
        self.policy = json.dumps({**document, "Statement": kept}).encode()
        return _stock_permission(self, action, resource)
    finally:
        self.policy = stored


FakeBucket.get_permission = _permission_without_conditions  # type: ignore[method-assign]


# AWS::KMS::Key's Tags are {Key, Value} in CloudFormation; moto hands them to KMS's tagger, which
# reads {TagKey, TagValue}, and the create fails with KeyError 'TagKey'. Translate them first.
from moto.kms.models import Key as KmsKey  # noqa: E402

_stock_kms_create = KmsKey.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _kms_create(cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
    properties = cloudformation_json.get("Properties", {})
    tags = [{"TagKey": tag["Key"], "TagValue": tag["Value"]} for tag in properties.get("Tags", [])]
    return _stock_kms_create(cls, resource_name, {**cloudformation_json, "Properties": {**properties, "Tags": tags}}, account_id, region_name, **kwargs)


KmsKey.create_from_cloudformation_json = classmethod(_kms_create)  # type: ignore[method-assign,assignment]


# Change sets belong to a stack: moto looks them up by name across all stacks (so a deploy finds
# the bootstrap stack's executed `cdk-deploy-change-set`), and a missing one is a ValidationError
# naming a stack. CloudFormation scopes them by StackName, answers ChangeSetNotFoundException for
# DescribeChangeSet, and succeeds on DeleteChangeSet of a change set that is not there.
from moto.cloudformation.exceptions import CloudFormationError  # noqa: E402
from moto.core.responses import EmptyResult  # noqa: E402


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFoundException"
    status_code = 404

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def _change_set_of(response: CloudFormationResponse) -> Any:
    backend = response.cloudformation_backend
    name = response._get_param("ChangeSetName")
    stack_name = response._get_param("StackName")
    if name in backend.change_sets:
        return name, backend.change_sets[name]
    # By name, only among the change sets of the stack that has that name now.
    live = {stack.stack_id for stack in backend.stacks.values() if not stack_name or stack_name in (stack.name, stack.stack_id)}
    for candidate in backend.change_sets.values():
        if candidate.change_set_name == name and candidate.stack_id in live:
            return name, candidate
    return name, None


def _describe_change_set(self: CloudFormationResponse) -> ActionResult:
    name, change_set = _change_set_of(self)
    if change_set is None:
        raise ChangeSetNotFound(name)
    return ActionResult(change_set)


def _delete_change_set(self: CloudFormationResponse) -> ActionResult:
    _, change_set = _change_set_of(self)
    if change_set is not None:
        del self.cloudformation_backend.change_sets[change_set.change_set_id]
    return EmptyResult()


def _list_change_sets(self: CloudFormationResponse) -> ActionResult:
    stack_name = self._get_param("StackName")
    change_sets = [
        candidate
        for candidate in self.cloudformation_backend.list_change_sets()
        if not stack_name or stack_name in (candidate.stack_name, candidate.stack_id)
    ]
    return ActionResult({"Summaries": change_sets})


CloudFormationResponse.describe_change_set = _describe_change_set  # type: ignore[method-assign]
CloudFormationResponse.delete_change_set = _delete_change_set  # type: ignore[method-assign]
CloudFormationResponse.list_change_sets = _list_change_sets  # type: ignore[method-assign]


# moto's DynamoDB table has no CloudFormation update: a changed table is dropped from the stack's
# map (its Ref becomes nothing) and the table itself is left as it was. Our protected stages change
# one property in place, DeletionProtectionEnabled (the deploy after a first create switches it on);
# that update is applied, as CloudFormation does without replacing the table. Other changes stay as
# they are (moto's limit, listed in docs/aws-fidelity.md).
from moto.dynamodb.models.table import Table as DynamoTable  # noqa: E402


def _table_update(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any, account_id: str, region_name: str) -> Any:
    properties = cloudformation_json.get("Properties", {})
    enabled = properties.get("DeletionProtectionEnabled", False)
    original_resource.deletion_protection_enabled = enabled is True or str(enabled).lower() == "true"
    return original_resource


DynamoTable.update_from_cloudformation_json = classmethod(_table_update)  # type: ignore[method-assign,assignment]
