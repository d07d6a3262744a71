"""template.yaml as data: read with CloudFormation's short-form tags by the
local stack's loader (status_fanout_local.template), and expanded offline by
the SAM translator (aws-sam-translator) into the plain CloudFormation that
`sam deploy` would create: no AWS account, no network."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from status_fanout_local import template as _template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

# Values for the parameters without a default; a region for ARNs and partitions.
PARAMETERS = {"StaffTokenSha256": "0" * 64, "SenderAddress": "status@example.com"}
REGION = "us-east-1"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """`!Ref x` as {"Ref": "x"}, `!Sub s` as {"Fn::Sub": s}, and so on."""
    return _template.load_template(path)


def sam_translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation template SAM makes of `template` (which is left unchanged)."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    sam = copy.deepcopy(template)
    # The translator wants S3 locations, not the local folders `sam build` packages.
    for resource in sam.get("Resources", {}).values():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://bucket/function.zip"
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://bucket/layer.zip"
    translator = Translator(managed_policy_map={}, sam_parser=Parser(),
                            boto_session=boto3.session.Session(region_name=REGION))
    try:
        return dict(translator.translate(sam_template=sam, parameter_values=dict(PARAMETERS)))
    except InvalidDocumentException as error:
        raise AssertionError("SAM cannot translate the template: "
                             + "; ".join(cause.message for cause in error.causes)) from error
