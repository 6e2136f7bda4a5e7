"""Package surfaces that import their modules on first use (``import engine.market`` stays
cheap: no pandas, no scipy until a name that needs them is touched)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]], namespace: dict[str, Any],
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for a package re-exporting ``exports``
    ({module: names}); a name is imported from its module when first read, then cached."""
    where = {name: module for module, names in exports.items() for name in names}
    all_names = sorted(where)

    def getattr_(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(all_names))

    return all_names, getattr_, dir_
