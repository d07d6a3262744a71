"""IAM guard: no wildcard permission ships unless docs/operations.md justifies it.

The SAM template is translated offline into the CloudFormation SAM deploys
(roles from SAM policy templates, our inline statements, the AWS managed
policies SAM attaches). Every Allow statement whose Action is `*` or
`service:*`, or whose Resource is `*` or ends in `:*`, and every attached
managed policy, must match a row of the tables under "IAM wildcards we
accept" in docs/operations.md, for exactly the functions that row names. A
row that no longer matches anything fails too, so the doc and the template
cannot drift apart.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cfn_template import ROOT, load_template, sam_translate

DOC = ROOT / "docs" / "operations.md"
HEADING = "## IAM wildcards we accept"
STATEMENTS_TABLE = "### Statements in template.yaml"
MANAGED_TABLE = "### AWS managed policies SAM attaches"
EVERY_FUNCTION = "every function"

# (action, resource) -> the functions (or resources) holding it
Grants = dict[tuple[str, str], set[str]]


# --- the doc's tables --------------------------------------------------------------

def _table_rows(section: str, heading: str) -> list[list[str]]:
    start = section.index(heading)
    rows = []
    for line in section[start:].splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("|") and not re.match(r"^\|[\s:|-]+\|$", line):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[1:]  # the header row


def _code(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def accepted(doc: str, functions: set[str]) -> tuple[Grants, Grants]:
    """(statement wildcards, managed policies) that the doc accepts, each with its holders."""
    assert HEADING in doc, f"{DOC.name} has no '{HEADING}' section"
    section = doc[doc.index(HEADING):]
    section = section[:section.find("\n## ", 1)] if "\n## " in section[1:] else section

    def holders(cell: str) -> set[str]:
        return set(functions) if cell.lower() == EVERY_FUNCTION else set(_code(cell))

    statements: Grants = {}
    for action, resource, who, *_why in _table_rows(section, STATEMENTS_TABLE):
        statements[(_code(action)[0], _code(resource)[0])] = holders(who)
    managed: Grants = {}
    for policy, who, *_rest in _table_rows(section, MANAGED_TABLE):
        managed[(_code(policy)[0], "")] = holders(who)
    return statements, managed


# --- the translated template ----------------------------------------------------------

def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every statement in a policy document, also inside Fn::If branches."""
    if isinstance(node, dict):
        if "Effect" in node:
            yield node
        else:
            for value in node.values():
                yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _policy_documents(node: Any) -> Iterator[Any]:
    """Every PolicyDocument (identity or resource policy) under a resource's properties."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "PolicyDocument":
                yield value
            elif key != "AssumeRolePolicyDocument":  # who may assume a role, not what it may do
                yield from _policy_documents(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policy_documents(value)


def _resource_text(resource: Any) -> str:
    if isinstance(resource, str):
        return resource
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        sub = resource["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return json.dumps(resource, sort_keys=True)


def _wild_action(action: str) -> bool:
    return action == "*" or action.endswith(":*")


def _wild_resource(resource: str) -> bool:
    return resource == "*" or resource.endswith(":*")


def wildcards(cfn: dict[str, Any]) -> tuple[Grants, Grants, set[str]]:
    """(wildcard statements, attached managed policies, the functions) of a translated template."""
    resources: dict[str, Any] = cfn["Resources"]
    functions = {name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    owner_of_role = {resources[name]["Properties"]["Role"]["Fn::GetAtt"][0]: name for name in functions
                     if isinstance(resources[name]["Properties"].get("Role"), dict)}

    statements: Grants = {}
    managed: Grants = {}
    for name, resource in resources.items():
        properties = resource.get("Properties") or {}
        owners = {owner_of_role.get(name, name)}
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            owners = {owner_of_role.get(role.get("Ref", ""), str(role)) for role in properties.get("Roles", [])}
        for document in _policy_documents(properties):
            for statement in _statements(document):
                if statement.get("Effect") != "Allow":
                    continue
                if "NotAction" in statement or "NotResource" in statement:
                    # Allow + NotAction/NotResource grants everything but a list: never accepted.
                    key = ("NotAction" if "NotAction" in statement else "NotResource", "*")
                    statements.setdefault(key, set()).update(owners)
                    continue
                for action in _listed(statement.get("Action", [])):
                    for resource_value in _listed(statement.get("Resource", "*")):
                        text = _resource_text(resource_value)
                        if _wild_action(action) or _wild_resource(text):
                            statements.setdefault((action, text), set()).update(owners)
        if resource["Type"] == "AWS::IAM::Role":
            for arn in properties.get("ManagedPolicyArns", []):
                policy = arn.split(":policy/", 1)[1] if isinstance(arn, str) and ":policy/" in arn else str(arn)
                managed.setdefault((policy, ""), set()).update(owners)
    return statements, managed, functions


def problems(cfn: dict[str, Any], doc: str) -> list[str]:
    """Everything the template grants that the doc does not accept, and every doc row nothing matches."""
    found_statements, found_managed, functions = wildcards(cfn)
    doc_statements, doc_managed = accepted(doc, functions)
    found: list[str] = []
    for kind, granted, allowed in (("statement", found_statements, doc_statements),
                                   ("managed policy", found_managed, doc_managed)):
        for (action, resource), holders in sorted(granted.items()):
            extra = holders - allowed.get((action, resource), set())
            if extra:
                found.append(f"unjustified {kind} {action} on {resource or '-'} for {sorted(extra)}")
        for (action, resource), holders in sorted(allowed.items()):
            missing = holders - granted.get((action, resource), set())
            if missing:
                found.append(f"stale doc row: {kind} {action} on {resource or '-'} not granted to {sorted(missing)}")
    return found


# --- the tests --------------------------------------------------------------------

@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def doc() -> str:
    return Path(DOC).read_text()


def test_every_wildcard_the_template_grants_is_justified_in_the_docs(sam: dict[str, Any], doc: str) -> None:
    # GIVEN template.yaml as SAM deploys it
    cfn = sam_translate(sam)
    # WHEN every IAM statement and attached managed policy is compared with the doc's tables
    found = problems(cfn, doc)
    # THEN each wildcard is one the doc accepts, for the functions it names, and no row is stale
    assert found == []
    # AND the guard really looked: the roles are there, and so is the one wildcard statement we accept
    statements, managed, functions = wildcards(cfn)
    assert len(functions) >= 6
    assert ("ses:GetAccount", "*") in statements
    assert ("service-role/AWSLambdaBasicExecutionRole", "") in managed


def test_the_guard_fails_on_a_new_wildcard(sam: dict[str, Any], doc: str) -> None:
    # GIVEN a copy of the template where the API function also gets Action "*",
    # s3:* on the public bucket, and AWS's AdministratorAccess policy
    widened = copy.deepcopy(sam)
    api = widened["Resources"]["ApiFunction"]["Properties"]
    api["Policies"] += [
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "s3:*",
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${PublicBucket}/*"}}]},
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ]
    # WHEN the guard checks it
    found = problems(sam_translate(widened), doc)
    # THEN each of the three is reported, naming the function
    assert "unjustified statement * on * for ['ApiFunction']" in found
    assert "unjustified statement s3:* on arn:${AWS::Partition}:s3:::${PublicBucket}/* for ['ApiFunction']" in found
    assert "unjustified managed policy AdministratorAccess on - for ['ApiFunction']" in found
    assert len(found) == 3


def test_a_doc_row_the_template_no_longer_needs_fails(sam: dict[str, Any], doc: str) -> None:
    # GIVEN a copy of the template without the email sender's ses:GetAccount statement
    narrowed = copy.deepcopy(sam)
    policies = narrowed["Resources"]["EmailSenderFunction"]["Properties"]["Policies"]
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            policy["Statement"] = [s for s in policy["Statement"] if s.get("Action") != "ses:GetAccount"]
    # WHEN the guard checks it against the unchanged doc
    found = problems(sam_translate(narrowed), doc)
    # THEN the doc's row for it is reported as stale
    assert found == ["stale doc row: statement ses:GetAccount on * not granted to ['EmailSenderFunction']"]


def grants_of(cfn: dict[str, Any], function: str) -> tuple[set[tuple[str, str]], set[str]]:
    """Every (action, resource) a function's role allows, and its managed policies."""
    resources: dict[str, Any] = cfn["Resources"]
    role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    documents = list(_policy_documents(resources[role]["Properties"]))
    for resource in resources.values():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                {"Ref": role} in resource["Properties"].get("Roles", []):
            documents += list(_policy_documents(resource["Properties"]))
    granted: set[tuple[str, str]] = set()
    for document in documents:
        for statement in _statements(document):
            assert statement["Effect"] == "Allow" and "NotAction" not in statement, statement
            for action in _listed(statement["Action"]):
                for resource_value in _listed(statement.get("Resource", "*")):
                    granted.add((action, _resource_text(resource_value)))
    managed = {arn.split(":policy/", 1)[1] for arn in resources[role]["Properties"].get("ManagedPolicyArns", [])}
    return granted, managed


