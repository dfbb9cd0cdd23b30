"""The console at /ui in Debian's headless Chromium, driven by playwright-core from npm
(tests/node/console_check.cjs): traces seeded through boto3, then the list, the filter (matching,
matching nothing, invalid), the trace view and its tabs, a 2,000-segment trace, the map and the
deep links; no request may leave the gateway and no page error may be raised. Screenshots go
to target/ui-screenshots."""

import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import new_id, new_trace_id, put, segment

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_DIR = pathlib.Path(os.environ.get("XRAY_NODE_TESTS", ROOT / "target" / "node-tests"))
SCRIPT = ROOT / "tests" / "node" / "console_check.cjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def seed(xray):
    s = time.time() - 30
    fault_id, call, ddb, q = new_trace_id(s), new_id(), new_id(), new_id()
    checkout = segment(fault_id, name="checkout", start=s, end=s + 1.0, fault=True, annotations={"tier": "gold"},
                       http={"request": {"method": "POST", "url": "https://shop.example/checkout", "client_ip": "10.1.2.3"},
                             "response": {"status": 502}},
                       subsegments=[
                           {"id": call, "name": "payments", "namespace": "remote", "start_time": s + 0.1, "end_time": s + 0.4,
                            "fault": True, "cause": {"exceptions": [{"id": new_id(), "type": "PaymentError", "message": "card declined"}]}},
                           {"id": ddb, "name": "DynamoDB", "namespace": "aws", "start_time": s + 0.5, "end_time": s + 0.6,
                            "aws": {"operation": "GetItem", "table_name": "orders"}},
                           {"id": q, "name": "query", "start_time": s + 0.7, "end_time": s + 0.8,
                            "sql": {"sanitized_query": "SELECT * FROM carts WHERE id = ?", "database_type": "PostgreSQL"}},
                       ])
    callee = segment(fault_id, name="payments", start=s + 0.15, end=s + 0.35, parent_id=call, fault=True)
    assert put(xray, checkout, callee) == []
    ok = []
    for i in range(2):
        t = new_trace_id(s + 1 + i)
        c = new_id()
        doc = segment(t, name="checkout", start=s + 1 + i, end=s + 1.2 + i, annotations={"tier": "gold" if i == 0 else "silver"},
                      http={"request": {"method": "GET", "url": f"https://shop.example/items/{i}"}, "response": {"status": 200}},
                      subsegments=[{"id": c, "name": "payments", "namespace": "remote", "start_time": s + 1.05 + i, "end_time": s + 1.1 + i}])
        assert put(xray, doc, segment(t, name="payments", start=s + 1.06 + i, end=s + 1.09 + i, parent_id=c)) == []
        ok.append(t)
    large = new_trace_id(s + 5)
    docs = []
    for d in range(40):
        start = s + 5 + d * 0.01
        subs = [{"id": new_id(), "name": f"step-{d}-{k}", "start_time": start + k * 1e-4, "end_time": start + k * 1e-4 + 5e-5}
                for k in range(50)]
        docs.append(segment(large, name="bulk", start=start, end=start + 0.01, subsegments=subs))
    for i in range(0, 40, 10):
        assert put(xray, *docs[i:i + 10]) == []
    return {
        "all": [fault_id, *ok, large],
        "match": {"filter": 'annotation.tier = "gold"', "ids": [fault_id, ok[0]]},
        "fault": {"id": fault_id, "rows": ["checkout", "payments", "payments", "DynamoDB", "orders", "query"],
                  "firstProblem": "payments", "exception": "card declined", "root": "checkout", "status": 502,
                  "annotation": "gold", "sql": "query"},
        "large": {"id": large, "rows": 40 + 40 * 50},
        "map": {"nodes": ["client", "checkout", "payments", "orders", "bulk"], "edges": 3, "service": "checkout",
                "serviceTraces": 3, "edge": "checkout->payments"},
    }


def test_console_pages_are_served_from_the_binary_with_a_strict_policy(gateway):
    with urllib.request.urlopen(gateway.url + "/ui/traces/1-00000000-000000000000000000000000", timeout=5) as r:
        page = r.read().decode()
        assert r.headers["Content-Type"].startswith("text/html")
        policy = r.headers["Content-Security-Policy"]
    assert "connect-src 'self'" in policy and "default-src 'none'" in policy
    assert "/ui-assets/app.js" in page and "http" not in page.replace("http-equiv", ""), "no outside URL in the page"
    for asset in ("app.js", "app.css"):
        with urllib.request.urlopen(f"{gateway.url}/ui-assets/{asset}", timeout=5) as r:
            assert r.status == 200


def test_console_in_headless_chromium(fresh_gateway, tmp_path):
    if not pathlib.Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}; scripts/test installs Debian's chromium package when run as root")
    assert (NODE_DIR / "node_modules" / "playwright-core").is_dir(), f"playwright-core is not installed in {NODE_DIR}"
    g = fresh_gateway()
    data = seed(g.client())
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(data))
    script = NODE_DIR / SCRIPT.name
    shutil.copyfile(SCRIPT, script)
    shots = ROOT / "target" / "ui-screenshots"
    out = subprocess.run(["node", str(script), g.url, str(seed_file), str(shots)], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=240, env={**os.environ, "CHROMIUM": CHROMIUM})
    lines = out.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines else {"failures": [out.stderr]}
    assert out.returncode == 0 and not report["failures"], "\n".join(report["failures"]) + "\n" + out.stderr[-2000:]
    print("console findings:", report["findings"])
    for name in ("list", "filter-error", "trace", "map"):
        assert (shots / f"{name}.png").stat().st_size > 0
