"""Account settings, resource policies, insights, trace retrieval and tags, through boto3."""

import json
import time
import uuid

import botocore.exceptions
import pytest

from conftest import put, segment


def error_of(call, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(**kw)
    return e.value.response


def test_encryption_config_defaults_and_changes(fresh_gateway):
    xray = fresh_gateway().client(region="eu-central-1", key="123456789012")
    assert xray.get_encryption_config()["EncryptionConfig"] == {"Status": "ACTIVE", "Type": "NONE"}
    r = xray.put_encryption_config(Type="KMS", KeyId="alias/xray-key")["EncryptionConfig"]
    assert r == {"Status": "UPDATING", "Type": "KMS", "KeyId": "arn:aws:kms:eu-central-1:123456789012:alias/xray-key"}
    assert xray.get_encryption_config()["EncryptionConfig"]["Status"] == "ACTIVE"
    assert xray.get_encryption_config()["EncryptionConfig"]["KeyId"].endswith(":alias/xray-key")
    assert error_of(xray.put_encryption_config, Type="KMS")["Error"]["Code"] == "InvalidRequestException"
    assert error_of(xray.put_encryption_config, Type="AES")["Error"]["Code"] == "InvalidRequestException"
    xray.put_encryption_config(Type="NONE")
    assert xray.get_encryption_config()["EncryptionConfig"] == {"Status": "ACTIVE", "Type": "NONE"}


def test_trace_segment_destination_and_indexing_rules(fresh_gateway):
    xray = fresh_gateway().client()
    assert {k: v for k, v in xray.get_trace_segment_destination().items() if k != "ResponseMetadata"} == {"Destination": "XRay", "Status": "ACTIVE"}
    r = xray.update_trace_segment_destination(Destination="CloudWatchLogs")
    assert (r["Destination"], r["Status"]) == ("CloudWatchLogs", "PENDING")
    assert xray.get_trace_segment_destination()["Destination"] == "CloudWatchLogs"
    bad = error_of(xray.update_trace_segment_destination, Destination="CloudWatchLogs",
                   CloudWatchLogsConfiguration={"SpansLogGroupKmsKeyId": "alias/nope"})
    assert "key ARN" in bad["Error"]["Message"]
    [rule] = xray.get_indexing_rules()["IndexingRules"]
    assert rule["Name"] == "Default" and rule["Rule"]["Probabilistic"]["DesiredSamplingPercentage"] == 1.0
    up = xray.update_indexing_rule(Name="Default", Rule={"Probabilistic": {"DesiredSamplingPercentage": 25}})["IndexingRule"]
    assert up["Rule"]["Probabilistic"]["DesiredSamplingPercentage"] == 25
    missing = error_of(xray.update_indexing_rule, Name="Nope", Rule={"Probabilistic": {"DesiredSamplingPercentage": 5}})
    assert missing["Error"]["Code"] == "ResourceNotFoundException" and missing["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error_of(xray.update_indexing_rule, Name="Default", Rule={"Probabilistic": {"DesiredSamplingPercentage": 101}})["Error"]["Code"] == "InvalidRequestException"


def test_telemetry_records_are_accepted(xray):
    r = xray.put_telemetry_records(TelemetryRecords=[{"Timestamp": time.time(), "SegmentsReceivedCount": 3}], EC2InstanceId="i-1")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_resource_policies_with_revision_guards(fresh_gateway):
    xray = fresh_gateway().client()
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                              "Action": "xray:PutTraceSegments", "Resource": "*"}]})
    p = xray.put_resource_policy(PolicyName="sns-access", PolicyDocument=doc, PolicyRevisionId="0")["ResourcePolicy"]
    assert (p["PolicyName"], p["PolicyRevisionId"]) == ("sns-access", "1")
    assert error_of(xray.put_resource_policy, PolicyName="sns-access", PolicyDocument=doc, PolicyRevisionId="0")["Error"]["Code"] == "InvalidPolicyRevisionIdException"
    assert xray.put_resource_policy(PolicyName="sns-access", PolicyDocument=doc, PolicyRevisionId="1")["ResourcePolicy"]["PolicyRevisionId"] == "2"
    assert error_of(xray.put_resource_policy, PolicyName="x", PolicyDocument="not json")["Error"]["Code"] == "MalformedPolicyDocumentException"
    big = json.dumps({"Statement": [{"Sid": "a" * 6000}]})
    assert error_of(xray.put_resource_policy, PolicyName="x", PolicyDocument=big)["Error"]["Code"] == "PolicySizeLimitExceededException"
    for i in range(4):
        xray.put_resource_policy(PolicyName=f"p{i}", PolicyDocument=doc)
    assert error_of(xray.put_resource_policy, PolicyName="sixth", PolicyDocument=doc)["Error"]["Code"] == "PolicyCountLimitExceededException"
    assert len(xray.list_resource_policies()["ResourcePolicies"]) == 5
    assert error_of(xray.delete_resource_policy, PolicyName="sns-access", PolicyRevisionId="1")["Error"]["Code"] == "InvalidPolicyRevisionIdException"
    xray.delete_resource_policy(PolicyName="sns-access", PolicyRevisionId="2")
    assert "sns-access" not in [p["PolicyName"] for p in xray.list_resource_policies()["ResourcePolicies"]]


