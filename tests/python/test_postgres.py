"""Several stateless gateways over one real PostgreSQL (started by scripts/test through
scripts/pg): whatever goes in through one comes out of the other, the control plane is one,
an outage of PostgreSQL acknowledges nothing and loses nothing, and kill -9 of every gateway
loses nothing."""

import json
import os
import secrets
import subprocess
import threading
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import botocore.exceptions
import pytest
from aws_xray_sdk.core.recorder import AWSXRayRecorder
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from conftest import new_trace_id, put, segment, summaries, wait_for

PG_URL = os.environ.get("XRAY_TEST_PG_URL")
PG_DIR = os.environ.get("XRAY_TEST_PG_DIR")
if os.environ.get("CI") and not PG_URL:
    raise RuntimeError("XRAY_TEST_PG_URL is unset under CI: scripts/test starts PostgreSQL")
pytestmark = pytest.mark.skipif(not (PG_URL and PG_DIR), reason="no PostgreSQL (scripts/test starts one)")

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


@pytest.fixture
def database():
    """A database of the test's own on the test server; its URL."""
    name = "t_" + secrets.token_hex(6)
    out = subprocess.run([os.path.join(ROOT, "scripts", "pg"), "createdb", PG_DIR, name], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def client(g, **kw):
    """A boto3 client that reports a 503 instead of retrying it."""
    return boto3.client("xray", endpoint_url=g.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}, **kw))


def two(fresh_gateway, url):
    return fresh_gateway("--postgres-url", url), fresh_gateway("--postgres-url", url)


def test_put_through_one_gateway_is_read_through_the_other(fresh_gateway, database):
    a, b = two(fresh_gateway, database)
    tid = new_trace_id()
    front = segment(tid, "front", http={"response": {"status": 500}}, annotations={"shard": "s7"},
                    subsegments=[{"id": secrets.token_hex(8), "name": "DynamoDB", "namespace": "aws",
                                  "start_time": time.time() - 0.9, "end_time": time.time() - 0.8,
                                  "aws": {"table_name": "orders", "operation": "GetItem"}}])
    assert put(a.client(), front) == []
    xb = b.client()
    [t] = xb.batch_get_traces(TraceIds=[tid])["Traces"]
    docs = [json.loads(s["Document"]) for s in t["Segments"]]
    assert [d["name"] for d in docs if not d.get("inferred")] == ["front"]
    [s] = summaries(xb, [tid], FilterExpression='service("front") AND http.status = 500')
    assert s["Annotations"]["shard"][0]["AnnotationValue"] == {"StringValue": "s7"}
    assert summaries(xb, [tid], FilterExpression='annotation.shard = "s7"')
    assert not summaries(xb, [tid], FilterExpression='annotation.shard = "s8"')
    graph = xb.get_service_graph(StartTime=time.time() - 600, EndTime=time.time() + 60)["Services"]
    names = {(n["Name"], n.get("Type")) for n in graph}
    assert ("orders", "AWS::DynamoDB::Table") in names and ("front", None) in names
    with urllib.request.urlopen(b.url + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    assert 'xray_gateway_postgres_pool_connections{state="max"} 16' in metrics


def test_otlp_through_one_and_the_sdk_daemon_through_the_other_are_one_trace(fresh_gateway, database):
    a, b = two(fresh_gateway, database)
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-front"}),
                              id_generator=AwsXRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{a.otlp['grpc']}", insecure=True)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /order", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span("call backend", kind=SpanKind.CLIENT,
                                          attributes={"peer.service": "sdk-back", "http.request.method": "GET",
                                                      "url.full": "http://back/orders"}) as call:
            call_id = f"{call.get_span_context().span_id:016x}"
    provider.shutdown()
    h = f"{root.get_span_context().trace_id:032x}"
    trace_id = f"1-{h[:8]}-{h[8:]}"
    rec = AWSXRayRecorder()
    rec.configure(daemon_address=b.daemon, sampling=False, context_missing="LOG_ERROR", service="sdk-back")
    seg = rec.begin_segment("sdk-back", traceid=trace_id, parent_id=call_id, sampling=1)
    seg.put_http_meta("status", 200)
    rec.end_segment()

    for g in (a, b):
        x = g.client()
        t = wait_for(lambda: [t for t in x.batch_get_traces(TraceIds=[trace_id])["Traces"]
                              if {"otel-front", "sdk-back"} <= {json.loads(s["Document"])["name"] for s in t["Segments"]}])
        assert t, "both halves are in one trace"
        [s] = summaries(x, [trace_id])
        assert {"otel-front", "sdk-back"} <= {sid["Name"] for sid in s["ServiceIds"]}
        services = x.get_service_graph(StartTime=time.time() - 600, EndTime=time.time() + 60)["Services"]
        front = next(n for n in services if n["Name"] == "otel-front")
        back = next(n for n in services if n["Name"] == "sdk-back")
        edges = [e for e in front["Edges"] if e["ReferenceId"] == back["ReferenceId"]]
        assert len(edges) == 1 and edges[0]["SummaryStatistics"]["TotalCount"] == 1


def rule(name, reservoir, rate=0.5):
    return {"RuleName": name, "Priority": 10, "FixedRate": rate, "ReservoirSize": reservoir, "ServiceName": "*",
            "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "/", "ResourceARN": "*", "Version": 1}


def test_groups_and_sampling_rules_are_one_control_plane(fresh_gateway, database):
    a, b = two(fresh_gateway, database)
    xa, xb = a.client(), b.client()
    xa.create_group(GroupName="fronts", FilterExpression='service("front")')
    assert "fronts" in [g["GroupName"] for g in xb.get_groups()["Groups"]]
    tid = new_trace_id()
    put(xa, segment(tid, "front"), segment(new_trace_id(), "elsewhere"))
    found = summaries(xb, FilterExpression='group.name = "fronts"')
    assert [s["Id"] for s in found] == [tid]

    xa.create_sampling_rule(SamplingRule=rule("split", 10))
    assert "split" in [r["SamplingRule"]["RuleName"] for r in xb.get_sampling_rules()["SamplingRuleRecords"]]
    now = time.time()

    def report(x, client_id):
        doc = {"RuleName": "split", "ClientID": client_id, "Timestamp": now, "RequestCount": 10,
               "SampledCount": 1, "BorrowCount": 0}
        [t] = x.get_sampling_targets(SamplingStatisticsDocuments=[doc])["SamplingTargetDocuments"]
        return t

    # Four clients, two on each gateway: their shares of the reservoir add up to it.
    ids = ["a" * 24, "b" * 24, "c" * 24, "d" * 24]
    for i, c in enumerate(ids):
        report((xa, xb)[i % 2], c)
    shares = [report((xa, xb)[i % 2], c)["ReservoirQuota"] for i, c in enumerate(ids)]
    assert sum(shares) == 10 and all(s > 0 for s in shares), shares
    # A rule changed through one gateway applies to the next targets call on the other.
    xb.update_sampling_rule(SamplingRuleUpdate={"RuleName": "split", "FixedRate": 0.125})
    assert report(xa, ids[0])["FixedRate"] == 0.125


def otlp_export(g):
    """An OTLP/HTTP JSON export of one span to `g`."""
    now = time.time_ns()
    span = {"traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8), "name": "GET /x", "kind": 2,
            "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now)}
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "otlp-svc"}}]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": [span]}]}]}
    return urllib.request.Request(f"http://{g.otlp['http']}/v1/traces", data=json.dumps(body).encode(),
                                  headers={"Content-Type": "application/json"})


