"""The X-Ray getting-started walkthrough, typed as a newcomer would: with awslocal and with
`aws --endpoint-url`, both the real command-line clients."""

import json
import os
import subprocess
import time

from conftest import new_id, new_trace_id


def run(argv, gateway, env_extra=None):
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DISABLE_DEPRECATION_NOTICE": "1",
        **(env_extra or {}),
    }
    env.pop("AWS_ENDPOINT_URL", None)
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    return p


def walkthrough(cli, gateway):
    trace_id = new_trace_id()
    now = time.time()
    doc = json.dumps({
        "trace_id": trace_id, "id": new_id(), "start_time": now - 1.2, "end_time": now,
        "name": "Scorekeep", "http": {"request": {"method": "GET", "url": "http://scorekeep/api/game"},
                                       "response": {"status": 200}},
    })
    p = run(cli + ["xray", "put-trace-segments", "--trace-segment-documents", doc], gateway)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["UnprocessedTraceSegments"] == []

    EPOCH = int(time.time())
    p = run(cli + ["xray", "get-trace-summaries", "--start-time", str(EPOCH - 600), "--end-time", str(EPOCH + 5)], gateway)
    assert p.returncode == 0, p.stderr
    ids = [s["Id"] for s in json.loads(p.stdout)["TraceSummaries"]]
    assert trace_id in ids

    p = run(cli + ["xray", "batch-get-traces", "--trace-ids", trace_id], gateway)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert [t["Id"] for t in out["Traces"]] == [trace_id]
    seg = json.loads(out["Traces"][0]["Segments"][0]["Document"])
    assert seg["name"] == "Scorekeep" and seg["http"]["response"]["status"] == 200
    # Times are kept to the microsecond, so two roundings can move a duration by 2 µs.
    assert abs(out["Traces"][0]["Duration"] - 1.2) <= 2e-6


def test_walkthrough_with_aws_endpoint_url(gateway):
    walkthrough(["aws", "--endpoint-url", gateway.url], gateway)


def test_walkthrough_with_awslocal(gateway):
    # awslocal inserts --endpoint-url from LOCALSTACK_HOST (default localhost:4566); pointing it
    # at the test port keeps the default machinery in play.
    host, port = gateway.address.rsplit(":", 1)
    env = {"LOCALSTACK_HOST": f"{host}:{port}"}
    trace_id = new_trace_id()
    now = time.time()
    doc = json.dumps({"trace_id": trace_id, "id": new_id(), "start_time": now - 1, "end_time": now, "name": "awslocal-svc"})
    p = run(["awslocal", "xray", "put-trace-segments", "--trace-segment-documents", doc], gateway, env)
    assert p.returncode == 0, p.stderr
    p = run(["awslocal", "xray", "get-trace-summaries", "--start-time", str(int(now) - 600), "--end-time", str(int(now) + 5)], gateway, env)
    assert p.returncode == 0, p.stderr
    assert trace_id in [s["Id"] for s in json.loads(p.stdout)["TraceSummaries"]]
    p = run(["awslocal", "xray", "batch-get-traces", "--trace-ids", trace_id], gateway, env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Traces"][0]["Id"] == trace_id


def test_cli_shows_service_errors_with_code_and_message(gateway):
    p = run(["aws", "--endpoint-url", gateway.url, "xray", "get-trace-summaries",
             "--start-time", "100", "--end-time", "200", "--time-range-type", "Nope"], gateway)
    assert p.returncode == 255
    assert "An error occurred (InvalidRequestException) when calling the GetTraceSummaries operation" in p.stderr
    assert "Member must satisfy enum value set: [TraceId, Event, Service]" in p.stderr


def test_cli_auto_paginates_batch_get_traces(gateway):
    ids = [new_trace_id() for _ in range(12)]
    now = time.time()
    docs = [json.dumps({"trace_id": t, "id": new_id(), "start_time": now - 1, "end_time": now, "name": "pager"}) for t in ids]
    p = run(["aws", "--endpoint-url", gateway.url, "xray", "put-trace-segments", "--trace-segment-documents", *docs], gateway)
    assert p.returncode == 0, p.stderr
    p = run(["aws", "--endpoint-url", gateway.url, "xray", "batch-get-traces", "--trace-ids", *ids], gateway)
    assert p.returncode == 0, p.stderr
    assert sorted(t["Id"] for t in json.loads(p.stdout)["Traces"]) == sorted(ids)