def test_insights_are_empty_and_unknown_ids_are_invalid(xray):
    now = time.time()
    assert xray.get_insight_summaries(StartTime=now - 3600, EndTime=now)["InsightSummaries"] == []
    iid = str(uuid.uuid4())
    assert error_of(xray.get_insight, InsightId=iid)["Error"]["Code"] == "InvalidRequestException"
    assert error_of(xray.get_insight_events, InsightId=iid)["Error"]["Code"] == "InvalidRequestException"
    wide = error_of(xray.get_insight_impact_graph, InsightId=iid, StartTime=now - 8 * 3600, EndTime=now)
    assert "6 hours" in wide["Error"]["Message"]
    assert "pattern" in error_of(xray.get_insight, InsightId="not-a-uuid")["Error"]["Message"]


def test_trace_retrieval_returns_stored_traces_in_the_window(xray):
    docs = [segment() for _ in range(7)]
    put(xray, *docs)
    now = time.time()
    ids = [d["trace_id"] for d in docs]
    token = xray.start_trace_retrieval(TraceIds=ids, StartTime=now - 600, EndTime=now + 60)["RetrievalToken"]
    pages = [xray.list_retrieved_traces(RetrievalToken=token)]
    while pages[-1].get("NextToken"):
        pages.append(xray.list_retrieved_traces(RetrievalToken=token, NextToken=pages[-1]["NextToken"]))
    assert all(p["RetrievalStatus"] == "COMPLETE" and p["TraceFormat"] == "XRAY" for p in pages)
    got = [t for p in pages for t in p["Traces"]]
    assert sorted(t["Id"] for t in got) == sorted(ids)
    assert json.loads(got[0]["Spans"][0]["Document"])["trace_id"] == got[0]["Id"]
    old = xray.start_trace_retrieval(TraceIds=ids, StartTime=now - 9000, EndTime=now - 8000)["RetrievalToken"]
    assert xray.list_retrieved_traces(RetrievalToken=old)["Traces"] == []
    xray.cancel_trace_retrieval(RetrievalToken=token)
    assert xray.list_retrieved_traces(RetrievalToken=token)["RetrievalStatus"] == "CANCELLED"
    assert error_of(xray.cancel_trace_retrieval, RetrievalToken="nope")["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(xray.list_retrieved_traces, RetrievalToken=token, TraceFormat="JSON")["Error"]["Code"] == "InvalidRequestException"


def test_tagging_an_unknown_resource_is_not_found(xray):
    arn = "arn:aws:xray:us-east-1:000000000000:group/none/ABC"
    r = error_of(xray.tag_resource, ResourceARN=arn, Tags=[{"Key": "team", "Value": "a"}])
    assert r["Error"]["Code"] == "ResourceNotFoundException" and r["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error_of(xray.list_tags_for_resource, ResourceARN=arn)["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(xray.tag_resource, ResourceARN=arn, Tags=[{"Key": "aws:x", "Value": "a"}])["Error"]["Code"] == "InvalidRequestException"


def test_retrieved_traces_graph(xray):
    from conftest import new_id, new_trace_id
    now = time.time() - 10
    t, call = new_trace_id(now), new_id()
    put(xray, segment(t, name="edge-api", start=now, end=now + 1,
                      subsegments=[{"id": call, "name": "db", "namespace": "remote", "start_time": now + 0.1, "end_time": now + 0.5}]))
    token = xray.start_trace_retrieval(TraceIds=[t], StartTime=now - 60, EndTime=now + 60)["RetrievalToken"]
    r = xray.get_retrieved_traces_graph(RetrievalToken=token)
    assert r["RetrievalStatus"] == "COMPLETE"
    names = sorted(s["Service"]["Name"] for s in r["Services"])
    assert names == ["client", "db", "edge-api"]
    assert all(s["Links"] == [] for s in r["Services"])
