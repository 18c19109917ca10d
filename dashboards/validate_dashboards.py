#!/usr/bin/env python3
"""Validates the switchyard Grafana dashboards against Grafana's dashboard schema.

Grafana cannot run here, so the check is Grafana's own schema as the Grafana Foundation SDK
(PyPI `grafana-foundation-sdk`, pinned in requirements.txt) generates it from Grafana's kinds:

1. every dashboard loads into the SDK's `Dashboard` model with the panel and query plugins
   registered, and writing it back loses nothing: a field the schema does not know is dropped
   on load, so it shows up as a difference;
2. every value has the type the schema gives it (strings, numbers, enums, nested objects);
3. the dashboards are usable as a set: unique uids, every panel a known panel plugin with
   Prometheus queries on the `datasource` variable, every `$variable` defined, panels inside
   Grafana's 24-column grid.

Usage: validate_dashboards.py DASHBOARD.json...  Prints one line per problem, exits 1 if any.
"""

import enum
import json
import re
import sys
import types
import typing

from grafana_foundation_sdk.cog import runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel

# Variables Grafana defines itself.
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all", "__name"}


def lost_fields(original, written, path="$"):
    """What the round trip through the schema model dropped or changed."""
    if isinstance(original, dict):
        if not isinstance(written, dict):
            yield f"{path}: not an object in the schema"
            return
        for key, value in original.items():
            if key not in written:
                yield f"{path}.{key}: not in Grafana's dashboard schema"
            else:
                yield from lost_fields(value, written[key], f"{path}.{key}")
    elif isinstance(original, list):
        if not isinstance(written, list) or len(original) != len(written):
            yield f"{path}: the list does not survive the schema"
            return
        for i, (a, b) in enumerate(zip(original, written)):
            yield from lost_fields(a, b, f"{path}[{i}]")
    elif original != written:
        yield f"{path}: {original!r} reads back as {written!r}"


def type_errors(value, hint, path):
    """Checks `value` against the schema type `hint` of the SDK's generated models."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is typing.Any or value is None and (origin in (typing.Union, types.UnionType)):
        return
    if hint is object:
        # Plugin-defined parts (panel options, field config, queries): decoded by the plugin's
        # own model when one is registered, so check that model.
        if hasattr(type(value), "from_json"):
            yield from model_errors(value, path)
        return
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        # A decoded model picks its own branch; plain values must fit one branch.
        chosen = [a for a in options if isinstance(a, type) and hasattr(a, "from_json") and isinstance(value, a)]
        if len(options) == 1 or chosen:
            chosen = chosen or options
            yield from type_errors(value, chosen[0], path)
            return
        errors = [list(type_errors(value, a, path)) for a in options]
        if all(errors):
            yield f"{path}: {value!r} fits none of {[getattr(a, '__name__', str(a)) for a in options]}"
        return
    if origin is typing.Literal:
        if value not in args:
            yield f"{path}: {value!r} is not one of {list(args)}"
        return
    if origin is list:
        if not isinstance(value, list):
            yield f"{path}: expected a list, got {value!r}"
            return
        for i, item in enumerate(value):
            yield from type_errors(item, args[0] if args else typing.Any, f"{path}[{i}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            yield f"{path}: expected an object, got {value!r}"
        return
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            hint(value.value if isinstance(value, enum.Enum) else value)
        except ValueError:
            yield f"{path}: {value!r} is not one of {[m.value for m in hint]}"
        return
    if hint is bool:
        if not isinstance(value, bool):
            yield f"{path}: expected a boolean, got {value!r}"
        return
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            yield f"{path}: expected a number, got {value!r}"
        return
    if hint in (int, str):
        if not isinstance(value, hint) or isinstance(value, bool):
            yield f"{path}: expected {hint.__name__}, got {value!r}"
        return
    if isinstance(hint, type) and hasattr(hint, "from_json"):
        if not isinstance(value, hint) and not isinstance(value, runtime.UnknownDataquery):
            yield f"{path}: expected {hint.__name__}, got {type(value).__name__}"
            return
        yield from model_errors(value, path)


def model_errors(model, path):
    """Checks every attribute of a schema model object against its type hints."""
    try:
        hints = typing.get_type_hints(type(model))
    except Exception:  # a hint the SDK itself cannot resolve: nothing to check against
        return
    for name, hint in hints.items():
        if hasattr(model, name):
            yield from type_errors(getattr(model, name), hint, f"{path}.{name}")


def uid_of(ref):
    """The uid of a datasource reference (a model object, or a plain object in queries)."""
    return ref.get("uid") if isinstance(ref, dict) else getattr(ref, "uid", None)


def usage_errors(name, data, dashboard):
    """The checks a schema cannot express: what makes the dashboards work in Grafana."""
    variables = {v.get("name") for v in data.get("templating", {}).get("list", [])}
    datasource = [
        v for v in data.get("templating", {}).get("list", []) if v.get("type") == "datasource"
    ]
    if not datasource or datasource[0].get("name") != "datasource" or datasource[0].get("query") != "prometheus":
        yield f"{name}: no Prometheus datasource variable named `datasource`"
    for ref in re.findall(r"\$\{?(\w+)", json.dumps(data)):
        if ref not in variables and ref not in BUILTIN_VARIABLES:
            yield f"{name}: ${ref} is used but not defined"
    ids = set()
    for i, panel in enumerate(dashboard.panels or []):
        where = f"{name}: panel {i} ({getattr(panel, 'title', '')!r})"
        if isinstance(panel, RowPanel):
            continue
        if panel.id_val in ids:
            yield f"{where}: duplicate id {panel.id_val}"
        ids.add(panel.id_val)
        if runtime.panelcfg_config(panel.type_val) is None:
            yield f"{where}: {panel.type_val!r} is not a known panel plugin"
        grid = panel.grid_pos
        sizes = (grid.x, grid.w, grid.h) if grid is not None else ()
        if not all(isinstance(v, int) for v in sizes):
            pass  # reported as a type error
        elif grid is None or grid.x + grid.w > 24 or grid.w < 1 or grid.h < 1:
            yield f"{where}: outside Grafana's 24-column grid"
        if not panel.description:
            yield f"{where}: no description"
        if uid_of(panel.datasource) != "${datasource}":
            yield f"{where}: not on the `datasource` variable"
        if not panel.targets:
            yield f"{where}: no queries"
        for target in panel.targets or []:
            if not isinstance(target, prometheus.Dataquery) or not target.expr:
                yield f"{where}: a query that is not a Prometheus query with an expression"
            elif uid_of(target.datasource) != "${datasource}":
                yield f"{where}: query {target.ref_id} not on the `datasource` variable"


def main(paths):
    register_default_plugins()
    problems, uids, panels = [], {}, 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        dashboard = Dashboard.from_json(data)
        written = json.loads(json.dumps(dashboard, cls=JSONEncoder))
        problems += [f"{path}: {p}" for p in lost_fields(data, written)]
        problems += [f"{path}: {p}" for p in model_errors(dashboard, "$")]
        problems += list(usage_errors(path, data, dashboard))
        if not dashboard.uid or not dashboard.title:
            problems.append(f"{path}: no uid or title")
        elif dashboard.uid in uids:
            problems.append(f"{path}: uid {dashboard.uid} also in {uids[dashboard.uid]}")
        uids[dashboard.uid] = path
        panels += len(dashboard.panels or [])
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{len(paths)} dashboards, {panels} panels: valid against Grafana's dashboard schema")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
