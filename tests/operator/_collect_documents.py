"""A pytest plugin that records every document the validate suites check against a CRD.

Loaded into a child pytest run (`-p _collect_documents`) of the unit suites that hold
the validate cases; each call of `CrdSchemas.validate` on a netwright document of the
real CRDs is appended, with the id of the test that made it, to the JSON-lines file
named by `NETWRIGHT_COLLECT_DOCUMENTS`. Documents JSON cannot carry (a YAML timestamp,
binary) are counted as skipped: the API server could not be sent them either.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from netwright.validate import _schema

if TYPE_CHECKING:
    import pytest

_KINDS = frozenset({"Backend", "IPPool", "Network", "BGPPeer", "IPBlock", "NodeNetworkConfig"})
_current = {"test": ""}


def pytest_configure(config: pytest.Config) -> None:
    out_path = os.environ["NETWRIGHT_COLLECT_DOCUMENTS"]
    original = _schema.CrdSchemas.validate

    def recording(self: _schema.CrdSchemas, kind: str, document: Any) -> Any:
        if set(self.kinds()) >= _KINDS and kind in _KINDS and isinstance(document, dict):
            try:
                line = json.dumps({"test": _current["test"], "kind": kind, "document": document})
            except (TypeError, ValueError):
                line = json.dumps({"test": _current["test"], "kind": kind, "skipped": True})
            with open(out_path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
        return original(self, kind, document)

    _schema.CrdSchemas.validate = recording  # type: ignore[method-assign]
    config.add_cleanup(lambda: setattr(_schema.CrdSchemas, "validate", original))


def pytest_runtest_setup(item: pytest.Item) -> None:
    _current["test"] = item.nodeid
