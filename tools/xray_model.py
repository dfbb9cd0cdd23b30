"""botocore's X-Ray service model, as the generators in this folder read it."""
import gzip
import json
import os

import botocore

VERSION = botocore.__version__


def load():
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "xray", "2016-04-12")
    packed = os.path.join(path, "service-2.json.gz")
    if os.path.exists(packed):
        return json.load(gzip.open(packed))
    with open(os.path.join(path, "service-2.json")) as f:
        return json.load(f)


def reachable(shapes, roots):
    """Every shape reachable from `roots`, each once, in the order first met (depth first)."""
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        order.append(name)
        s = shapes[name]
        if s["type"] == "structure":
            for m in s.get("members", {}).values():
                visit(m["shape"])
        elif s["type"] == "list":
            visit(s["member"]["shape"])
        elif s["type"] == "map":
            visit(s["key"]["shape"])
            visit(s["value"]["shape"])

    for r in roots:
        visit(r)
    return order
