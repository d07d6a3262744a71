"""Runs the real handlers in-process the way Lambda does.

Each function has a pool of "containers": separate imports of its handler
module, so module-level state (clients, caches, cold-start work) is per
container as in Lambda, and each container runs one invocation at a time.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .template import FunctionSpec

logger = logging.getLogger("status_fanout_local.runtime")

DEFAULT_MAX_CONTAINERS = 4


class RuntimeConfigError(Exception):
    """The functions cannot share one process as configured."""


def merged_environment(functions: Iterable[FunctionSpec]) -> dict[str, str]:
    """Union of every function's variables.

    All handlers share one process and therefore one os.environ, so two
    functions disagreeing on a variable cannot both be served faithfully.
    """
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for spec in functions:
        for key, value in spec.environment.items():
            if key in merged and merged[key] != value:
                raise RuntimeConfigError(
                    f"environment variable {key} is {merged[key]!r} in {owner[key]} but {value!r} in "
                    f"{spec.logical_id}; the local stack runs every function in one process and "
                    "needs them to agree"
                )
            merged[key] = value
            owner.setdefault(key, spec.logical_id)
    return merged


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float = field(repr=False)
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))




@dataclass
class _Container:
    handler: Callable[[Any, Any], Any]
    log_stream_name: str


class FunctionPool:
    """Containers of one function, created lazily up to `max_containers`."""

    def __init__(self, spec: FunctionSpec, max_containers: int) -> None:
        self.spec = spec
        self.max_containers = max(1, max_containers)
        self._idle: list[_Container] = []
        self._created = 0
        self._available = threading.Condition()

    def acquire(self) -> _Container:
        with self._available:
            while not self._idle and self._created >= self.max_containers:
                self._available.wait()
            if self._idle:
                return self._idle.pop()
            self._created += 1
        try:
            return self._cold_start()
        except BaseException:
            with self._available:
                self._created -= 1
                self._available.notify()
            raise

    def release(self, container: _Container) -> None:
        with self._available:
            self._idle.append(container)
            self._available.notify()

    def _cold_start(self) -> _Container:
        path = self.spec.handler_file
        if not path.is_file():
            raise RuntimeConfigError(f"{self.spec.logical_id}: handler file {path} does not exist")
        # Each import of the file is a new module object with its own globals,
        # i.e. a new container. It is never put in sys.modules, so every
        # container keeps the module name Lambda gives it ("app" for
        # app.lambda_handler): libraries that key state on a function's
        # __module__ (Powertools Idempotency does) see the same name in every
        # container, as on AWS.
        name = self.spec.handler_module
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise RuntimeConfigError(f"cannot import {path}")
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        started = time.monotonic()
        module_spec.loader.exec_module(module)
        handler = getattr(module, self.spec.handler_name, None)
        if not callable(handler):
            raise RuntimeConfigError(f"{path} has no callable {self.spec.handler_name}")
        logger.debug("cold start of %s (%s) in %.0f ms", self.spec.logical_id, name,
                     (time.monotonic() - started) * 1000)
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        return _Container(handler=handler, log_stream_name=stream)


def containers_for(spec: FunctionSpec, max_containers: int) -> int:
    """How many containers of a function may run at once in this one process.

    A function behind the API runs one invocation at a time: Powertools' REST
    resolver keeps the current event on its class (`BaseRouter.current_event`),
    i.e. once per process, which is right on Lambda (one event per process) and
    wrong for containers that are threads of one process. Run side by side,
    one request's route read another's body (the ingest bench saw an update
    parsed with a concurrent incident's create body)."""
    if spec.api_events:
        return 1
    if spec.reserved_concurrency:
        return min(max_containers, spec.reserved_concurrency)
    return max_containers


class Runtime:
    """Invokes functions by logical id; tracks in-flight work for wait_idle."""

    def __init__(self, functions: Iterable[FunctionSpec], max_containers: int = DEFAULT_MAX_CONTAINERS) -> None:
        self.functions: dict[str, FunctionSpec] = {spec.logical_id: spec for spec in functions}
        self._pools = {logical_id: FunctionPool(spec, containers_for(spec, max_containers))
                       for logical_id, spec in self.functions.items()}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._activity = 0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def activity(self) -> int:
        """Grows when an invocation starts or ends; lets wait_idle notice work that came and went."""
        with self._lock:
            return self._activity

    def capacity(self, logical_id: str) -> int:
        """How many invocations of a function can run at once (its containers)."""
        return self._pools[logical_id].max_containers

    def function_arn(self, logical_id: str) -> str:
        return self.functions[logical_id].arn

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run one invocation; the handler's exception propagates unchanged."""
        if logical_id not in self.functions:
            raise KeyError(f"no function {logical_id!r}; known: {sorted(self.functions)}")
        spec = self.functions[logical_id]
        pool = self._pools[logical_id]
        # Lambda hands the handler freshly decoded JSON, never the caller's objects.
        payload = json.loads(json.dumps(event))
        with self._lock:
            self._in_flight += 1
            self._activity += 1
        try:
            container = pool.acquire()
            try:
                context = LambdaContext(
                    function_name=spec.function_name,
                    memory_limit_in_mb=spec.memory_size,
                    invoked_function_arn=self.function_arn(logical_id),
                    aws_request_id=str(uuid.uuid4()),
                    log_group_name=f"/aws/lambda/{spec.function_name}",
                    log_stream_name=container.log_stream_name,
                    deadline=time.monotonic() + spec.timeout,
                )
                started = time.monotonic()
                result = container.handler(payload, context)
                elapsed = time.monotonic() - started
                if elapsed > spec.timeout:
                    # A thread cannot be killed; say loudly that Lambda would have.
                    logger.warning("%s ran %.1f s, over its %d s Timeout; Lambda would have killed it",
                                   logical_id, elapsed, spec.timeout)
            finally:
                pool.release(container)
            try:
                return json.loads(json.dumps(result))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{logical_id} returned a value Lambda cannot serialise: {exc}") from exc
        finally:
            with self._lock:
                self._in_flight -= 1
                self._activity += 1