def pg(cmd):
    subprocess.run([os.path.join(ROOT, "scripts", "pg"), cmd, PG_DIR], check=True)


def test_postgres_restarting_under_load_acknowledges_nothing_and_loses_nothing(fresh_gateway, database):
    a, b = two(fresh_gateway, database)
    acked, refused, stop = [], [], threading.Event()

    def writer(g):
        x = client(g)
        while not stop.is_set():
            tid = new_trace_id()
            try:
                r = x.put_trace_segments(TraceSegmentDocuments=[json.dumps(segment(tid, "load"))])
                if r["UnprocessedTraceSegments"] == []:
                    acked.append(tid)
            except botocore.exceptions.ClientError as e:
                refused.append((e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]))
            except botocore.exceptions.BotoCoreError:
                refused.append((None, "connection"))
            time.sleep(0.005)

    threads = [threading.Thread(target=writer, args=(g,)) for g in (a, b)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        before = len(acked)
        assert before > 0
        pg("stop")
        time.sleep(0.5)
        during = len(acked)
        # Reads and OTLP answer retryable errors meanwhile.
        with pytest.raises(botocore.exceptions.ClientError) as e:
            client(b).batch_get_traces(TraceIds=[acked[0]])
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(otlp_export(a), timeout=10)
        assert err.value.code == 503
        time.sleep(1.0)
        assert len(acked) - during <= 2, "nothing is acknowledged while PostgreSQL is down"
    finally:
        pg("restart")
    # The gateways reconnect by themselves.
    wait_for(lambda: len(acked) > during + 20, timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert refused and all(code == 503 or code is None for code, _ in refused), refused[:5]
    assert all(c == "ServiceUnavailable" for code, c in refused if code == 503)
    x = b.client()
    found = set()
    for i in range(0, len(acked), 5):
        found |= {t["Id"] for t in x.batch_get_traces(TraceIds=acked[i:i + 5])["Traces"]}
    assert found == set(acked), f"{len(set(acked) - found)} acknowledged traces missing"


def test_both_gateways_killed_under_load_and_restarted_keep_everything(fresh_gateway, database):
    a, b = two(fresh_gateway, database)
    xa, xb = a.client(), b.client()
    xa.create_group(GroupName="kept", FilterExpression='service("svc1")')
    xb.create_sampling_rule(SamplingRule=rule("kept-rule", 3))
    acked, stop = [], threading.Event()

    def writer(g, n):
        x = client(g)
        while not stop.is_set():
            tid = new_trace_id()
            try:
                r = x.put_trace_segments(TraceSegmentDocuments=[json.dumps(segment(tid, f"svc{n}"))])
                if r["UnprocessedTraceSegments"] == []:
                    acked.append(tid)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                pass  # the gateway died under the request: nothing was acknowledged

    threads = [threading.Thread(target=writer, args=(g, n)) for n, g in enumerate((a, b, a, b))]
    for t in threads:
        t.start()
    time.sleep(1.5)
    a.kill()
    b.kill()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) > 50
    c, d = two(fresh_gateway, database)
    for g in (c, d):
        x = g.client()
        found = set()
        for i in range(0, len(acked), 5):
            found |= {t["Id"] for t in x.batch_get_traces(TraceIds=acked[i:i + 5])["Traces"]}
        assert found == set(acked), f"{len(set(acked) - found)} acknowledged traces missing"
        assert set(acked) <= {s["Id"] for s in summaries(x)}
        assert "kept" in [g["GroupName"] for g in x.get_groups()["Groups"]]
        assert "kept-rule" in [r["SamplingRule"]["RuleName"] for r in x.get_sampling_rules()["SamplingRuleRecords"]]
