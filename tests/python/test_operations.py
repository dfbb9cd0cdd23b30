"""Running the gateway for a team: /metrics read by the Prometheus client's own parser, SigV4
credentials, bearer tokens for OTLP, quotas and JSON logs, with real clients."""

import json
import re
import time
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from opentelemetry.trace import SpanKind
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from conftest import new_id, put, segment


def scrape(g):
    with urllib.request.urlopen(g.url + "/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("application/openmetrics-text")
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_rise_by_exactly_what_was_stored_and_refused(fresh_gateway):
    g = fresh_gateway()
    xray = g.client()
    before = scrape(g)
    docs = [segment() for _ in range(3)]
    bad = {"id": new_id(), "name": "x", "start_time": time.time()}  # no trace_id
    unprocessed = xray.put_trace_segments(TraceSegmentDocuments=[json.dumps(d) for d in [*docs, bad]])["UnprocessedTraceSegments"]
    assert len(unprocessed) == 1
    xray.get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time())
    after = scrape(g)

    def rise(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    docs_total = "xray_gateway_documents_received_total"
    assert rise(docs_total, intake="put_trace_segments", outcome="stored", reason="none") == 3
    assert rise(docs_total, intake="put_trace_segments", outcome="refused", reason="invalid_trace_id") == 1
    assert rise("xray_gateway_api_requests_total", operation="PutTraceSegments", status="200") == 1
    assert rise("xray_gateway_api_requests_total", operation="GetTraceSummaries", status="200") == 1
    assert rise("xray_gateway_api_request_duration_seconds_count", operation="PutTraceSegments") == 1
    assert value(after, "xray_gateway_stored_traces") == 3
    assert value(after, "xray_gateway_stored_documents") == 3
    assert value(after, "xray_gateway_stored_bytes") > 0
    assert value(after, "xray_gateway_build_info", version=g.health()["version"]) == 1
    names = {n for n, _ in after}
    label_values = {v for _, labels in after for _, v in labels}
    assert not any(re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", v) for v in label_values), "no trace IDs as labels"
    assert not {"api", "checkout"} & label_values, "no service names as labels"
    assert {"xray_gateway_evicted_traces_total", "xray_gateway_sampling_clients"} & names

    with pytest.raises(botocore.exceptions.ClientError):
        xray.get_group(GroupName="missing")
    assert rise_after(g, before, "xray_gateway_api_requests_total", operation="GetGroup", status="400") == 1

    body = otlp_json(3)
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "0" * 32  # invalid: refused alone
    req = urllib.request.Request(f"http://{g.otlp['http']}/v1/traces", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.loads(r.read())["partialSuccess"]["rejectedSpans"] == "1"
    spans = "xray_gateway_otlp_spans_total"
    assert rise_after(g, before, spans, transport="otlp_http", outcome="accepted") == 2
    assert rise_after(g, before, spans, transport="otlp_http", outcome="refused") == 1
    assert rise_after(g, before, "xray_gateway_documents_received_total", intake="otlp_http", outcome="stored", reason="none") == 2


def rise_after(g, before, name, **labels):
    return value(scrape(g), name, **labels) - value(before, name, **labels)


CREDENTIALS = """[team-a]
aws_access_key_id = AKIATEAMA000000000001
aws_secret_access_key = secret-of-team-a
aws_account_id = 111111111111
otlp_token = token-of-team-a

[team-b]
aws_access_key_id = AKIATEAMB000000000002
aws_secret_access_key = secret-of-team-b
aws_account_id = 222222222222
"""


@pytest.fixture(scope="module")
def guarded(fresh_gateway_module, tmp_path_factory):
    path = tmp_path_factory.mktemp("creds") / "credentials"
    path.write_text(CREDENTIALS)
    g = fresh_gateway_module("--credentials-file", str(path))
    return g, path


def client(g, key, secret, region="eu-west-1", **config):
    return boto3.client("xray", endpoint_url=g.url, region_name=region, aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"total_max_attempts": 1}, **config))


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_signed_requests_land_in_their_profiles_account_and_others_are_refused(guarded):
    from botocore import UNSIGNED
    g, _ = guarded
    a = client(g, "AKIATEAMA000000000001", "secret-of-team-a")
    b = client(g, "AKIATEAMB000000000002", "secret-of-team-b")
    doc = segment()
    assert put(a, doc) == []
    window = dict(StartTime=time.time() - 60, EndTime=time.time() + 60)
    assert [s["Id"] for s in a.get_trace_summaries(**window)["TraceSummaries"]] == [doc["trace_id"]]
    assert b.get_trace_summaries(**window)["TraceSummaries"] == [], "team-b sees none of team-a's traces"
    assert b.batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"] == []
    arn = a.create_group(GroupName="mine")["Group"]["GroupARN"]
    assert ":111111111111:" in arn, "the group is in the profile's account"
    assert ":eu-west-1:" in arn

    wrong_secret = client(g, "AKIATEAMA000000000001", "not-the-secret")
    assert error_of(wrong_secret.get_groups) == ("InvalidSignatureException", 403)
    unknown = client(g, "AKIAUNKNOWN000000000", "whatever")
    assert error_of(unknown.get_groups) == ("UnrecognizedClientException", 403)
    unsigned = client(g, "x", "y", signature_version=UNSIGNED)
    assert error_of(unsigned.get_groups) == ("MissingAuthenticationTokenException", 403)
    assert error_of(unsigned.put_trace_segments, TraceSegmentDocuments=[json.dumps(segment())]) == \
        ("MissingAuthenticationTokenException", 403)
    assert json.loads(urllib.request.urlopen(g.url + "/health", timeout=5).read())["status"] == "ok"


def test_an_expired_signature_is_refused(guarded):
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    g, _ = guarded
    body = json.dumps({})
    req = botocore.awsrequest.AWSRequest(method="POST", url=g.url + "/Groups", data=body,
                                         headers={"Content-Type": "application/json"})
    signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials("AKIATEAMA000000000001", "secret-of-team-a"),
                                     "xray", "eu-west-1")
    stale = time.gmtime(time.time() - 20 * 60)
    orig = botocore.auth.datetime.datetime

    class Then(orig):
        @classmethod
        def utcnow(cls):
            return orig(*stale[:6])

        @classmethod
        def now(cls, tz=None):
            return orig(*stale[:6], tzinfo=tz)

    botocore.auth.datetime.datetime = Then
    try:
        signer.add_auth(req)
    finally:
        botocore.auth.datetime.datetime = orig
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=body.encode(), headers=dict(prepared.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(r, timeout=5)
    assert e.value.code == 403
    assert e.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert "Signature expired" in json.loads(e.value.read())["message"]


def test_the_aws_cli_with_a_profile(guarded):
    import os
    import subprocess
    g, path = guarded
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(path), "AWS_CONFIG_FILE": os.devnull}
    base = ["aws", "--endpoint-url", g.url, "--region", "eu-west-1", "--output", "json", "xray"]
    ok = subprocess.run([*base, "get-groups", "--profile", "team-b"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert [grp["GroupName"] for grp in json.loads(ok.stdout)["Groups"]] == ["Default"]
    env_wrong = {**env, "AWS_ACCESS_KEY_ID": "AKIATEAMB000000000002", "AWS_SECRET_ACCESS_KEY": "wrong"}
    bad = subprocess.run([*base, "get-groups"], env=env_wrong, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr


def otel_spans_exported(exporter):
    """Exports one finished span through `exporter`; returns the export result and its trace ID."""
    from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "team-a-svc"}), id_generator=AwsXRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("GET /", kind=SpanKind.SERVER):
        pass
    spans = memory.get_finished_spans()
    h = f"{spans[0].context.trace_id:032x}"
    return exporter.export(spans), f"1-{h[:8]}-{h[8:]}"


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_otlp_exports_carry_a_profiles_bearer_token(guarded, transport):
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
    from opentelemetry.sdk.trace.export import SpanExportResult
    g, _ = guarded

    def exporter(headers):
        if transport == "grpc":
            return GrpcExporter(endpoint=f"http://{g.otlp['grpc']}", insecure=True, headers=headers, timeout=5)
        return HttpExporter(endpoint=f"http://{g.otlp['http']}/v1/traces", headers=headers, timeout=5)

    result, trace_id = otel_spans_exported(exporter({"authorization": "Bearer token-of-team-a"}))
    assert result == SpanExportResult.SUCCESS
    a = client(g, "AKIATEAMA000000000001", "secret-of-team-a")
    a_us = client(g, "AKIATEAMA000000000001", "secret-of-team-a", region="us-east-1")
    assert [t["Id"] for t in a_us.batch_get_traces(TraceIds=[trace_id])["Traces"]] == [trace_id], \
        "the export landed in team-a's account (the gateway's default region)"
    assert a.batch_get_traces(TraceIds=[trace_id])["Traces"] == []
    refused, lost = otel_spans_exported(exporter({}))
    assert refused == SpanExportResult.FAILURE
    wrong, lost2 = otel_spans_exported(exporter({"authorization": "Bearer not-a-token"}))
    assert wrong == SpanExportResult.FAILURE
    assert a_us.batch_get_traces(TraceIds=[lost, lost2])["Traces"] == []


def test_otlp_http_without_credentials_is_401_unauthenticated(guarded):
    g, _ = guarded
    req = urllib.request.Request(f"http://{g.otlp['http']}/v1/traces", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 401
    assert json.loads(e.value.read())["code"] == 16


def test_a_quota_throttles_whole_requests_and_recovers(fresh_gateway):
    g = fresh_gateway("--segments-per-second", "60")
    xray = client(g, "test", "test")
    first = [segment() for _ in range(50)]
    assert put(xray, *first) == []
    over = [segment() for _ in range(20)]
    assert error_of(xray.put_trace_segments, TraceSegmentDocuments=[json.dumps(d) for d in over]) == ("ThrottledException", 429)
    assert xray.batch_get_traces(TraceIds=[d["trace_id"] for d in over[:5]])["Traces"] == [], "nothing half-stored"
    time.sleep(1.1)
    assert put(xray, *over) == [], "the quota refills"
    other = client(g, "222222222222", "x")
    assert put(other, *[segment() for _ in range(50)]) == [], "each account has its own quota"
    after = scrape(g)
    assert value(after, "xray_gateway_documents_received_total", intake="put_trace_segments", outcome="refused", reason="throttled") == 20

    req = urllib.request.Request(f"http://{g.otlp['http']}/v1/traces", method="POST", headers={"Content-Type": "application/json"},
                                 data=json.dumps(otlp_json(70)).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 429 and int(e.value.headers["Retry-After"]) >= 1
    assert json.loads(e.value.read())["code"] == 8


def otlp_json(n):
    spans = [{"traceId": f"{int(time.time()):08x}{i:024x}", "spanId": f"{i + 1:016x}", "name": "s", "kind": 2,
              "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 1000)} for i in range(n)]
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}


def test_json_logs_and_refusals_summarised(fresh_gateway):
    g = fresh_gateway("--log-format", "json")
    assert all(json.loads(line) for line in g.log), "every startup line is one JSON object"
    xray = g.client()
    bad = [json.dumps({"id": new_id(), "name": "x", "start_time": time.time()}) for _ in range(50)]
    for _ in range(4):
        assert len(xray.put_trace_segments(TraceSegmentDocuments=bad)["UnprocessedTraceSegments"]) == 50
    g.stop()
    rest = [json.loads(line) for line in g.proc.stdout.read().splitlines() if line.strip()]
    refusals = [e for e in rest if e.get("message") == "documents refused"]
    assert len(refusals) == 1, "200 refusals in under a second make one line"
    assert (refusals[0]["intake"], refusals[0]["reason"]) == ("put_trace_segments", "invalid_trace_id")
    assert "trace_id" in refusals[0]["example"]


def test_otlp_http_signed_with_sigv4_lands_in_the_signers_account(guarded):
    """As the collector's sigv4auth extension signs exports for X-Ray's OTLP endpoint."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    g, _ = guarded
    trace_id_hex = f"{int(time.time()):08x}{new_id()}{new_id()[:8]}"
    body = json.dumps(otlp_json(1)).replace(otlp_json(1)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"],
                                            trace_id_hex).encode()

    def send(secret):
        req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://{g.otlp['http']}/v1/traces", data=body,
                                             headers={"Content-Type": "application/json"})
        creds = botocore.credentials.Credentials("AKIATEAMB000000000002", secret)
        botocore.auth.SigV4Auth(creds, "xray", "eu-west-1").add_auth(req)
        p = req.prepare()
        return urllib.request.urlopen(urllib.request.Request(p.url, data=body, headers=dict(p.headers), method="POST"), timeout=5)

    with pytest.raises(urllib.error.HTTPError) as e:
        send("wrong")
    assert e.value.code == 401
    with send("secret-of-team-b") as r:
        assert r.status == 200
    b = client(g, "AKIATEAMB000000000002", "secret-of-team-b")
    trace_id = f"1-{trace_id_hex[:8]}-{trace_id_hex[8:]}"
    assert [t["Id"] for t in b.batch_get_traces(TraceIds=[trace_id])["Traces"]] == [trace_id]


@pytest.mark.parametrize("with_credentials", [False, True])
def test_listening_beyond_loopback_without_credentials_is_warned_about(guarded, with_credentials):
    import os
    import subprocess
    from conftest import BIN
    _, path = guarded
    args = [BIN, "--xray-listen", "0.0.0.0:0", "--otlp-grpc-listen", "off", "--otlp-http-listen", "off", "--daemon-listen", "off"]
    if with_credentials:
        args += ["--credentials-file", str(path)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "NO_COLOR": "1"})
    lines = []
    try:
        for line in p.stdout:
            lines.append(line)
            if line.startswith('{"ready":'):
                break
    finally:
        p.terminate()
        p.wait(timeout=20)
    warned = [line for line in lines if "beyond loopback without --credentials-file" in line]
    assert len(warned) == (0 if with_credentials else 1), lines


def test_the_ready_line_names_every_listener_and_a_taken_port_stops_the_start(gateway):
    import os
    import subprocess
    from conftest import BIN, ready_addresses
    ready = [ready_addresses(line) for line in gateway.log if ready_addresses(line) is not None]
    assert len(ready) == 1
    assert set(ready[0]) == {"xray", "otlp_grpc", "otlp_http", "daemon"}
    assert ready[0]["xray"] == gateway.address
    taken = subprocess.run([BIN, "--xray-listen", gateway.address, "--otlp-grpc-listen", "off", "--otlp-http-listen", "off",
                            "--daemon-listen", "off"], capture_output=True, text=True, timeout=30,
                           env={**os.environ, "NO_COLOR": "1"})
    assert taken.returncode != 0
    assert f"cannot listen on {gateway.address} for the X-Ray API" in taken.stderr + taken.stdout
    assert '{"ready"' not in taken.stdout
