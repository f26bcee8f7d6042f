"""A Rasa project's custom actions: on its action server (``endpoints.yml``) or in this process.

Both answer with Rasa's webhook body as it came (``responses`` and ``events`` untouched), since a
response may name a domain response (``dispatcher.utter_message(response="utter_x")``) that only
the project can render. In-process, the project's ``actions`` package (or ``actions.py``) is
imported under a name of its own, so it never clashes with Shopbot's own ``actions`` package.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import aiohttp

from actions.runner import action_call, post_action_call
from core.errors import ActionRejected, BadRequest, ShopbotError


@dataclass(frozen=True)
class ActionResult:
    """What one custom action said (``responses``) and did (``events``), as Rasa's webhook sends it."""

    responses: tuple[dict[str, Any], ...]
    events: tuple[dict[str, Any], ...]

    @classmethod
    def from_body(cls, body: object, name: str) -> ActionResult:
        """Parse ``{"events": [...], "responses": [...]}``; anything else → ``ActionRejected``."""
        if not isinstance(body, dict):
            raise ActionRejected(f"action {name!r} answered without a JSON object")
        events, responses = body.get("events") or [], body.get("responses") or []
        if not isinstance(events, list) or not isinstance(responses, list):
            raise ActionRejected(f"action {name!r} answered malformed events or responses")
        return cls(tuple(dict(r) for r in responses if isinstance(r, dict)),
                   tuple(dict(e) for e in events if isinstance(e, dict)))


class ProjectActions(Protocol):
    """Runs the project's custom actions."""

    def warm_up(self) -> None: ...

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult: ...

    async def close(self) -> None: ...


class HttpProjectActions:
    """The project's action server (``action_endpoint.url`` of its ``endpoints.yml``)."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def warm_up(self) -> None:
        """Nothing to load: the action server runs the actions."""

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        """POST the webhook call; errors, timeouts and refusals → ``ActionRejected``."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = await post_action_call(self._session, self.url, name, tracker, domain, self.timeout_s)
        return ActionResult.from_body(body, name)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class InProcessProjectActions:
    """The project's rasa-sdk actions imported and run through rasa-sdk's ``ActionExecutor``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._executor: Any = None

    def warm_up(self) -> None:
        """Import the project's actions and register every ``Action`` they define; idempotent."""
        if self._executor is not None:
            return
        from rasa_sdk import Action
        from rasa_sdk.executor import ActionExecutor

        prefix = _import_project_actions(self.path)
        executor = ActionExecutor()
        for cls in _subclasses(Action):
            if cls.__module__.startswith(prefix) and not inspect.isabstract(cls):
                executor.register_action(cls)
        self._executor = executor

    async def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        """Run ``name``; a missing action or one that fails → ``ActionRejected``."""
        self.warm_up()
        try:
            result = await self._executor.run(action_call(name, tracker, domain))
        except ShopbotError:
            raise
        except Exception as err:  # noqa: BLE001 - the project's code may raise anything
            raise ActionRejected(f"action {name!r} failed: {type(err).__name__}: {err}") from err
        if result is None:
            raise ActionRejected("no action name given")
        return ActionResult.from_body(result.model_dump(), name)

    async def close(self) -> None:
        """Nothing to release."""


def project_actions(endpoint: str, path: Path | None, timeout_s: float) -> ProjectActions | None:
    """The action server when the project names one, else its own actions in-process, else None."""
    if endpoint:
        return HttpProjectActions(endpoint, timeout_s)
    return InProcessProjectActions(path) if path is not None else None


def _import_project_actions(path: Path) -> str:
    """Import ``path`` (a package folder or a module file) and its submodules; returns the prefix."""
    name = "shopbot_rasa_actions_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name in sys.modules:
        return name
    is_package = path.is_dir()
    spec = importlib.util.spec_from_file_location(
        name, path / "__init__.py" if is_package else path,
        submodule_search_locations=[str(path)] if is_package else None,
    )
    if spec is None or spec.loader is None:
        raise BadRequest(f"cannot import the project's actions from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        if is_package:
            _import_submodules(module)
    except Exception as err:  # noqa: BLE001 - a broken project must say so, not crash with a trace
        sys.modules.pop(name, None)
        raise BadRequest(f"cannot import the project's actions from {path}: "
                         f"{type(err).__name__}: {err}") from err
    return name


def _import_submodules(package: ModuleType) -> None:
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    sub: type
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


__all__ = ["ActionResult", "ProjectActions", "HttpProjectActions", "InProcessProjectActions",
           "project_actions"]
