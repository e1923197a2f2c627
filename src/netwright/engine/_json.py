"""How changes read to a program: plain JSON, for `--json`, the Ansible modules and the agent.

Why it exists: the same changes as `_text`'s lines, as values a program reads back:
each object's fields (a file's content as its placeholders, never a secret; what a
summary stands for as its counts, and, when asked, its objects by key).
"""

from __future__ import annotations

from typing import Any

from netwright.engine import _text
from netwright.kernel import host
from netwright.kernel.records import EntrySet, NexthopSet, RouteSet
from netwright.model.state import File, Link, NftTable


def _json_value(obj: Any) -> Any:
    if obj is None:
        return None
    if isinstance(obj, RouteSet):
        return {"nexthops": len(obj.nexthops), "routes": len(obj.keys)}
    if isinstance(obj, EntrySet):
        return {"dev": obj.dev, "entries": len(obj.entries)}
    if isinstance(obj, NexthopSet):
        return {"nexthops": len(obj.ids)}
    if isinstance(obj, File):
        return {
            "path": obj.path,
            "content": obj.content,
            "mode": f"{obj.mode:04o}",
            "owner": obj.owner,
            "group": obj.group,
        }
    if isinstance(obj, host.FileRecord):
        return {
            "path": obj.path,
            "content": obj.text,
            "mode": f"{obj.mode:04o}",
            "owner": obj.owner,
            "group": obj.group,
        }
    if isinstance(obj, NftTable | host.NftRecord):
        return {"family": obj.family, "name": obj.name, "text": obj.text}
    if isinstance(obj, Link):
        vx = obj.vxlan
        return {
            "name": obj.name,
            "kind": obj.kind,
            "mtu": obj.mtu,
            "mac": obj.mac,
            "up": obj.up,
            "vxlan": None
            if vx is None
            else {
                "vni": vx.vni,
                "port": vx.port,
                "local": str(vx.local),
                "dev": vx.dev,
                "learning": vx.learning,
            },
        }
    if hasattr(obj, "__dataclass_fields__"):
        out = {}
        for name in obj.__dataclass_fields__:
            if name == "secrets":
                continue
            value = getattr(obj, name)
            out[name] = (
                value if isinstance(value, bool | int | str) or value is None else str(value)
            )
        return out
    return str(obj)


def change_json(c: _text.ChangeView, *, objects: bool = False) -> dict[str, Any]:
    """The change as plain JSON; with `objects`, a summary lists its objects by key
    under "objects" (null when only counted), as `_text.summary_objects` gives them."""
    out: dict[str, Any] = {
        "op": str(c.op),
        "kind": c.kind,
        "key": _text.key_text(c.kind, c.key),
        "text": _text.change_line(c),
        "before": _json_value(c.before),
        "after": _json_value(c.after),
    }
    if c.fields:
        out["fields"] = list(c.fields)
    if c.nhid:
        out["nhid"] = c.nhid
    if c.implied:
        out["implied"] = True
    if c.summary:
        out["count"] = c.count
        if objects and _text.folds(c):
            out["objects"] = _text.summary_objects(c)
    return out
