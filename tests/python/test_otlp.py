"""OTLP ingest with the real OpenTelemetry Python SDK (gRPC and HTTP/protobuf exporters, the
AWS X-Ray ID generator), read back with boto3; OTLP/JSON and bad input by hand."""

import gzip
import json
import time
import urllib.error
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from conftest import wait_for


def xray_id(otel_trace_id):
    h = f"{otel_trace_id:032x}"
    return f"1-{h[:8]}-{h[8:]}"


def send_shop_trace(exporter, new_semconv):
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-shop", "cloud.provider": "aws", "cloud.platform": "aws_ec2"}),
                              id_generator=AwsXRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    http_attrs = ({"http.request.method": "POST", "url.full": "https://shop.example.com/cart", "http.response.status_code": 500,
                   "user_agent.original": "pytest"} if new_semconv else
                  {"http.method": "POST", "http.url": "https://shop.example.com/cart", "http.status_code": 500, "http.user_agent": "pytest"})
    with tracer.start_as_current_span("POST /cart", kind=SpanKind.SERVER, attributes={**http_attrs, "enduser.id": "alice", "cart.items": 3}) as root:
        with tracer.start_as_current_span("DynamoDB.PutItem", kind=SpanKind.CLIENT,
                                          attributes={"rpc.system": "aws-api", "rpc.service": "DynamoDB", "rpc.method": "PutItem",
                                                      "aws.dynamodb.table_names": ["carts"]}):
            pass
        try:
            raise ValueError("cart is locked")
        except ValueError as e:
            root.record_exception(e)
            root.set_status(Status(StatusCode.ERROR, "cart is locked"))
    provider.shutdown()
    return xray_id(root.get_span_context().trace_id)


