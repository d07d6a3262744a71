"""The whole system on one machine: emulator, resources, handlers, pollers, HTTP."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar

from .custom_resources import create_all as create_custom_resources
from .email_local import Outbox, create_secrets, verify_sender
from .emulator import (
    Emulator,
    ResourceFactory,
    apply_environment,
    local_streams,
    restore_environment,
    schedule_activity,
    stream_activity,
)
from .http import FrontDoor, routes_for
from .pollers import DEFAULT_SQS_CONCURRENCY, SqsPoller, StreamPoller
from .runtime import DEFAULT_MAX_CONTAINERS, Runtime, merged_environment
from .scheduler import SchedulerPoller
from .template import SCHEDULE_GROUP_TYPE, CustomResourceSpec, FunctionSpec, PhysicalResource, Template

logger = logging.getLogger("status_fanout_local")

# Parameter values that only make sense locally, used when the template
# declares the parameter and the caller did not pass it: the local HTTP
# server is the public site, and CloudFront does not exist here.
LOCAL_PARAMETER_DEFAULTS = {"PageUrl": "{api_url}", "EnableCloudFront": "false",
                            "SenderAddress": "status@bottlenose.example"}
# docs/contract.md §4: webhook receivers on loopback (over plain HTTP) are allowed in the
# local stack only; link-local, private and metadata addresses stay refused.
LOCAL_ENVIRONMENT = {"WEBHOOK_ALLOW_LOOPBACK": "true", "WEBHOOK_ALLOW_HTTP": "true",
                     # Email links go to the page URL: locally the API and the
                     # pages share one origin (there is no execute-api host).
                     "SUBSCRIPTION_URL": ""}
DEFAULT_OUTBOX = Path(".local") / "outbox"


class LocalStack:
    """Runs template.yaml locally; see docs/contract.md §4.

    Only one stack can run per process at a time: handlers share os.environ
    and moto keeps its state in module globals.
    """

    _running: ClassVar[LocalStack | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        root: Path,
        port: int = 0,
        parameters: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        *,
        template: str = "template.yaml",
        max_containers: int = DEFAULT_MAX_CONTAINERS,
        sqs_concurrency: int = DEFAULT_SQS_CONCURRENCY,
    ) -> None:
        self.root = Path(root).resolve()
        self.port = port
        self.parameters = dict(parameters or {})
        self.env = dict(env or {})
        self.template = Template(self.root, template)
        self.max_containers = max_containers
        self.sqs_concurrency = sqs_concurrency
        self.api_url = ""
        self.moto_url = ""
        self.resources: dict[str, PhysicalResource] = {}
        self.functions: list[FunctionSpec] = []
        self.custom_resources: list[CustomResourceSpec] = []
        # Logical id -> the custom resource's answer to its Create (Data, Reason ...).
        self.created: dict[str, dict[str, Any]] = {}
        self._emulator = Emulator()
        self._front_door: FrontDoor | None = None
        self._runtime: Runtime | None = None
        self._stream_pollers: list[StreamPoller] = []
        self._sqs_pollers: list[SqsPoller] = []
        # One per schedule group of the template: fires its due one-time schedules.
        self._scheduler_pollers: list[SchedulerPoller] = []
        self._saved_env: dict[str, str | None] = {}
        self._started = False
        # docs/contract.md §4: every email sent through the emulated SES lands here as .eml.
        outbox = self.env.get("OUTBOX_DIR") or os.environ.get("OUTBOX_DIR")
        self.outbox_dir = Path(outbox).resolve() if outbox else self.root / DEFAULT_OUTBOX
        self._outbox: Outbox | None = None

    # -- lifecycle

    def start(self) -> LocalStack:
        with LocalStack._lock:
            if LocalStack._running is not None:
                raise RuntimeError("a LocalStack is already running in this process; stop() it first")
            LocalStack._running = self
        self._started = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._emulator.start()
        self.moto_url = self._emulator.url
        apply_environment(self._emulator.environment(), self._saved_env)

        # Bound before the template is resolved: the API URL is a parameter value.
        self._front_door = FrontDoor(self.port, self.invoke, lambda: self._emulator.client("s3"))
        self.api_url = self._front_door.url

        resolver = self.template.resolver(self._parameter_values())
        self.resources = ResourceFactory(self._emulator, self.template, resolver).create_all()
        self.functions = self.template.functions(resolver)
        # What the template declares but the generic factory does not emulate:
        # generated secrets, and the SES identity the operator verifies in AWS.
        create_secrets(self._emulator, self.template)
        verify_sender(self._emulator, resolver.resolve({"Ref": "SenderAddress"})
                      if "SenderAddress" in (self.template.data.get("Parameters") or {}) else "")
        self._outbox = Outbox(self.outbox_dir)
        self._outbox.start()

        # Before any handler import: module-level code reads its configuration.
        handler_env = merged_environment(self.functions)
        handler_env.update(LOCAL_ENVIRONMENT)
        handler_env.update(self.env)
        apply_environment(handler_env, self._saved_env)
        # The shared library is imported once per process, but on Lambda every
        # function reads its settings in its own cold start: forget settings a
        # previous stack in this process cached, so this stack's env applies.
        from status_fanout.settings import get_settings

        get_settings.cache_clear()

        self._runtime = Runtime(self.functions, self.max_containers)
        # As CloudFormation does once the resources exist: the custom resources'
        # functions get their Create (PublicArtifacts renders every public
        # artifact), before anything is served.
        self.custom_resources = self.template.custom_resources(resolver, self.functions)
        self.created = create_custom_resources(self.custom_resources, self._runtime.invoke)
        self._front_door.routes = routes_for(self.functions)
        self._front_door.public_bucket = handler_env.get("PUBLIC_BUCKET")
        for spec in self.functions:
            for stream_event in spec.dynamodb_events:
                self._stream_pollers.append(
                    StreamPoller(self._runtime, spec.logical_id, stream_event, self._stream_clients,
                                 activity=stream_activity)
                )
            for queue_event in spec.sqs_events:
                self._sqs_pollers.append(
                    SqsPoller(self._runtime, spec.logical_id, queue_event, self._emulator.client,
                              self.sqs_concurrency)
                )
        for resource in self.resources.values():
            if resource.type == SCHEDULE_GROUP_TYPE:
                self._scheduler_pollers.append(SchedulerPoller(self._runtime, resource.ref, self._emulator.client,
                                                               activity=schedule_activity))
        for poller in self._pollers():
            poller.start()
        self._front_door.start()
        logger.info("local stack up: API %s, emulator %s, %d functions, %d stream, %d queue and %d schedule "
                    "group pollers", self.api_url, self.moto_url, len(self.functions), len(self._stream_pollers),
                    len(self._sqs_pollers), len(self._scheduler_pollers))

    def _pollers(self) -> list[StreamPoller | SqsPoller | SchedulerPoller]:
        return [*self._stream_pollers, *self._sqs_pollers, *self._scheduler_pollers]

    def _stream_clients(self, service: str) -> Any:
        """A stream poller's clients: its stream read in this process (emulator.LocalStreams)."""
        return local_streams if service == "dynamodbstreams" else self._emulator.client(service)

    def _parameter_values(self) -> dict[str, str]:
        declared = self.template.data.get("Parameters") or {}
        values = {
            name: value.format(api_url=self.api_url)
            for name, value in LOCAL_PARAMETER_DEFAULTS.items()
            if name in declared
        }
        values.update(self.parameters)
        return values

    def stop_pollers(self) -> None:
        """Stop every event source mapping and leave the emulator up.

        For benchmarks that drive one handler's code themselves: moto serves
        requests on the threads the pollers' long polls keep busy, so each
        call costs several times more while they run."""
        pollers = self._pollers()
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(timeout=10)

    def stop(self) -> None:
        """Stop pollers, then HTTP, then the emulator; safe to call twice."""
        if not self._started:
            return
        pollers = self._pollers()
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join(timeout=10)
        self._stream_pollers.clear()
        self._sqs_pollers.clear()
        self._scheduler_pollers.clear()
        if self._outbox is not None:
            self._outbox.stop()
            self._outbox.join(timeout=5)
            self._outbox = None
        if self._front_door is not None:
            self._front_door.stop()
            self._front_door = None
        self._emulator.stop()
        restore_environment(self._saved_env)
        self._saved_env.clear()
        self._started = False
        with LocalStack._lock:
            if LocalStack._running is self:
                LocalStack._running = None
        logger.info("local stack stopped")

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def banner(self) -> str:
        """What the stack serves, the status page first."""
        return (f"status-fanout local stack\n  Status page:          {self.api_url}/\n"
                f"  API:                  {self.api_url}/v1/...\n"
                f"  AWS emulator (moto):  {self.moto_url}\n  Email outbox (.eml):  {self.outbox_dir}\n"
                "Ctrl-C to stop.")

    def run_forever(self, banner: str | None = None) -> int:
        """Serve until SIGINT or SIGTERM, then stop cleanly; the CLI's exit code.
        Prints `banner` (default: `self.banner()`) once serving."""
        stopping = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            logger.info("received %s, stopping", signal.Signals(signum).name)
            stopping.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            if not self._started:
                self.start()
            print(banner or self.banner(), flush=True)
            # A timed wait keeps the main thread responsive to signals.
            while not stopping.wait(0.5):
                pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stop()
        print("stopped.", file=sys.stderr, flush=True)
        return 0

    # -- use

    @property
    def physical(self) -> dict[str, str]:
        """Logical id → physical name (table, bucket, queue name)."""
        return {
            logical_id: resource.attributes.get("QueueName", resource.ref)
            for logical_id, resource in self.resources.items()
        }

    def queue_url(self, logical_id: str) -> str:
        return self.resources[logical_id].attributes["QueueUrl"]

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Invoke a function directly, as `sam local invoke` would; exceptions propagate."""
        if self._runtime is None:
            raise RuntimeError("the stack is not started")
        return self._runtime.invoke(logical_id, event)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Return once every stream is read and handled, every event-source
        queue is empty, every schedule that is due has fired and nothing
        runs; raise TimeoutError otherwise.

        A round counts as idle only if no invocation started or ended during
        it, so that work which causes more work (stream → queue) is followed.
        """
        if self._runtime is None:
            raise RuntimeError("the stack is not started")
        runtime = self._runtime
        sqs = self._emulator.client("sqs")
        deadline = time.monotonic() + timeout
        busy: list[str] = []
        while time.monotonic() < deadline:
            activity, round_start = runtime.activity, time.monotonic()
            while time.monotonic() < deadline:
                # A schedule group counts while a schedule is due and not yet
                # fired, or firing; one due later is not work waiting.
                caught_up: list[StreamPoller | SchedulerPoller] = [*self._stream_pollers, *self._scheduler_pollers]
                busy = [p.description for p in caught_up if p.caught_up_at is None or p.caught_up_at < round_start]
                if runtime.in_flight:
                    busy.append(f"{runtime.in_flight} invocations")
                # The queues are asked (one GetQueueAttributes each) only once
                # nothing else is busy: asking every 20 ms while work runs cost
                # as much CPU as the work.
                if not busy:
                    busy = [f"{p.description} ({n} messages)" for p in self._sqs_pollers
                            if (n := p.backlog(sqs))]
                if not busy:
                    break
                time.sleep(0.02)
            if not busy and runtime.activity == activity:
                return
        raise TimeoutError(f"local stack not idle after {timeout} s: {', '.join(busy) or 'still active'}")
