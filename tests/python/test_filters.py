"""Filter expressions through boto3: at least one case per keyword family, each asserting the
exact set of traces returned, plus errors with positions."""

import time

import botocore.exceptions
import pytest

from conftest import new_id, new_trace_id, put, segment, summaries

NOW = time.time()


def make_traces():
    """Six traces with known facts; returns name -> trace id."""
    t = {}

    def add(name, *docs):
        t[name] = docs[0]["trace_id"]
        return docs

    s = NOW - 60
    ok_id = new_trace_id()
    ok = add("ok", segment(ok_id, name="api", start=s, end=s + 0.2, user="alice",
                           http={"request": {"method": "GET", "url": "https://shop/api/game/1", "user_agent": "curl/8", "client_ip": "10.0.0.1"},
                                 "response": {"status": 200}},
                           annotations={"gameid": "817DL6VO", "age": 31, "vip": True},
                           aws={"ec2": {"instance_id": "i-0abc", "availability_zone": "us-east-1a"}}))
    slow_id = new_trace_id()
    call = new_id()
    slow = add("slow", segment(slow_id, name="api", start=s + 1, end=s + 7, http={"request": {"method": "POST", "url": "https://shop/api/v2/cart"}, "response": {"status": 200}},
                               annotations={"age": 25}, resource_arn="arn:aws:lambda:us-east-1:1:function:f",
                               subsegments=[{"id": call, "name": "backend", "namespace": "remote", "start_time": s + 1.5, "end_time": s + 6.5}]),
               segment(slow_id, name="backend", start=s + 1.6, end=s + 6.4, parent_id=call, user="bob"))
    fault_id = new_trace_id()
    call2, q = new_id(), new_id()
    fault = add("fault", segment(fault_id, name="api", start=s + 2, end=s + 3, fault=True, http={"response": {"status": 502}},
                                 subsegments=[{"id": call2, "name": "backend", "namespace": "remote", "start_time": s + 2.1, "end_time": s + 2.9, "fault": True}]),
                segment(fault_id, name="backend", start=s + 2.2, end=s + 2.8, parent_id=call2, fault=True,
                        subsegments=[{"id": q, "name": "deserialize", "start_time": s + 2.3, "end_time": s + 2.7, "fault": True,
                                      "cause": {"exceptions": [{"id": new_id(), "type": "ValueError", "message": "bad payload"}]}}]))
    err = add("error", segment(new_trace_id(), name="web", start=s + 3, end=s + 3.1, error=True, http={"response": {"status": 404}}))
    throttled = add("throttle", segment(new_trace_id(), name="web", start=s + 4, end=s + 4.5,
                                        subsegments=[{"id": new_id(), "name": "DynamoDB", "namespace": "aws", "start_time": s + 4.1, "end_time": s + 4.2,
                                                      "throttle": True, "aws": {"operation": "GetItem", "table_name": "scores"}, "http": {"response": {"status": 429}}}]))
    partial = add("partial", segment(new_trace_id(), name="worker", start=s + 5, in_progress=True))
    return t, [*ok, *slow, *fault, *err, *throttled, *partial]


@pytest.fixture(scope="module")
def world(fresh_gateway_module):
    g = fresh_gateway_module()
    xray = g.client()
    names, docs = make_traces()
    assert put(xray, *docs) == []
    return xray, names


def ids(xray, expr):
    return {s["Id"] for s in summaries(xray, window=600, FilterExpression=expr)}


