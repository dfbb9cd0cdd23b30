"""The X-Ray SDK drop-in: the real aws-xray-sdk for Python sends segments over UDP to the
gateway's daemon address and fetches sampling rules and targets from its TCP side."""

import json
import socket
import time
import traceback

import boto3
import botocore
import botocore.exceptions
import pytest
from aws_xray_sdk.core.context import Context
from aws_xray_sdk.core.daemon_config import DaemonConfig
from aws_xray_sdk.core.recorder import AWSXRayRecorder
from aws_xray_sdk.core.sampling.sampler import DefaultSampler

from conftest import new_id, new_trace_id, segment, wait_for


def send(daemon, payload: bytes):
    host, port = daemon.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, (host, int(port)))


HEADER = b'{"format": "json", "version": 1}\n'


def test_sdk_segment_with_subsegment_arrives_with_everything(fresh_gateway):
    g = fresh_gateway()
    rec = AWSXRayRecorder()
    rec.configure(daemon_address=g.daemon, sampling=False, context_missing="LOG_ERROR", service="sdk-shop")
    seg = rec.begin_segment("sdk-shop")
    seg.put_annotation("customer", "alice")
    seg.put_metadata("cart", {"items": 3}, "shop")
    seg.put_http_meta("url", "http://shop.example.com/cart")
    seg.put_http_meta("method", "POST")
    sub = rec.begin_subsegment("inventory-db", namespace="remote")
    try:
        raise ValueError("inventory unavailable")
    except ValueError as e:
        sub.add_exception(e, traceback.extract_stack())
    rec.end_subsegment()
    seg.put_http_meta("status", 500)
    rec.end_segment()

    xray = g.client()
    found = wait_for(lambda: xray.batch_get_traces(TraceIds=[seg.trace_id])["Traces"])
    assert found, "the segment sent over UDP is readable through the API"
    docs = [json.loads(s["Document"]) for s in found[0]["Segments"]]
    [doc] = [d for d in docs if not d.get("inferred")]
    assert doc["name"] == "sdk-shop" and doc["annotations"] == {"customer": "alice"}
    assert doc["metadata"]["shop"]["cart"] == {"items": 3}
    assert doc["http"]["request"]["method"] == "POST" and doc["http"]["response"]["status"] == 500
    assert doc["fault"] is True
    [db] = doc["subsegments"]
    assert db["name"] == "inventory-db" and db["namespace"] == "remote"
    assert db["cause"]["exceptions"][0]["type"] == "ValueError"
    assert db["cause"]["exceptions"][0]["message"] == "inventory unavailable"
    assert any(d.get("inferred") and d["name"] == "inventory-db" for d in docs)

    now = time.time()
    [summary] = [s for s in xray.get_trace_summaries(StartTime=now - 600, EndTime=now + 60)["TraceSummaries"] if s["Id"] == seg.trace_id]
    assert summary["HasFault"] is True and summary["Http"]["HttpStatus"] == 500
    assert summary["Annotations"]["customer"][0]["AnnotationValue"] == {"StringValue": "alice"}
    fault = summary["FaultRootCauses"][0]["Services"][0]["EntityPath"][-1]
    assert fault["Name"] == "inventory-db" and fault["Exceptions"][0]["Name"] == "ValueError"


def rule(name, priority, path, rate, reservoir):
    return {"RuleName": name, "Priority": priority, "FixedRate": rate, "ReservoirSize": reservoir, "ServiceName": "sampled-svc",
            "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": path, "ResourceARN": "*", "Version": 1}


def test_sdk_fetches_rules_over_tcp_and_obeys_them(fresh_gateway):
    g = fresh_gateway()
    xray = g.client()
    xray.create_sampling_rule(SamplingRule=rule("never", 1, "/nosample*", 0.0, 0))
    xray.create_sampling_rule(SamplingRule=rule("always", 2, "/always*", 1.0, 0))
    sampler = DefaultSampler()
    sampler.load_settings(DaemonConfig(g.daemon), Context())
    sampler.start()
    names = wait_for(lambda: sorted(r.name for r in sampler._cache.rules) if sampler._cache.rules else None)
    assert names == ["Default", "always", "never"]
    req = lambda path: {"host": "shop.local", "method": "GET", "path": path, "service": "sampled-svc"}
    assert [sampler.should_trace(req("/nosample/x")) for _ in range(200)] == [False] * 200
    assert [sampler.should_trace(req("/always/y")) for _ in range(200)] == ["always"] * 200
    # The SDK's own target request, through the daemon's TCP side.
    targets, last_modified = sampler._connector.fetch_sampling_target(sampler._cache.rules)
    assert set(targets) >= {"never", "always"} and last_modified > 0
    assert targets["always"]["rate"] == 1.0 and targets["never"]["quota"] == 0
    summaries = {s["RuleName"]: s for s in xray.get_sampling_statistic_summaries()["SamplingStatisticSummaries"]}
    assert summaries["always"]["RequestCount"] == 200 and summaries["always"]["SampledCount"] == 200
    assert summaries["never"]["RequestCount"] == 200 and summaries["never"]["SampledCount"] == 0