def test_the_deploy_time_render_reads_the_table_and_writes_the_bucket_and_nothing_else(sam: dict[str, Any]) -> None:
    # GIVEN the function behind the Custom::PublicArtifacts resource, as SAM deploys it
    granted, managed = grants_of(sam_translate(sam), "PublicArtifactsFunction")
    # THEN it may query the table and its two indexes, HEAD/GET and PUT the
    # bucket's objects and list the bucket (so a missing key is a 404): no
    # delete, no scan, no writes to the table, no queue, no other bucket
    table = json.dumps({"Fn::GetAtt": ["StatusTable", "Arn"]}, sort_keys=True)
    bucket = json.dumps({"Fn::GetAtt": ["PublicBucket", "Arn"]}, sort_keys=True)
    assert granted == {
        ("dynamodb:Query", table),
        ("dynamodb:Query", "${StatusTable.Arn}/index/gsi1"),
        ("dynamodb:Query", "${StatusTable.Arn}/index/gsi2"),
        ("s3:GetObject", "${PublicBucket.Arn}/*"),
        ("s3:PutObject", "${PublicBucket.Arn}/*"),
        ("s3:ListBucket", bucket),
    }
    # AND only the managed policies every function has (logs, X-Ray)
    assert managed == {"service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def test_the_maintenance_clock_is_invoked_by_scheduler_alone_and_writes_only_the_table(sam: dict[str, Any]) -> None:
    # GIVEN the maintenance clock as SAM deploys it: its function, and the role Scheduler assumes
    cfn = sam_translate(sam)
    clock = json.dumps({"Fn::GetAtt": ["MaintenanceClockFunction", "Arn"]}, sort_keys=True)
    role = cfn["Resources"]["MaintenanceSchedulerRole"]["Properties"]
    # THEN only Scheduler, for this account's schedule group, may assume the role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "scheduler.amazonaws.com"}, "sts:AssumeRole")
    assert trust["Condition"] == {"StringEquals": {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"},
        "aws:SourceArn": {"Fn::GetAtt": ["MaintenanceScheduleGroup", "Arn"]}}}
    # AND the role may invoke the clock and nothing else
    granted = {(action, _resource_text(resource)) for document in _policy_documents(role)
               for statement in _statements(document)
               for action in _listed(statement["Action"]) for resource in _listed(statement["Resource"])}
    assert granted == {("lambda:InvokeFunction", clock)}
    # AND the clock itself has the table (as the API has) and its failure queue, no scheduler, no other queue
    clock_grants, _ = grants_of(cfn, "MaintenanceClockFunction")
    api_grants, _ = grants_of(cfn, "ApiFunction")
    assert {g for g in clock_grants if g[0].startswith("dynamodb:")} == \
        {g for g in api_grants if g[0].startswith("dynamodb:")}
    queue = json.dumps({"Fn::GetAtt": ["MaintenanceClockFailureQueue", "Arn"]}, sort_keys=True)
    assert {g for g in clock_grants if not g[0].startswith("dynamodb:")} == {("sqs:SendMessage", queue)}


def test_the_api_manages_only_the_maintenance_schedules_of_its_group(sam: dict[str, Any]) -> None:
    # GIVEN the API function as SAM deploys it
    granted, _ = grants_of(sam_translate(sam), "ApiFunction")
    # THEN its scheduler grants are create, update and delete of the maintenance
    # schedules in the stack's group: no Get, no List, no group changes
    schedules = ("arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
                 "schedule/${MaintenanceScheduleGroup}/maintenance-*")
    assert {g for g in granted if g[0].startswith("scheduler:")} == {
        ("scheduler:CreateSchedule", schedules), ("scheduler:UpdateSchedule", schedules),
        ("scheduler:DeleteSchedule", schedules)}
    # AND it may pass the scheduler role, and no other role
    role = json.dumps({"Fn::GetAtt": ["MaintenanceSchedulerRole", "Arn"]}, sort_keys=True)
    assert {g for g in granted if g[0].startswith("iam:")} == {("iam:PassRole", role)}
    api = sam["Resources"]["ApiFunction"]["Properties"]["Policies"]
    (pass_role,) = [s for p in api if isinstance(p, dict) for s in p.get("Statement", [])
                    if s["Action"] == "iam:PassRole"]
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_the_daily_render_is_scheduler_invoking_the_publisher_and_nothing_else(sam: dict[str, Any]) -> None:
    # GIVEN the daily render as SAM deploys it: its schedule, its group and the role Scheduler assumes
    cfn = sam_translate(sam)
    publisher = json.dumps({"Fn::GetAtt": ["PublisherFunction", "Arn"]}, sort_keys=True)
    schedule = cfn["Resources"]["DailyRenderSchedule"]["Properties"]
    # THEN it is five past midnight in the page's zone, every day, in its own group, with the daily input
    assert (schedule["ScheduleExpression"], schedule["ScheduleExpressionTimezone"]) == \
        ("cron(5 0 * * ? *)", {"Ref": "PageTimeZone"})
    assert schedule["GroupName"] == {"Ref": "RenderScheduleGroup"}
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert json.loads(target["Input"]) == {"render": "daily"}
    assert json.dumps(target["Arn"], sort_keys=True) == publisher
    assert target["RoleArn"] == {"Fn::GetAtt": ["DailyRenderSchedulerRole", "Arn"]}
    # AND only Scheduler, for this account's render group, may assume the role
    role = cfn["Resources"]["DailyRenderSchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "scheduler.amazonaws.com"}, "sts:AssumeRole")
    assert trust["Condition"] == {"StringEquals": {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"},
        "aws:SourceArn": {"Fn::GetAtt": ["RenderScheduleGroup", "Arn"]}}}
    # AND the role may invoke the publisher and nothing else
    granted = {(action, _resource_text(resource)) for document in _policy_documents(role)
               for statement in _statements(document)
               for action in _listed(statement["Action"]) for resource in _listed(statement["Resource"])}
    assert granted == {("lambda:InvokeFunction", publisher)}
    # AND the API may not pass it (its PassRole is the maintenance role's alone, tested above) nor touch the group
    api_grants, _ = grants_of(cfn, "ApiFunction")
    assert not [g for g in api_grants if "RenderScheduleGroup" in g[1] or "DailyRenderSchedulerRole" in g[1]]