def check_shop_trace(g, trace_id):
    xray = g.client()
    found = wait_for(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"])
    assert found, "the exported trace is readable through the X-Ray API"
    docs = [json.loads(s["Document"]) for s in found[0]["Segments"]]
    [seg] = [d for d in docs if d["name"] == "otel-shop"]
    assert seg["origin"] == "AWS::EC2::Instance"
    assert seg["http"]["request"]["method"] == "POST" and seg["http"]["request"]["url"] == "https://shop.example.com/cart"
    assert seg["http"]["request"]["user_agent"] == "pytest" and seg["http"]["response"]["status"] == 500
    assert seg["fault"] is True and seg["error"] is False and seg["user"] == "alice"
    assert seg["cause"]["exceptions"][0]["type"] == "ValueError"
    assert seg["cause"]["exceptions"][0]["message"] == "cart is locked"
    assert seg["metadata"]["default"]["cart.items"] == 3
    assert seg["metadata"]["default"]["otel.resource.service.name"] == "otel-shop"
    assert seg["aws"]["xray"]["sdk"] == "opentelemetry for python"
    [ddb] = seg["subsegments"]
    assert ddb["name"] == "DynamoDB" and ddb["namespace"] == "aws"
    assert ddb["aws"]["operation"] == "PutItem" and ddb["aws"]["table_name"] == "carts"
    [inferred] = [d for d in docs if d.get("inferred")]
    assert (inferred["name"], inferred["origin"]) == ("carts", "AWS::DynamoDB::Table")
    s = [x for x in xray.get_trace_summaries(StartTime=time.time() - 600, EndTime=time.time() + 60)["TraceSummaries"] if x["Id"] == trace_id]
    assert s and s[0]["HasFault"] is True and s[0]["Users"][0]["UserName"] == "alice"


@pytest.mark.parametrize("new_semconv", [False, True])
def test_python_sdk_over_grpc(fresh_gateway, new_semconv):
    g = fresh_gateway()
    exporter = GrpcExporter(endpoint=f"http://{g.otlp['grpc']}", insecure=True)
    check_shop_trace(g, send_shop_trace(exporter, new_semconv))


@pytest.mark.parametrize("new_semconv", [False, True])
def test_python_sdk_over_http_protobuf(fresh_gateway, new_semconv):
    g = fresh_gateway()
    exporter = HttpExporter(endpoint=f"http://{g.otlp['http']}/v1/traces")
    check_shop_trace(g, send_shop_trace(exporter, new_semconv))


def otel_spans(xray, trace_id):
    now = time.time()
    token = xray.start_trace_retrieval(TraceIds=[trace_id], StartTime=now - 600, EndTime=now + 60)["RetrievalToken"]
    r = xray.list_retrieved_traces(RetrievalToken=token, TraceFormat="OTEL")
    assert (r["RetrievalStatus"], r["TraceFormat"]) == ("COMPLETE", "OTEL")
    [trace] = r["Traces"]
    assert trace["Id"] == trace_id
    spans = [json.loads(s["Document"]) for s in trace["Spans"]]
    assert [s["spanId"] for s in spans] == [s["Id"] for s in trace["Spans"]]
    return spans


def test_an_otlp_trace_retrieved_in_the_otel_format_has_its_spans_back(fresh_gateway):
    g = fresh_gateway()
    exporter = HttpExporter(endpoint=f"http://{g.otlp['http']}/v1/traces")
    trace_id = send_shop_trace(exporter, False)
    xray = g.client()
    wait_for(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"])
    spans = otel_spans(xray, trace_id)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"otel-shop", "DynamoDB"}, "one span a segment or subsegment, none for the inferred node"
    root, ddb = by_name["otel-shop"], by_name["DynamoDB"]
    assert root["traceId"] == trace_id[2:].replace("-", "")
    assert root["kind"] == "SERVER" and "parentSpanId" not in root
    assert (ddb["kind"], ddb["parentSpanId"]) == ("CLIENT", root["spanId"])
    assert root["resource"]["attributes"]["service.name"] == "otel-shop"
    assert root["resource"]["attributes"]["cloud.platform"] == "aws_ec2"
    assert root["attributes"]["cart.items"] == 3, "the span's own attributes come back"
    assert root["attributes"]["enduser.id"] == "alice"
    assert (root["attributes"]["http.method"], root["attributes"]["http.status_code"]) == ("POST", 500)
    assert root["status"]["code"] == "ERROR"
    [event] = root["events"]
    assert (event["name"], event["attributes"]["exception.type"]) == ("exception", "ValueError")
    assert event["attributes"]["exception.message"] == "cart is locked"
    assert ddb["attributes"]["aws.operation"] == "PutItem" and ddb["attributes"]["aws.table_name"] == "carts"
    assert root["endTimeUnixNano"] - root["startTimeUnixNano"] == root["durationNano"] > 0
    assert root["startTimeUnixNano"] <= ddb["startTimeUnixNano"] <= ddb["endTimeUnixNano"] <= root["endTimeUnixNano"]


def test_a_put_trace_segments_trace_retrieved_in_the_otel_format(fresh_gateway):
    from conftest import new_id, new_trace_id, put, segment
    g = fresh_gateway()
    xray = g.client()
    start = time.time() - 5
    t, call = new_trace_id(start), new_id()
    doc = segment(t, name="checkout", start=start, end=start + 0.5, user="bob",
                  http={"request": {"method": "GET", "url": "https://shop/checkout"}, "response": {"status": 200}},
                  annotations={"tier": "gold"},
                  subsegments=[{"id": call, "name": "payments", "namespace": "remote", "start_time": start + 0.1,
                                "end_time": start + 0.3, "http": {"request": {"method": "POST", "url": "https://pay/"}}}])
    sub = {"id": new_id(), "trace_id": t, "parent_id": doc["id"], "type": "subsegment", "name": "render",
           "start_time": start + 0.35, "end_time": start + 0.45}
    assert put(xray, doc, sub) == []
    spans = otel_spans(xray, t)
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"checkout", "payments", "render"}
    root = by_name["checkout"]
    assert root["spanId"] == doc["id"] and root["kind"] == "SERVER"
    assert root["attributes"]["tier"] == "gold" and root["attributes"]["aws.xray.annotations"] == ["tier"]
    assert root["attributes"]["enduser.id"] == "bob" and root["attributes"]["http.url"] == "https://shop/checkout"
    assert root["status"]["code"] == "UNSET"
    assert root["durationNano"] == 500_000_000
    assert root["resource"]["attributes"]["service.name"] == "checkout"
    assert (by_name["payments"]["kind"], by_name["payments"]["parentSpanId"]) == ("CLIENT", doc["id"])
    assert (by_name["render"]["kind"], by_name["render"]["parentSpanId"]) == ("INTERNAL", doc["id"]), \
        "a subsegment sent on its own is a span of its parent"


def test_x_ray_listener_takes_otlp_too(fresh_gateway):
    g = fresh_gateway()
    exporter = HttpExporter(endpoint=f"{g.url}/v1/traces")
    check_shop_trace(g, send_shop_trace(exporter, False))


