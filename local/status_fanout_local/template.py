"""Read the SAM template and evaluate its intrinsic functions for the local stack.

Only what the local stack needs is evaluated: parameters, pseudo parameters,
conditions, and references to the resources the emulator creates. Anything
that is not emulated (CloudFront, layers, APIs, alarms ...) resolves to a
placeholder string so that a template can grow without breaking `make run`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import filters

logger = logging.getLogger("status_fanout_local.template")

STACK_NAME = "status-fanout-local"
PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK_NAME}/local",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
REGION = PSEUDO_PARAMETERS["AWS::Region"]
ACCOUNT_ID = PSEUDO_PARAMETERS["AWS::AccountId"]

# Resource types the emulator creates; every other type gets placeholders.
# A schedule group's schedules are fired by the local stack (scheduler.SchedulerPoller):
# the template's own (the daily render's) and those the API makes; roles exist
# so that what names one (a schedule's RoleArn) holds a real ARN.
SCHEDULE_GROUP_TYPE = "AWS::Scheduler::ScheduleGroup"
SCHEDULE_TYPE = "AWS::Scheduler::Schedule"
EMULATED_TYPES = frozenset({"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic",
                            SCHEDULE_GROUP_TYPE, SCHEDULE_TYPE, "AWS::IAM::Role"})
FUNCTION_TYPE = "AWS::Serverless::Function"
# Custom resources backed by a function of the template are created by
# invoking it as CloudFormation does (custom_resources.py).
CUSTOM_RESOURCE_TYPE = "AWS::CloudFormation::CustomResource"

# SAM's own defaults, used when neither Globals nor the function set a value.
SAM_DEFAULT_TIMEOUT = 3
SAM_DEFAULT_MEMORY = 128


class TemplateError(Exception):
    """The template cannot be read or evaluated for the local stack."""


# --------------------------------------------------------------------------- YAML


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form tags.

    A subclass keeps the extra constructors away from yaml.safe_load users.
    """


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise TemplateError(f"unsupported YAML node {node!r}")


def _construct_cfn_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    value = _construct_node(loader, node)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # The short form "Res.Attr.Sub" splits at the first dot only.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML (or JSON) template into plain data."""
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(f"template {path} is not a mapping")
    return data


# ----------------------------------------------------------------- physical names


@dataclass
class PhysicalResource:
    """A resource created in the emulator: what Ref and Fn::GetAtt return."""

    logical_id: str
    type: str
    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


def physical_name(logical_id: str, resource_type: str) -> str:
    """Deterministic local name, so that restarts and tests can predict it."""
    name = f"{STACK_NAME}-{logical_id.lower()}"
    if resource_type == "AWS::S3::Bucket":
        return name[:63].rstrip("-.")
    if resource_type == "AWS::SQS::Queue":
        return name[:75]
    if resource_type in (SCHEDULE_GROUP_TYPE, SCHEDULE_TYPE, "AWS::IAM::Role"):
        return name[:64]
    return name[:255]


