"""A LINE bot that explains webhook, LINE app and Messaging API errors."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

# line-bot-sdk's packages whose __init__ only re-exports (`from .x import Y`) far more than the bot uses:
# linebot's the legacy v2 API (LineBotApi, its models, requests); linebot.v3.messaging's and its api's
# both the sync and the asyncio clients (AsyncMessagingApi, aiohttp); linebot.v3.webhooks's and its
# api's a client for a dummy API and its asyncio twin; linebot.v3.webhooks.models's all ~100 webhook
# models, where bot.events imports the events it handles by name and Event.from_dict looks the others
# up by name on the package when one arrives (~2 ms the first time in a process). The message models
# (linebot.v3.messaging.models) stay whole: every reply uses ~17 of them, which the workers then share.
LAZY_SDK_PACKAGES = (
    "linebot",
    "linebot.v3",
    "linebot.v3.messaging",
    "linebot.v3.messaging.api",
    "linebot.v3.webhooks",
    "linebot.v3.webhooks.api",
    "linebot.v3.webhooks.models",
)


def _lazy_package(name: str) -> None:
    """Register a package without running its __init__; each name it re-exports imports on first use.

    `from linebot.v3.messaging import MessagingApi` then imports linebot.v3.messaging.api.messaging_api
    and what that needs, not the asyncio client and aiohttp the __init__ would also import. With the
    deferred argument models below: `import wsgi` 2.9 -> 1.3 s (-X importtime), gunicorn's master
    99 -> 75 MB RSS. A name the __init__ defines otherwise (none in 3.27) runs the whole __init__
    first, so every import of the SDK's documented names works as before."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    init = spec.origin
    lock = threading.RLock()
    ran_init = False

    def __getattr__(attr: str) -> Any:  # PEP 562: called for names not (yet) in the module
        nonlocal ran_init
        exports = _reexports(init, name)
        with lock:
            if attr in exports:
                source, original = exports[attr]
                value = getattr(importlib.import_module(source), original)
            elif importlib.util.find_spec(f"{name}.{attr}") is not None:  # `from package import submodule`
                value = importlib.import_module(f"{name}.{attr}")
            elif not ran_init and (attr == "__all__" or not attr.startswith("__")):
                ran_init = True
                spec.loader.exec_module(module)  # type: ignore[union-attr] - checked above
                return getattr(module, attr)
            else:
                raise AttributeError(f"module {name!r} has no attribute {attr!r}")
            setattr(module, attr, value)
            return value

    def __dir__() -> list[str]:  # PEP 562: what dir() lists, the names not imported yet too
        return sorted(set(module.__dict__) | set(_reexports(init, name)))

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    module.__dir__ = __dir__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:
        setattr(sys.modules[parent], child, module)


@functools.cache
def _reexports(path: str, package: str) -> dict[str, tuple[str, str]]:
    """A package __init__'s top-level `from M import N as A` statements: {A: (absolute M, N)}."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = (source, alias.name)
    return found


# The SDK's API classes, whose every method (140 in MessagingApi: each call and its _with_http_info twin)
# pydantic's validate_arguments wraps by building a model of its arguments, as the class is defined.
DEFERRED_VALIDATION = ("linebot.v3.messaging.api.messaging_api", "linebot.v3.messaging.api.messaging_api_blob")


def _deferred(validate_arguments: Callable[..., Any]) -> Callable[..., Any]:
    """pydantic.v1's validate_arguments, building a method's argument model on its first call instead."""

    def decorator(func: Callable[..., Any] | None = None, *, config: Any = None) -> Any:
        def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
            validated: list[Callable[..., Any]] = []  # the real wrapper, once built

            @functools.wraps(function)
            def call(*args: Any, **kwargs: Any) -> Any:
                if not validated:  # two threads may both build it: the same model, one kept
                    validated.append(validate_arguments(function, config=config))
                return validated[0](*args, **kwargs)

            return call

        return wrap(func) if func is not None else wrap

    return decorator


class _DeferValidationLoader(importlib.abc.Loader):
    """Runs an SDK API module with pydantic.v1.validate_arguments deferred (see _DeferValidationFinder)."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, …: the file's own loader answers
        return getattr(self._loader, name)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import pydantic.v1

        original = pydantic.v1.validate_arguments
        pydantic.v1.validate_arguments = _deferred(original)  # read by the module's `from pydantic.v1 import`
        try:
            self._loader.exec_module(module)
        finally:
            pydantic.v1.validate_arguments = original


class _DeferValidationFinder(importlib.abc.MetaPathFinder):
    """Finds the modules in DEFERRED_VALIDATION as usual, to run them with _DeferValidationLoader.

    Building the 140 argument models at import took 0.4-0.6 s of the master's start (more than the
    SDK's ~250 message models); the bot calls 3-5 of the methods, each then pays ~5 ms on its first
    call. The same validation runs on every call as before."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in DEFERRED_VALIDATION:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _DeferValidationLoader(spec.loader)
        return spec


for _name in LAZY_SDK_PACKAGES:
    _lazy_package(_name)
if not any(isinstance(finder, _DeferValidationFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _DeferValidationFinder())