CASES = [
    # boolean keywords
    ("fault", {"fault"}),
    ("error", {"error"}),
    ("throttle", {"throttle"}),
    ("partial", {"partial"}),
    ("inferred", {"throttle"}),
    ("ok", {"ok", "slow", "partial"}),
    ("ok !partial", {"ok", "slow"}),
    ("fault = false AND error != true AND !partial", {"ok", "slow", "throttle"}),
    # number keywords
    ("responsetime > 5", {"slow"}),
    ("duration >= 0.5 AND duration <= 1", {"fault", "throttle"}),
    ("http.status != 200", {"fault", "error"}),
    ("http.status = 502", {"fault"}),
    # string keywords
    ('http.url CONTAINS "/api/game/"', {"ok"}),
    ('http.url BEGINSWITH "https://shop/" AND http.url CONTAINS "/v2/"', {"slow"}),
    ('http.method = "POST"', {"slow"}),
    ('http.useragent ENDSWITH "/8" AND http.clientip = "10.0.0.1"', {"ok"}),
    ('user = "bob"', {"slow"}),
    ('user CONTAINS ""', {"ok", "slow"}),
    ('availabilityzone = "us-east-1a" AND instance.id BEGINSWITH "i-"', {"ok"}),
    ('resource.arn ENDSWITH ":function:f"', {"slow"}),
    ("http.url AND responseTime > 2", {"slow"}),
    # annotations
    ('annotation.gameid = "817DL6VO"', {"ok"}),
    ("annotation.age > 29", {"ok"}),
    ("annotation.age", {"ok", "slow"}),
    ("!annotation.age", {"fault", "error", "throttle", "partial"}),
    ("annotation.vip = true", {"ok"}),
    # service, edge and id()
    ('service("backend")', {"slow", "fault"}),
    ('service("backend") { fault }', {"fault"}),
    ('!service("backend")', {"ok", "error", "throttle", "partial"}),
    ("service() { fault }", {"fault"}),
    ('service("api") { root AND responsetime > 5 }', {"slow"}),
    ('service(id(type: "AWS::DynamoDB::Table")) { throttle }', {"throttle"}),
    ('edge("api", "backend") { fault }', {"fault"}),
    ('edge("api", "backend")', {"slow", "fault"}),
    # root causes
    ('rootcause.fault.entity { last AND name = "deserialize" }', {"fault"}),
    ('rootcause.fault.exception { message CONTAINS "payload" }', {"fault"}),
    ('rootcause.responsetime.service { last AND name = "backend" }', {"slow", "fault"}),
    ('rootcause.json = #[{"Services": [{"Name": "backend", "EntityPath": [{"Name": "backend"}, {"Name": "deserialize"}]}]}]', {"fault"}),
    # combinations and case
    ("(fault OR error) AND http.status >= 500", {"fault"}),
    ("FAULT or THROTTLE", {"fault", "throttle"}),
]


@pytest.mark.parametrize("expr, expected", CASES)
def test_filter_returns_exactly(world, expr, expected):
    xray, names = world
    assert ids(xray, expr) == {names[n] for n in expected}


@pytest.mark.parametrize("expr, message", [
    ("responsetime >", "expected a value after '>' at 14"),
    ('service("a") {', "expected a condition"),
    ("annotation.age ENDSWITH 3", "'ENDSWITH' does not apply to 3 at 24"),
    ('group.name = "nope"', 'group "nope" does not exist'),
])
def test_invalid_filters_are_invalid_request_exceptions(world, expr, message):
    xray, _ = world
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.get_trace_summaries(StartTime=NOW - 600, EndTime=NOW + 60, FilterExpression=expr)
    err = e.value.response
    assert err["Error"]["Code"] == "InvalidRequestException" and err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in err["Error"]["Message"], err["Error"]["Message"]


def test_filter_with_cli_pagination(world):
    import json
    import os
    import subprocess
    xray, names = world
    endpoint = xray.meta.endpoint_url
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    p = subprocess.run(["aws", "--endpoint-url", endpoint, "xray", "get-trace-summaries", "--start-time", str(int(NOW - 600)),
                        "--end-time", str(int(NOW + 60)), "--filter-expression", 'service("backend") { fault }'],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert [s["Id"] for s in json.loads(p.stdout)["TraceSummaries"]] == [names["fault"]]