def function_arn(logical_id: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{physical_name(logical_id, FUNCTION_TYPE)}"


def placeholder(logical_id: str, attribute: str | None = None) -> str:
    # Hostname-safe, so that a placeholder inside a URL still parses.
    text = f"local-placeholder-{logical_id.lower()}"
    if attribute:
        text += "-" + re.sub(r"[^a-z0-9]+", "-", attribute.lower())
    return text


# ----------------------------------------------------------------------- resolver


class _NoValue:
    """AWS::NoValue: removes the surrounding key or list item."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """Evaluates intrinsic functions against parameters and local resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        physical: Mapping[str, PhysicalResource] | None = None,
    ) -> None:
        self.template = template
        self.resources: Mapping[str, Any] = template.get("Resources") or {}
        self.physical: dict[str, PhysicalResource] = dict(physical or {})
        self.parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, str | None]:
        declared: Mapping[str, Any] = self.template.get("Parameters") or {}
        unknown = set(overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown template parameters: {sorted(unknown)}")
        values: dict[str, str | None] = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif isinstance(spec, Mapping) and "Default" in spec:
                values[name] = _stringify(spec["Default"])
            else:
                # Only an error if something actually references it.
                values[name] = None
        return values

    # -- conditions

    def condition(self, name: str) -> bool:
        if name in self._conditions:
            return self._conditions[name]
        declared: Mapping[str, Any] = self.template.get("Conditions") or {}
        if name not in declared:
            raise TemplateError(f"unknown condition {name!r}")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = bool(self.resolve(declared[name]))
        finally:
            self._evaluating.discard(name)
        self._conditions[name] = value
        return value

    def resource_enabled(self, logical_id: str) -> bool:
        spec = self.resources.get(logical_id) or {}
        cond = spec.get("Condition")
        return cond is None or self.condition(cond)

    # -- evaluation

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic in `value`; AWS::NoValue entries disappear."""
        result = self._resolve(value)
        return None if result is NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self._resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: Any) -> Any:
        name = self._resolve(name)
        if not isinstance(name, str):
            raise TemplateError(f"Ref needs a name, got {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::NotificationARNs":
            return []
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in self.parameters:
            value = self.parameters[name]
            if value is None:
                raise TemplateError(
                    f"parameter {name!r} has no Default; pass it in parameters={{{name!r}: ...}}"
                )
            return value
        return self._resource_ref(name)

    def _resource_ref(self, logical_id: str) -> str:
        if logical_id in self.physical:
            return self.physical[logical_id].ref
        self._check_resource(logical_id)
        return placeholder(logical_id)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id in self.physical:
            attributes = self.physical[logical_id].attributes
            if attribute in attributes:
                return attributes[attribute]
            raise TemplateError(f"{logical_id}.{attribute} is not available locally")
        self._check_resource(logical_id)
        return placeholder(logical_id, attribute)

    def _check_resource(self, logical_id: str) -> None:
        spec = self.resources.get(logical_id)
        if spec is None:
            raise TemplateError(f"reference to unknown resource or parameter {logical_id!r}")
        if spec.get("Type") in EMULATED_TYPES and self.resource_enabled(logical_id):
            # Dependency order guarantees this never happens for a valid template.
            raise TemplateError(f"{logical_id} is referenced before it was created")

    def _function(self, name: str, arg: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            logger.debug("Fn::%s is not evaluated locally; using a placeholder", name)
            return placeholder(name)
        return handler(arg)

    def _fn_getatt(self, arg: Any) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        arg = self._resolve(arg)
        if not isinstance(arg, list) or len(arg) < 2:
            raise TemplateError(f"bad Fn::GetAtt {arg!r}")
        return self._get_att(str(arg[0]), ".".join(str(a) for a in arg[1:]))

    def _fn_sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], self._resolve(arg[1] if len(arg) > 1 else {})
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            raise TemplateError(f"bad Fn::Sub {arg!r}")

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _stringify(variables[expression]) or ""
            if "." in expression and not expression.startswith("AWS::"):
                resource, _, attribute = expression.partition(".")
                return self._get_att(resource, attribute)
            return _stringify(self._ref(expression)) or ""

        return _SUB_VARIABLE.sub(replace, text)

    def _fn_if(self, arg: Any) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            raise TemplateError(f"bad Fn::If {arg!r}")
        return self._resolve(arg[1] if self.condition(arg[0]) else arg[2])

    def _fn_equals(self, arg: Any) -> bool:
        left, right = self._resolve(arg)
        return _stringify(left) == _stringify(right)

    def _fn_not(self, arg: Any) -> bool:
        (value,) = self._resolve(arg)
        return not value

    def _fn_and(self, arg: Any) -> bool:
        return all(self._resolve(arg))

    def _fn_or(self, arg: Any) -> bool:
        return any(self._resolve(arg))

    def _fn_join(self, arg: Any) -> str:
        delimiter, items = self._resolve(arg)
        return str(delimiter).join(_stringify(item) or "" for item in items)

    def _fn_select(self, arg: Any) -> Any:
        index, items = self._resolve(arg)
        return items[int(index)]

    def _fn_split(self, arg: Any) -> list[str]:
        delimiter, text = self._resolve(arg)
        return str(text).split(str(delimiter))

    def _fn_findinmap(self, arg: Any) -> Any:
        map_name, top, second = self._resolve(arg)[:3]
        try:
            return self.template["Mappings"][map_name][top][second]
        except (KeyError, TypeError) as exc:
            raise TemplateError(f"Fn::FindInMap {map_name}/{top}/{second} not found") from exc

    def _fn_getazs(self, arg: Any) -> list[str]:
        region = self._resolve(arg) or REGION
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_base64(self, arg: Any) -> str:
        return base64.b64encode(str(self._resolve(arg)).encode()).decode()

    def _fn_tojsonstring(self, arg: Any) -> str:
        return json.dumps(self._resolve(arg), separators=(",", ":"))


def _stringify(value: Any) -> str | None:
    """CloudFormation's view of a scalar as a string ("true", not "True")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------- functions


@dataclass(frozen=True)
class ApiEvent:
    name: str
    path: str
    method: str  # upper case; "ANY" matches every method


@dataclass(frozen=True)
class DynamoDBEvent:
    name: str
    stream: str
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    maximum_batching_window: float = 0.0
    bisect_on_error: bool = False
    maximum_retry_attempts: int = -1  # -1: retry until the record expires, as in Lambda
    function_response_types: tuple[str, ...] = ()
    on_failure_destination: str | None = None
    # FilterCriteria patterns (filters.py); records matching none are dropped.
    filters: tuple[dict[str, Any], ...] = ()

    @property
    def reports_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class SqsEvent:
    name: str
    queue: str  # the queue ARN
    batch_size: int = 10
    maximum_batching_window: float = 0.0
    function_response_types: tuple[str, ...] = ()
    maximum_concurrency: int | None = None

    @property
    def reports_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.function_response_types


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int = SAM_DEFAULT_TIMEOUT
    memory_size: int = SAM_DEFAULT_MEMORY
    reserved_concurrency: int | None = None
    api_events: tuple[ApiEvent, ...] = ()
    dynamodb_events: tuple[DynamoDBEvent, ...] = ()
    sqs_events: tuple[SqsEvent, ...] = ()

    @property
    def function_name(self) -> str:
        return physical_name(self.logical_id, FUNCTION_TYPE)

    @property
    def arn(self) -> str:
        return function_arn(self.logical_id)

    @property
    def handler_file(self) -> Path:
        """`app.lambda_handler` → <code_dir>/app.py; `pkg.mod.fn` → pkg/mod.py."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def handler_module(self) -> str:
        """`app.lambda_handler` → `app`: the module name Lambda imports the handler as."""
        return self.handler.rpartition(".")[0]


@dataclass(frozen=True)
class CustomResourceSpec:
    logical_id: str
    resource_type: str
    function: str  # logical id of the template function its ServiceToken names
    properties: dict[str, Any]  # as CloudFormation sends them: every scalar a string


def is_custom_resource(resource_type: str) -> bool:
    return resource_type == CUSTOM_RESOURCE_TYPE or resource_type.startswith("Custom::")


def _service_token_function(token: Any) -> str | None:
    """The logical id in `!GetAtt Function.Arn`, the form a template's own function takes."""
    if isinstance(token, dict) and "Fn::GetAtt" in token:
        target = token["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if len(parts) == 2 and parts[1] == "Arn" and isinstance(parts[0], str):
            return parts[0]
    return None


def _cloudformation_strings(value: Any) -> Any:
    """CloudFormation hands a custom resource every scalar property as a string."""
    if isinstance(value, dict):
        return {key: _cloudformation_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_cloudformation_strings(item) for item in value]
    return _stringify(value)


class Template:
    """A loaded SAM template rooted at a project directory."""

    def __init__(self, root: Path, filename: str = "template.yaml") -> None:
        self.root = root.resolve()
        self.path = self.root / filename
        self.data = load_template(self.path)
        self.resources: dict[str, Any] = self.data.get("Resources") or {}

    def resolver(
        self,
        parameters: Mapping[str, str] | None = None,
        physical: Mapping[str, PhysicalResource] | None = None,
    ) -> Resolver:
        """A resolver that also knows the functions' names and ARNs (`!Ref`, `!GetAtt
        Function.Arn`), as the local runtime names them: a function's ARN can be
        given to another (a schedule's target) or granted in a role."""
        resolver = Resolver(self.data, parameters, physical)
        for logical_id, spec in self.resources.items():
            if spec.get("Type") == FUNCTION_TYPE and logical_id not in resolver.physical \
                    and resolver.resource_enabled(logical_id):
                resolver.physical[logical_id] = PhysicalResource(
                    logical_id, FUNCTION_TYPE, physical_name(logical_id, FUNCTION_TYPE),
                    {"Arn": function_arn(logical_id)})
        return resolver

    def emulated_resources(self, resolver: Resolver) -> list[tuple[str, str, dict[str, Any]]]:
        """(logical id, type, raw properties) of emulated resources in creation order."""
        wanted: dict[str, dict[str, Any]] = {}
        for logical_id, spec in self.resources.items():
            resource_type = spec.get("Type", "")
            if resource_type not in EMULATED_TYPES:
                if resource_type != FUNCTION_TYPE:
                    logger.debug("not emulated: %s (%s)", logical_id, resource_type)
                continue
            if not resolver.resource_enabled(logical_id):
                logger.debug("skipped by its condition: %s", logical_id)
                continue
            wanted[logical_id] = spec
        order = _dependency_order(
            {lid: _references(spec.get("Properties") or {}) & set(wanted) for lid, spec in wanted.items()}
        )
        return [(lid, wanted[lid]["Type"], wanted[lid].get("Properties") or {}) for lid in order]

    def functions(self, resolver: Resolver) -> list[FunctionSpec]:
        """Every enabled AWS::Serverless::Function, with Globals merged and resolved."""
        globals_fn: Mapping[str, Any] = (self.data.get("Globals") or {}).get("Function") or {}
        specs = []
        for logical_id, spec in self.resources.items():
            if spec.get("Type") != FUNCTION_TYPE or not resolver.resource_enabled(logical_id):
                continue
            props: Mapping[str, Any] = spec.get("Properties") or {}
            specs.append(self._function(logical_id, props, globals_fn, resolver))
        return specs

    def custom_resources(self, resolver: Resolver, functions: list[FunctionSpec]) -> list[CustomResourceSpec]:
        """Every enabled custom resource whose ServiceToken is a function of this
        template, properties resolved, in dependency order. Others (an SNS
        topic, an imported ARN) cannot run here and are left out."""
        by_id = {spec.logical_id: spec for spec in functions}
        wanted: dict[str, tuple[str, str, dict[str, Any]]] = {}
        dependencies: dict[str, set[str]] = {}
        for logical_id, spec in self.resources.items():
            resource_type = str(spec.get("Type", ""))
            if not is_custom_resource(resource_type) or not resolver.resource_enabled(logical_id):
                continue
            props: Mapping[str, Any] = spec.get("Properties") or {}
            function = _service_token_function(props.get("ServiceToken"))
            if function not in by_id:
                logger.warning("custom resource %s is not created locally: its ServiceToken is not "
                               "!GetAtt <a function of this template>.Arn", logical_id)
                continue
            resolved = resolver.resolve({k: v for k, v in props.items() if k != "ServiceToken"}) or {}
            resolved = {"ServiceToken": by_id[function].arn, **resolved}
            wanted[logical_id] = (resource_type, function, _cloudformation_strings(resolved))
            depends_on = spec.get("DependsOn") or []
            dependencies[logical_id] = _references(props) | set(
                [depends_on] if isinstance(depends_on, str) else depends_on)
        order = _dependency_order({lid: deps & set(wanted) for lid, deps in dependencies.items()})
        return [CustomResourceSpec(lid, *wanted[lid]) for lid in order]

    def _function(
        self,
        logical_id: str,
        props: Mapping[str, Any],
        globals_fn: Mapping[str, Any],
        resolver: Resolver,
    ) -> FunctionSpec:
        def setting(name: str, default: Any) -> Any:
            value = resolver.resolve(props.get(name, globals_fn.get(name, default)))
            return default if value is None else value

        environment: dict[str, str] = {}
        for source in (globals_fn, props):
            variables = resolver.resolve(((source.get("Environment") or {}).get("Variables")) or {})
            environment.update({k: _stringify(v) or "" for k, v in variables.items()})

        code_uri = setting("CodeUri", ".")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: only a local CodeUri directory is supported")
        handler = setting("Handler", None)
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must look like module.function")

        api: list[ApiEvent] = []
        streams: list[DynamoDBEvent] = []
        queues: list[SqsEvent] = []
        for event_name, event in (props.get("Events") or {}).items():
            kind = event.get("Type")
            ev = resolver.resolve(event.get("Properties") or {})
            if kind == "Api":
                api.append(ApiEvent(event_name, str(ev["Path"]), str(ev["Method"]).upper()))
            elif kind == "DynamoDB":
                streams.append(
                    DynamoDBEvent(
                        name=event_name,
                        stream=str(ev["Stream"]),
                        starting_position=str(ev.get("StartingPosition", "TRIM_HORIZON")),
                        batch_size=int(ev.get("BatchSize", 100)),
                        maximum_batching_window=float(ev.get("MaximumBatchingWindowInSeconds", 0)),
                        bisect_on_error=_truthy(ev.get("BisectBatchOnFunctionError", False)),
                        maximum_retry_attempts=int(ev.get("MaximumRetryAttempts", -1)),
                        function_response_types=tuple(ev.get("FunctionResponseTypes") or ()),
                        on_failure_destination=(
                            ((ev.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
                        ),
                        filters=filters.parse((ev.get("FilterCriteria") or {}).get("Filters") or ()),
                    )
                )
            elif kind == "SQS":
                scaling = ev.get("ScalingConfig") or {}
                queues.append(
                    SqsEvent(
                        name=event_name,
                        queue=str(ev["Queue"]),
                        batch_size=int(ev.get("BatchSize", 10)),
                        maximum_batching_window=float(ev.get("MaximumBatchingWindowInSeconds", 0)),
                        function_response_types=tuple(ev.get("FunctionResponseTypes") or ()),
                        maximum_concurrency=(
                            int(scaling["MaximumConcurrency"]) if "MaximumConcurrency" in scaling else None
                        ),
                    )
                )
            else:
                logger.debug("%s: event %s of type %s is not emulated", logical_id, event_name, kind)

        reserved = props.get("ReservedConcurrentExecutions")
        return FunctionSpec(
            logical_id=logical_id,
            code_dir=(self.root / code_uri).resolve(),
            handler=handler,
            environment=environment,
            timeout=int(setting("Timeout", SAM_DEFAULT_TIMEOUT)),
            memory_size=int(setting("MemorySize", SAM_DEFAULT_MEMORY)),
            reserved_concurrency=int(resolver.resolve(reserved)) if reserved is not None else None,
            api_events=tuple(api),
            dynamodb_events=tuple(streams),
            sqs_events=tuple(queues),
        )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _references(value: Any) -> set[str]:
    """Logical ids referenced by Ref, Fn::GetAtt or Fn::Sub anywhere in `value`."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item.split(".", 1)[0] if isinstance(item, str) else item[0]
                if isinstance(target, str):
                    found.add(target)
            elif key == "Fn::Sub":
                text = item[0] if isinstance(item, list) else item
                if isinstance(text, str):
                    found |= {m.split(".", 1)[0] for m in _SUB_VARIABLE.findall(text) if not m.startswith("!")}
                found |= _references(item)
            else:
                found |= _references(item)
    return found


def _dependency_order(dependencies: Mapping[str, set[str]]) -> list[str]:
    """Topological order (Kahn), stable with respect to template order."""
    remaining = {node: set(deps) - {node} for node, deps in dependencies.items()}
    order: list[str] = []
    while remaining:
        ready = [node for node, deps in remaining.items() if not deps]
        if not ready:
            raise TemplateError(f"circular references between {sorted(remaining)}")
        for node in ready:
            order.append(node)
            del remaining[node]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
