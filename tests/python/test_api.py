"""The rest-json surface: routing of all 38 operations, error shapes, request IDs, accounts
and regions, health, and shutdown."""

import gzip
import json
import os
import signal
import time
import urllib.error
import urllib.request

import botocore
import pytest

from conftest import new_trace_id, put, segment, summaries


def model():
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "xray", "2016-04-12", "service-2.json.gz")
    return json.load(gzip.open(path))


def raw(gateway, path, body=b"", method="POST", headers=None):
    req = urllib.request.Request(gateway.url + path, data=body if method == "POST" else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_every_operation_of_the_model_is_routed(gateway):
    ops = model()["operations"]
    assert len(ops) == 38
    for name, op in ops.items():
        status, headers, body = raw(gateway, op["http"]["requestUri"], b"")
        assert headers.get("x-amzn-RequestId"), name
        doc = json.loads(body)
        assert headers.get("x-amzn-ErrorType") != "UnknownOperationException", name
        if status != 200:
            assert doc["__type"] == headers["x-amzn-ErrorType"] and doc["Message"], (name, doc)


def test_unknown_path_is_a_json_error_not_html(gateway):
    status, headers, body = raw(gateway, "/NoSuchOperation", b"{}")
    assert status == 404
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["__type"] == "UnknownOperationException"
    status, _, body = raw(gateway, "/Traces", method="GET")
    assert status == 404 and "POST" in json.loads(body)["Message"]


def test_empty_body_without_content_type_is_accepted(gateway):
    status, headers, body = raw(gateway, "/Traces", b"")
    assert status == 400
    assert json.loads(body)["Message"].endswith("Member must not be null")
    status, _, body = raw(gateway, "/Traces", b'{"TraceIds": []}', headers={"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["Traces"] == []


def test_malformed_json_body_is_invalid_request(gateway):
    status, headers, body = raw(gateway, "/TraceSummaries", b"{nope")
    assert status == 400 and headers["x-amzn-ErrorType"] == "InvalidRequestException"
    status, _, body = raw(gateway, "/TraceSegments", b"[]")
    assert status == 400


def test_request_id_reaches_the_sdk(xray):
    r = xray.batch_get_traces(TraceIds=[new_trace_id()])
    rid = r["ResponseMetadata"]["RequestId"]
    assert len(rid) == 36 and rid.count("-") == 4


def test_regions_and_accounts_are_separate(gateway):
    doc = segment()
    east = gateway.client(region="us-east-1")
    west = gateway.client(region="eu-west-1")
    other_account = gateway.client(region="us-east-1", key="111122223333")
    put(west, doc)
    assert [t["Id"] for t in west.batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"]] == [doc["trace_id"]]
    assert east.batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"] == []
    assert other_account.batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"] == []
    put(other_account, doc)
    assert doc["trace_id"] in {s["Id"] for s in summaries(other_account)}
    assert doc["trace_id"] not in {s["Id"] for s in summaries(east)}


def test_unsigned_requests_use_the_default_partition(gateway):
    doc = segment()
    status, _, body = raw(gateway, "/TraceSegments", json.dumps({"TraceSegmentDocuments": [json.dumps(doc)]}).encode())
    assert status == 200 and json.loads(body) == {"UnprocessedTraceSegments": []}
    assert gateway.client().batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"]


def test_health_reports_version_and_listeners(gateway):
    h = gateway.health()
    assert h["status"] == "ok" and h["version"]
    assert h["listeners"]["xray"] == gateway.address


def test_oldest_traces_are_evicted_past_max_traces(fresh_gateway):
    g = fresh_gateway("--max-traces", "5")
    xray = g.client()
    base = time.time() - 100
    docs = [segment(start=base + i) for i in range(8)]
    for d in docs:
        put(xray, d)
    kept = {s["Id"] for s in summaries(xray)}
    assert kept == {d["trace_id"] for d in docs[3:]}
    assert g.health()["store"]["evicted_traces"] == 3


def test_sigterm_drains_and_exits_zero(fresh_gateway):
    g = fresh_gateway()
    put(g.client(), segment())
    assert g.stop(signal.SIGTERM) == 0
    g2 = fresh_gateway()
    assert g2.stop(signal.SIGINT) == 0


def test_listener_can_be_turned_off_and_bad_flags_fail_clearly():
    import subprocess
    from conftest import BIN
    p = subprocess.run([BIN, "--xray-listen", "nowhere"], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "not an address" in p.stderr


def test_oversized_body_is_a_json_error(gateway):
    # The gateway answers as soon as the declared length is over the limit, without reading the
    # body (a client still writing 17 MB would race the close), so only the headers are sent.
    import socket
    host, port = gateway.address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /TraceSegments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  + f"Content-Length: {17 << 20}\r\n\r\n".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    head = head.decode().lower()
    assert head.startswith("http/1.1 413")
    assert "x-amzn-errortype: requestentitytoolargeexception" in head and "x-amzn-requestid:" in head
    assert json.loads(body)["Message"]


def test_health_answers_any_method(gateway):
    status, _, body = raw(gateway, "/health", b"")
    assert status == 200 and json.loads(body)["status"] == "ok"