def test_bad_datagrams_are_counted_and_the_listener_keeps_going(fresh_gateway):
    g = fresh_gateway()
    send(g.daemon, b"no header here\n{}")
    send(g.daemon, b'{"format": "json", "version": 2}\n{}')
    send(g.daemon, HEADER)
    send(g.daemon, HEADER + b"{not json")
    send(g.daemon, HEADER + json.dumps({"name": "x", "id": "short"}).encode())
    good = segment()
    send(g.daemon, HEADER + json.dumps(good).encode())
    assert wait_for(lambda: g.client().batch_get_traces(TraceIds=[good["trace_id"]])["Traces"])
    udp = wait_for(lambda: g.health()["daemon_udp"] if g.health()["daemon_udp"]["documents_refused"] == 2 else None)
    assert udp == {"datagrams": 6, "documents_stored": 1, "bad_header": 2, "missing_document": 1, "documents_refused": 2}


def test_tcp_side_serves_the_whole_api_unsigned(fresh_gateway):
    g = fresh_gateway()
    client = boto3.client("xray", endpoint_url=f"http://{g.daemon}", region_name="us-east-1",
                          config=botocore.config.Config(signature_version=botocore.UNSIGNED))
    doc = segment()
    assert client.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])["UnprocessedTraceSegments"] == []
    assert g.client().batch_get_traces(TraceIds=[doc["trace_id"]])["Traces"]
    assert client.get_sampling_rules()["SamplingRuleRecords"][0]["SamplingRule"]["RuleName"] == "Default"


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response


def test_sampling_rule_management(fresh_gateway):
    xray = fresh_gateway().client()
    [default] = xray.get_sampling_rules()["SamplingRuleRecords"]
    d = default["SamplingRule"]
    assert (d["RuleName"], d["Priority"], d["FixedRate"], d["ReservoirSize"], d["Version"]) == ("Default", 10000, 0.05, 1, 1)
    assert d["RuleARN"] == "arn:aws:xray:us-east-1:000000000000:sampling-rule/Default"
    rec = xray.create_sampling_rule(SamplingRule=rule("api", 10, "/api/*", 0.2, 5), Tags=[{"Key": "team", "Value": "shop"}])["SamplingRuleRecord"]
    arn = rec["SamplingRule"]["RuleARN"]
    assert arn.endswith(":sampling-rule/api") and rec["SamplingRule"]["Attributes"] == {}
    assert xray.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "shop"}]
    assert error_of(xray.create_sampling_rule, SamplingRule=rule("api", 10, "/", 0.1, 1))["Error"]["Code"] == "InvalidRequestException"
    assert error_of(xray.create_sampling_rule, SamplingRule={**rule("bad", 10000, "/", 0.1, 1)})["Error"]["Code"] == "InvalidRequestException"
    assert error_of(xray.create_sampling_rule, SamplingRule={**rule("bad", 1, "/", 1.5, 1)})["Error"]["Code"] == "InvalidRequestException"
    up = xray.update_sampling_rule(SamplingRuleUpdate={"RuleARN": arn, "FixedRate": 0.7})["SamplingRuleRecord"]["SamplingRule"]
    assert (up["FixedRate"], up["URLPath"], up["Priority"]) == (0.7, "/api/*", 10)
    assert error_of(xray.update_sampling_rule, SamplingRuleUpdate={"RuleName": "Default", "Host": "x"})["Error"]["Code"] == "InvalidRequestException"
    assert xray.update_sampling_rule(SamplingRuleUpdate={"RuleName": "Default", "FixedRate": 0.1})["SamplingRuleRecord"]["SamplingRule"]["FixedRate"] == 0.1
    assert error_of(xray.delete_sampling_rule, RuleName="Default")["Error"]["Code"] == "InvalidRequestException"
    for i in range(24):
        xray.create_sampling_rule(SamplingRule=rule(f"r{i}", 100 + i, "/", 0.1, 1))
    limit = error_of(xray.create_sampling_rule, SamplingRule=rule("r-over", 200, "/", 0.1, 1))
    assert limit["Error"]["Code"] == "RuleLimitExceededException"
    assert len(xray.get_sampling_rules()["SamplingRuleRecords"]) == 26
    deleted = xray.delete_sampling_rule(RuleName="api")["SamplingRuleRecord"]["SamplingRule"]
    assert deleted["RuleName"] == "api"
    assert error_of(xray.list_tags_for_resource, ResourceARN=arn)["Error"]["Code"] == "ResourceNotFoundException"


def test_targets_split_the_reservoir_between_clients(fresh_gateway):
    xray = fresh_gateway().client()
    xray.create_sampling_rule(SamplingRule=rule("split", 1, "/", 0.25, 9))
    now = time.time()
    doc = lambda client: {"RuleName": "split", "ClientID": client * 24, "Timestamp": now, "RequestCount": 10, "SampledCount": 2, "BorrowCount": 0}
    xray.get_sampling_targets(SamplingStatisticsDocuments=[doc("a")])
    r = xray.get_sampling_targets(SamplingStatisticsDocuments=[doc("b")])
    t = r["SamplingTargetDocuments"][0]
    assert (t["RuleName"], t["FixedRate"], t["Interval"]) == ("split", 0.25, 10)
    a = xray.get_sampling_targets(SamplingStatisticsDocuments=[doc("a")])["SamplingTargetDocuments"][0]["ReservoirQuota"]
    assert sorted([a, t["ReservoirQuota"]]) == [4, 5]
    assert t["ReservoirQuotaTTL"].timestamp() > now
    assert "LastRuleModification" in r
    missing = xray.get_sampling_targets(SamplingStatisticsDocuments=[{**doc("a"), "RuleName": "gone"}])
    assert missing["SamplingTargetDocuments"] == [] and missing["UnprocessedStatistics"][0]["RuleName"] == "gone"