def post(url, body, ctype="application/json", gz=False):
    data = gzip.compress(body) if gz else body
    headers = {"Content-Type": ctype}
    if gz:
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def otlp_json(spans):
    return json.dumps({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
                                          "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}).encode()


def span(trace, span_id, **kw):
    now = time.time_ns()
    return {"traceId": trace, "spanId": span_id, "name": "GET /x", "kind": 2, "startTimeUnixNano": str(now - 1_000_000),
            "endTimeUnixNano": str(now), **kw}


def test_otlp_json_gzip_and_partial_success(fresh_gateway):
    g = fresh_gateway()
    trace = f"{int(time.time()):08x}" + "ab" * 12
    good = span(trace, "00f067aa0ba902b7", attributes=[{"key": "http.method", "value": {"stringValue": "GET"}}])
    bad = span("00" * 16, "00f067aa0ba902b8")
    backwards = span(trace, "00f067aa0ba902b9")
    backwards["endTimeUnixNano"] = "1"
    status, body = post(f"http://{g.otlp['http']}/v1/traces", otlp_json([good, bad, backwards]), gz=True)
    assert status == 200
    reply = json.loads(body)
    assert reply["partialSuccess"]["rejectedSpans"] in (2, "2")
    assert "trace ID" in reply["partialSuccess"]["errorMessage"]
    tid = f"1-{trace[:8]}-{trace[8:]}"
    docs = g.client().batch_get_traces(TraceIds=[tid])["Traces"][0]["Segments"]
    assert json.loads(docs[0]["Document"])["name"] == "json-svc"


def test_undecodable_bodies_are_invalid_argument(fresh_gateway):
    g = fresh_gateway()
    status, body = post(f"http://{g.otlp['http']}/v1/traces", b"not otlp", ctype="application/x-protobuf")
    assert status == 400
    status, body = post(f"http://{g.otlp['http']}/v1/traces", b"{nope", ctype="application/json")
    assert status == 400 and json.loads(body)["code"] == 3
    status, body = post(f"http://{g.otlp['http']}/v1/traces", b"\x1f\x8bgarbage", ctype="application/json", gz=False)
    assert status == 400


def test_otlp_front_end_and_native_back_end_are_one_trace(fresh_gateway):
    """The front end exports OTLP; the back end it calls sends a native segment through
    PutTraceSegments, parented to the front end's client span: X-Ray sees one trace."""
    g = fresh_gateway()
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-front"}), id_generator=AwsXRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(GrpcExporter(endpoint=f"http://{g.otlp['grpc']}", insecure=True)))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /order", kind=SpanKind.SERVER, attributes={"http.request.method": "GET"}) as root:
        with tracer.start_as_current_span("call backend", kind=SpanKind.CLIENT,
                                          attributes={"peer.service": "native-back", "http.request.method": "GET",
                                                      "url.full": "http://back/orders"}) as call:
            call_id = f"{call.get_span_context().span_id:016x}"
            start = time.time()
    provider.shutdown()
    trace_id = xray_id(root.get_span_context().trace_id)
    back = {"name": "native-back", "id": "b0b0b0b0b0b0b0b0", "trace_id": trace_id, "parent_id": call_id,
            "start_time": start, "end_time": start + 0.01, "http": {"response": {"status": 200}}}
    xray = g.client()
    assert xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(back)])["UnprocessedTraceSegments"] == []

    [t] = wait_for(lambda: xray.batch_get_traces(TraceIds=[trace_id])["Traces"])
    docs = {json.loads(s["Document"])["name"]: json.loads(s["Document"]) for s in t["Segments"]}
    assert {"otel-front", "native-back"} <= set(docs)
    [sub] = docs["otel-front"]["subsegments"]
    assert (sub["name"], sub["id"]) == ("native-back", call_id)
    assert docs["native-back"]["parent_id"] == call_id
    summaries = [s for s in xray.get_trace_summaries(StartTime=time.time() - 600, EndTime=time.time() + 60)["TraceSummaries"]
                 if s["Id"] == trace_id]
    assert len(summaries) == 1, "one summary for the trace"
    assert {"otel-front", "native-back"} <= {s["Name"] for s in summaries[0]["ServiceIds"]}
    graph = xray.get_service_graph(StartTime=time.time() - 600, EndTime=time.time() + 60)["Services"]
    front = next(s for s in graph if s["Name"] == "otel-front")
    back_node = next(s for s in graph if s["Name"] == "native-back")
    assert back_node["ReferenceId"] in [e["ReferenceId"] for e in front["Edges"]]


