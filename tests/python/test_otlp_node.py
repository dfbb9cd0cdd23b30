"""OTLP ingest with the real OpenTelemetry Node SDK (gRPC, HTTP/protobuf and HTTP/JSON
exporters, the AWS X-Ray ID generator), read back with boto3 field by field. The SDK comes from
tests/node/package-lock.json, installed by scripts/test into target/node-tests."""

import json
import os
import pathlib
import subprocess
import time

import pytest

from conftest import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_DIR = pathlib.Path(os.environ.get("XRAY_NODE_TESTS", ROOT / "target" / "node-tests"))
SCRIPT = ROOT / "tests" / "node" / "export_shop_trace.cjs"


def send(protocol, endpoint, service):
    assert (NODE_DIR / "node_modules" / "@opentelemetry").is_dir(), (
        f"the Node SDK is not installed in {NODE_DIR}; scripts/test installs it")
    # The script runs from the install folder so its imports resolve there.
    script = NODE_DIR / SCRIPT.name
    script.write_text(SCRIPT.read_text())
    out = subprocess.run(["node", str(script), protocol, endpoint, service], cwd=NODE_DIR,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    trace_id = json.loads(out.stdout.strip().splitlines()[-1])["traceId"]
    return f"1-{trace_id[:8]}-{trace_id[8:]}"


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
def test_node_sdk(fresh_gateway, protocol):
    g = fresh_gateway()
    endpoint = f"http://{g.otlp['grpc'] if protocol == 'grpc' else g.otlp['http']}"
    service = f"node-shop-{protocol}"
    trace_id = send(protocol, endpoint, service)
    assert abs(int(trace_id[2:10], 16) - time.time()) < 600, "the X-Ray ID generator puts the time first"

    xray = g.client()
    found = wait_for(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"])
    assert found, "the exported trace is readable through the X-Ray API"
    docs = [json.loads(s["Document"]) for s in found[0]["Segments"]]
    [seg] = [d for d in docs if d["name"] == service]
    assert seg["trace_id"] == trace_id and "parent_id" not in seg and "type" not in seg
    assert seg["http"]["request"] == {"method": "GET", "url": "http://shop.local:8080/cart", "user_agent": "node-test"}
    assert seg["http"]["response"] == {"status": 500, "content_length": 0}
    assert (seg["fault"], seg["error"], seg["throttle"]) == (True, False, False)
    assert seg["user"] == "bob"
    assert seg["service"] == {"version": "2.4.1"}
    assert seg["aws"]["xray"]["sdk"] == "opentelemetry for nodejs"
    assert seg["aws"]["xray"]["auto_instrumentation"] is False
    [exc] = seg["cause"]["exceptions"]
    assert (exc["type"], exc["message"], exc["remote"]) == ("TypeError", "cart exploded", False)
    assert exc["stack"] and all({"path", "line", "label"} <= set(f) for f in exc["stack"]), \
        "the Node stack trace is parsed into frames"
    assert any(f["path"].endswith("export_shop_trace.cjs") for f in exc["stack"]), exc["stack"]
    assert seg["metadata"]["default"]["cart.items"] == 2
    assert seg["metadata"]["default"]["otel.resource.service.name"] == service
    assert seg["metadata"]["default"]["otel.resource.telemetry.sdk.language"] == "nodejs"

    [ddb] = seg["subsegments"]
    assert (ddb["name"], ddb["namespace"]) == ("DynamoDB", "aws")
    assert ddb["aws"]["operation"] == "GetItem" and ddb["aws"]["table_name"] == "carts"
    assert ddb["aws"]["region"] == "us-east-1"
    assert not any(k.startswith("otel.resource.") for k in ddb.get("metadata", {}).get("default", {})), \
        "subsegments do not carry the resource"
    [inferred] = [d for d in docs if d.get("inferred")]
    assert (inferred["name"], inferred["origin"]) == ("carts", "AWS::DynamoDB::Table")

    summaries = xray.get_trace_summaries(StartTime=time.time() - 600, EndTime=time.time() + 60)["TraceSummaries"]
    [s] = [x for x in summaries if x["Id"] == trace_id]
    assert s["HasFault"] is True and s["Users"][0]["UserName"] == "bob"
    assert s["Http"]["HttpStatus"] == 500 and s["Http"]["HttpURL"] == "http://shop.local:8080/cart"
