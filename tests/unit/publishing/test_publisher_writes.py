"""How the publisher writes an artifact: a HEAD first, and a PUT only when
the bytes differ, except for the artifacts a status move is bound to change."""

from __future__ import annotations

import hashlib
from typing import Any

from botocore.exceptions import ClientError

from status_fanout.publishing.publisher import Publisher, RenderPlan
from status_fanout.settings import PageSettings, Settings

SETTINGS = Settings(table_name="t", public_bucket="b", page=PageSettings(name="P"))


class Bucket:
    """head_object / put_object over a dict, recording each call."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, str]] = []

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self.calls.append(("HEAD", Key))
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")
        return {"ETag": '"' + hashlib.md5(self.objects[Key], usedforsecurity=False).hexdigest() + '"'}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self.calls.append(("PUT", Key))
        self.objects[Key] = Body
        return {}


def component_record(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    change: dict[str, Any] = {"Keys": {"pk": {"S": "COMP"}, "sk": {"S": "COMP#smtp"}}}
    if old is not None:
        change["OldImage"] = {k: {"S": v} for k, v in old.items()}
    if new is not None:
        change["NewImage"] = {k: {"S": v} for k, v in new.items()}
    return {"dynamodb": change}


def test_only_a_status_seen_moving_marks_the_artifacts_showing_it() -> None:
    # GIVEN stream records of one component: a status move, a rename, a creation, a rewrite
    moved = RenderPlan.from_stream_records([component_record({"name": "SMTP", "status": "operational"},
                                                              {"name": "SMTP", "status": "major_outage"})])
    renamed = RenderPlan.from_stream_records([component_record({"name": "SMTP", "status": "operational"},
                                                                {"name": "Mail", "status": "operational"})])
    # (moto and AWS may write an upsert as an INSERT with no old image: the status may not have moved)
    created = RenderPlan.from_stream_records([component_record(None, {"name": "SMTP", "status": "major_outage"})])
    # THEN only the move names the artifacts bound to differ: the page, the documents listing
    # component statuses or carrying the page's updated_at, and that component's badges (not the
    # page's badges: the page's indicator may well stay where it was)
    assert moved.moved_keys() == {"index.html", "api/v2/summary.json", "api/v2/components.json",
                                  "api/v2/status.json", "uptime.json",
                                  "components/smtp/badge.svg", "components/smtp/badge.json"}
    assert renamed.moved_keys() == set() and created.moved_keys() == set()
    assert RenderPlan.everything_in([], ["smtp"]).moved_keys() == set()


def test_a_moved_key_is_put_without_a_head_and_the_rest_are_asked_first() -> None:
    # GIVEN a bucket holding a page and a badge already
    bucket = Bucket()
    bucket.objects.update({"index.html": b"<old page>", "badge.svg": b"<svg/>"})
    publisher = Publisher(None, SETTINGS, bucket)  # type: ignore[arg-type]
    # WHEN the page is written as moved, and the same badge and a new document as not
    assert publisher.write("index.html", b"<new page>", "text/html", moved=True)
    assert not publisher.write("badge.svg", b"<svg/>", "image/svg+xml")
    assert publisher.write("api/v2/status.json", b"{}", "application/json")
    # THEN the page is put at once; the unchanged badge is asked about and left alone
    assert bucket.calls == [("PUT", "index.html"), ("HEAD", "badge.svg"),
                            ("HEAD", "api/v2/status.json"), ("PUT", "api/v2/status.json")]
    assert bucket.objects["index.html"] == b"<new page>"
