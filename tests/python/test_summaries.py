"""GetTraceSummaries: every summary field, the three time-range types, paging and sampling."""

import time

import botocore.exceptions
import pytest

from conftest import new_id, new_trace_id, put, segment, summaries, summary_of


def test_every_summary_field_from_a_two_service_trace(xray):
    t = new_trace_id()
    s0 = time.time() - 10
    call_id, ddb_id, leaf_id = new_id(), new_id(), new_id()
    front = segment(
        t, name="front", start=s0, end=s0 + 2.0, origin="AWS::EC2::Instance", user="alice", fault=True,
        resource_arn="arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
        http={"request": {"method": "POST", "url": "https://front.example/api", "user_agent": "curl/8", "client_ip": "10.0.0.9"},
              "response": {"status": 502}},
        aws={"account_id": "123456789012", "ec2": {"instance_id": "i-0abc", "availability_zone": "us-east-1a"}},
        annotations={"tenant": "t3", "retries": 2, "vip": True},
        subsegments=[
            {"id": call_id, "name": "back", "namespace": "remote", "start_time": s0 + 0.2, "end_time": s0 + 1.8, "fault": True,
             "http": {"request": {"method": "GET", "url": "http://back/"}, "response": {"status": 500}}},
            {"id": ddb_id, "name": "DynamoDB", "namespace": "aws", "start_time": s0 + 0.05, "end_time": s0 + 0.1, "throttle": True,
             "error": True, "aws": {"operation": "GetItem", "table_name": "users"}},
        ],
    )
    back = segment(
        t, name="back", start=s0 + 0.3, end=s0 + 2.5, parent_id=call_id, fault=True,
        aws={"ecs": {"availability_zone": "us-east-1b", "container_arn": "arn:aws:ecs:us-east-1:123456789012:container/x"}},
        annotations={"tenant": "t3", "stage": "beta"},
        subsegments=[{"id": leaf_id, "name": "query", "start_time": s0 + 0.4, "end_time": s0 + 1.6, "fault": True,
                      "cause": {"exceptions": [{"id": new_id(), "type": "TimeoutError", "message": "db timed out"}]}}],
    )
    assert put(xray, front, back) == []
    s = summary_of(xray, t)
    front_id = {"Name": "front", "Names": ["front"], "AccountId": "123456789012", "Type": "AWS::EC2::Instance"}
    back_id = {"Name": "back", "Names": ["back"]}
    assert s["Id"] == t
    assert s["StartTime"].timestamp() == pytest.approx(s0, abs=1e-5)
    assert s["Duration"] == pytest.approx(2.5, abs=5e-6)  # microsecond storage
    assert s["ResponseTime"] == pytest.approx(2.0, abs=5e-6)
    assert (s["HasFault"], s["HasError"], s["HasThrottle"], s["IsPartial"]) == (True, False, True, False)
    assert s["Http"] == {"HttpURL": "https://front.example/api", "HttpStatus": 502, "HttpMethod": "POST",
                         "UserAgent": "curl/8", "ClientIp": "10.0.0.9"}
    assert s["EntryPoint"] == front_id
    assert sorted(s["ServiceIds"], key=lambda x: x["Name"]) == [
        back_id, front_id, {"Name": "users", "Names": ["users"], "Type": "AWS::DynamoDB::Table"}]
    tenant = s["Annotations"]["tenant"]
    assert len(tenant) == 1 and tenant[0]["AnnotationValue"] == {"StringValue": "t3"}
    assert sorted(x["Name"] for x in tenant[0]["ServiceIds"]) == ["back", "front"]
    assert s["Annotations"]["retries"][0]["AnnotationValue"] == {"NumberValue": 2.0}
    assert s["Annotations"]["vip"][0]["AnnotationValue"] == {"BooleanValue": True}
    assert s["Annotations"]["stage"][0]["ServiceIds"] == [back_id]
    assert s["Users"] == [{"UserName": "alice", "ServiceIds": [front_id]}]
    assert sorted(a["ARN"] for a in s["ResourceARNs"]) == sorted([
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc", "arn:aws:ecs:us-east-1:123456789012:container/x"])
    assert s["InstanceIds"] == [{"Id": "i-0abc"}]
    assert sorted(z["Name"] for z in s["AvailabilityZones"]) == ["us-east-1a", "us-east-1b"]
    [fault] = s["FaultRootCauses"]
    assert fault["ClientImpacting"] is True
    [svc] = fault["Services"]
    assert svc["Name"] == "back" and svc["Inferred"] is False
    assert [e["Name"] for e in svc["EntityPath"]] == ["back", "query"]
    assert svc["EntityPath"][-1]["Exceptions"] == [{"Name": "TimeoutError", "Message": "db timed out"}]
    [err] = s["ErrorRootCauses"]
    assert err["ClientImpacting"] is False
    assert [e["Name"] for e in err["Services"][0]["EntityPath"]] == ["front", "DynamoDB"]
    assert err["Services"][0]["EntityPath"][-1]["Remote"] is True
    [rt] = s["ResponseTimeRootCauses"]
    assert [x["Name"] for x in rt["Services"]] == ["front", "back"]
    assert rt["Services"][0]["EntityPath"][0]["Coverage"] == pytest.approx(1.0)
    assert rt["Services"][1]["EntityPath"][-1]["Name"] == "query"
    assert s["Revision"] >= 1


def test_traced_call_without_callee_segment_is_partial(xray):
    t = new_trace_id()
    call = {"id": new_id(), "name": "svc-b", "namespace": "remote", "start_time": time.time() - 0.5, "end_time": time.time() - 0.4,
            "http": {"request": {"url": "http://b/", "method": "GET", "traced": True}}}
    put(xray, segment(t, subsegments=[call]))
    assert summary_of(xray, t)["IsPartial"] is True
    put(xray, segment(t, name="svc-b", parent_id=call["id"]))
    assert summary_of(xray, t)["IsPartial"] is False


def test_revision_rises_with_each_change(xray):
    t = new_trace_id()
    put(xray, segment(t))
    r1 = summary_of(xray, t)["Revision"]
    put(xray, segment(t, name="other"))
    assert summary_of(xray, t)["Revision"] == r1 + 1


def test_newest_first_and_paging_through_150_traces_never_repeats_or_skips(fresh_gateway):
    g = fresh_gateway()
    xray = g.client()
    base = time.time() - 1000
    docs = [segment(start=base + i, end=base + i + 0.5) for i in range(150)]
    for i in range(0, 150, 50):
        assert put(xray, *docs[i:i + 50]) == []
    kw = dict(StartTime=base - 1, EndTime=base + 200)
    seen, tokens = [], []
    page = xray.get_trace_summaries(**kw)
    assert page["TracesProcessedCount"] == len(page["TraceSummaries"])
    while True:
        seen += [s["Id"] for s in page["TraceSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
        assert token not in tokens
        tokens.append(token)
        page = xray.get_trace_summaries(NextToken=token, **kw)
    assert len(tokens) >= 1
    expected = [d["trace_id"] for d in reversed(docs)]
    assert seen == expected, "newest first, each trace exactly once"
    # the paginator and the CLI replay the parameters with each token
    assert [s["Id"] for s in summaries(xray, StartTime=kw["StartTime"], EndTime=kw["EndTime"])] == expected


def test_time_range_types(fresh_gateway):
    xray = fresh_gateway().client()
    now = time.time()
    old_long = segment(start=now - 3600, end=now - 100)  # began long ago, ended recently
    recent = segment(start=now - 50, end=now - 40)
    put(xray, old_long, recent)
    by = lambda rt, a, b: {s["Id"] for s in summaries(xray, StartTime=a, EndTime=b, TimeRangeType=rt)}
    assert by("TraceId", now - 200, now) == {recent["trace_id"]}
    assert by("Service", now - 200, now) == {recent["trace_id"], old_long["trace_id"]}
    assert by("Event", now - 200, now) == {recent["trace_id"], old_long["trace_id"]}
    assert by("Event", now - 2000, now - 1000) == {old_long["trace_id"]}, "active in the window though it started before"
    assert by("Service", now - 2000, now - 1000) == set()
    ev = summaries(xray, StartTime=now - 2000, EndTime=now - 1000, TimeRangeType="Event")[0]
    assert ev["MatchedEventTime"].timestamp() == pytest.approx(now - 1000, abs=1e-5)


def test_fixed_rate_sampling_returns_a_stable_subset(fresh_gateway):
    xray = fresh_gateway().client()
    docs = [segment() for _ in range(200)]
    for i in range(0, 200, 50):
        put(xray, *docs[i:i + 50])
    all_ids = {s["Id"] for s in summaries(xray)}
    half = {s["Id"] for s in summaries(xray, Sampling=True, SamplingStrategy={"Name": "FixedRate", "Value": 0.5})}
    assert half < all_ids and 50 < len(half) < 150
    again = {s["Id"] for s in summaries(xray, Sampling=True, SamplingStrategy={"Name": "FixedRate", "Value": 0.5})}
    assert again == half
    none = summaries(xray, Sampling=True, SamplingStrategy={"Name": "FixedRate", "Value": 0.0})
    assert len(none) <= 1


def test_bad_requests_are_invalid_request_exceptions(xray):
    now = time.time()
    cases = [
        dict(StartTime=now, EndTime=now - 10),
        dict(StartTime=now - 10, EndTime=now, FilterExpression='service("api") {'),
        dict(StartTime=now - 10, EndTime=now, NextToken="garbage"),
        dict(StartTime=now - 10, EndTime=now, SamplingStrategy={"Name": "Nope", "Value": 1}),
    ]
    for kw in cases:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            xray.get_trace_summaries(**kw)
        assert e.value.response["Error"]["Code"] == "InvalidRequestException", kw
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert e.value.response["Error"]["Message"]


def test_token_from_another_query_is_refused(fresh_gateway):
    xray = fresh_gateway().client()
    base = time.time() - 500
    docs = [segment(start=base + i) for i in range(120)]
    for i in range(0, 120, 40):
        put(xray, *docs[i:i + 40])
    token = xray.get_trace_summaries(StartTime=base - 1, EndTime=base + 200)["NextToken"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.get_trace_summaries(StartTime=base - 2, EndTime=base + 200, NextToken=token)
    assert "does not belong to this query" in e.value.response["Error"]["Message"]