def test_strict_trace_ids_refuse_old_ids_visibly(fresh_gateway):
    g = fresh_gateway("--strict-trace-ids")
    fresh = f"{int(time.time()):08x}" + "cd" * 12
    old = f"{int(time.time()) - 40 * 86400:08x}" + "cd" * 12
    status, body = post(f"http://{g.otlp['http']}/v1/traces",
                        otlp_json([span(fresh, "00f067aa0ba90201"), span(old, "00f067aa0ba90202")]))
    assert status == 200
    reply = json.loads(body)
    assert reply["partialSuccess"]["rejectedSpans"] in (1, "1")
    assert "invalid xray traceid" in reply["partialSuccess"]["errorMessage"]
    xray = g.client()
    assert xray.batch_get_traces(TraceIds=[f"1-{fresh[:8]}-{fresh[8:]}"])["Traces"]
    assert not xray.batch_get_traces(TraceIds=[f"1-{old[:8]}-{old[8:]}"])["Traces"]
    # Without the flag the same old ID is accepted, as the exporter does by default.
    g2 = fresh_gateway()
    status, body = post(f"http://{g2.otlp['http']}/v1/traces", otlp_json([span(old, "00f067aa0ba90203")]))
    assert status == 200 and not json.loads(body).get("partialSuccess", {}).get("rejectedSpans")


def test_sigv4_signed_otlp_lands_in_the_signers_account_and_region(fresh_gateway):
    """ADOT exporters sign exports to X-Ray's OTLP endpoint with SigV4 (service xray); the
    credential scope says whose traces they are, as for every X-Ray API call."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    g = fresh_gateway()
    trace = f"{int(time.time()):08x}" + "ef" * 12
    body = otlp_json([span(trace, "00f067aa0ba90301")])
    req = AWSRequest(method="POST", url=f"{g.url}/v1/traces", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("111122223333", "secret"), "xray", "eu-west-1").add_auth(req)
    http = urllib.request.Request(req.url, data=body, headers=dict(req.headers.items()), method="POST")
    with urllib.request.urlopen(http, timeout=10) as r:
        assert r.status == 200
    tid = f"1-{trace[:8]}-{trace[8:]}"
    assert g.client(region="eu-west-1", key="111122223333").batch_get_traces(TraceIds=[tid])["Traces"]
    assert not g.client().batch_get_traces(TraceIds=[tid])["Traces"], "not in the default account and region"


def test_cloudwatch_agent_t1s_documents_are_converted(fresh_gateway):
    """The CloudWatch agent's exporter (transit_spans_in_otlp_format) puts 'T1S' + base64 of
    an OTLP request into PutTraceSegments, with its options as resource attributes."""
    import base64
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

    def kv(k, v):
        return KeyValue(key=k, value=v)

    g = fresh_gateway()
    trace = f"{int(time.time()):08x}" + "a1" * 12
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([
        kv("service.name", AnyValue(string_value="agent-svc")),
        kv("aws.xray.exporter.config.index_all_attributes", AnyValue(bool_value=False)),
        kv("aws.xray.exporter.config.indexed_attributes",
           AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="tenant")]))),
    ])
    sp = rs.scope_spans.add().spans.add()
    sp.trace_id, sp.span_id, sp.name, sp.kind = bytes.fromhex(trace), bytes.fromhex("00f067aa0ba90401"), "GET /a", 2
    sp.start_time_unix_nano = time.time_ns() - 5_000_000
    sp.end_time_unix_nano = time.time_ns()
    sp.attributes.extend([kv("tenant", AnyValue(string_value="t9")), kv("other", AnyValue(int_value=1))])
    t1s = "T1S" + base64.b64encode(req.SerializeToString()).decode()

    xray = g.client()
    r = xray.put_trace_segments(TraceSegmentDocuments=[t1s, "T1Snot-base64!"])
    [bad] = r["UnprocessedTraceSegments"]
    assert bad["ErrorCode"] == "InvalidSegment" and "base64" in bad["Message"]
    [t] = xray.batch_get_traces(TraceIds=[f"1-{trace[:8]}-{trace[8:]}"])["Traces"]
    [doc] = [json.loads(s["Document"]) for s in t["Segments"]]
    assert doc["name"] == "agent-svc" and doc["id"] == "00f067aa0ba90401"
    assert doc["annotations"] == {"tenant": "t9"}, "the agent's indexed_attributes apply"
    assert doc["metadata"]["default"]["other"] == 1
    assert not any(k.startswith("otel.resource.aws.xray.exporter") for k in doc["metadata"]["default"])


def test_gzip_exports_over_grpc_and_http_protobuf(fresh_gateway):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import Compression as GrpcCompression
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

    g = fresh_gateway()
    grpc = GrpcExporter(endpoint=f"http://{g.otlp['grpc']}", insecure=True, compression=GrpcCompression.Gzip)
    check_shop_trace(g, send_shop_trace(grpc, True))
    http = HttpExporter(endpoint=f"http://{g.otlp['http']}/v1/traces", compression=HttpCompression.Gzip)
    check_shop_trace(g, send_shop_trace(http, False))
