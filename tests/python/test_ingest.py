"""PutTraceSegments: per-document validation, and the merge rules that make segments sharing a
trace ID one trace (spec §4.3–4.4)."""

import json
import pathlib
import time

import botocore.exceptions
import pytest

from conftest import new_id, new_trace_id, put, segment, summary_of, trace_docs

# Real documents captured from the X-Ray SDKs, with the expected outcome of each in its README.
CORPUS = pathlib.Path(__file__).resolve().parents[1] / "corpus" / "xray-segments"
REJECTED = {"segmentValidationFailed.txt", "minCauseIsInvalid.txt"}


def corpus_files():
    files = sorted(CORPUS.glob("*.txt"))
    assert files, f"the corpus is missing from {CORPUS}"
    return files


def test_real_sdk_documents_are_accepted_or_rejected_as_x_ray_does(fresh_gateway):
    # A gateway of its own: corpus files share trace and segment IDs with each other.
    for f in corpus_files():
        client = fresh_gateway().client()
        text = f.read_text()
        unprocessed = put(client, text)
        doc = json.loads(text)
        if f.name in REJECTED:
            assert len(unprocessed) == 1, f.name
            assert unprocessed[0]["Id"] == doc["id"]
            assert unprocessed[0]["ErrorCode"] == "InvalidSegment"
            assert unprocessed[0]["Message"]
            continue
        assert unprocessed == [], (f.name, unprocessed)
        r = client.batch_get_traces(TraceIds=[doc["trace_id"]])
        assert len(r["Traces"]) == 1, f.name
        docs = [json.loads(s["Document"]) for s in r["Traces"][0]["Segments"]]
        found = [d for d in docs if d["id"] == doc["id"]]
        assert found, (f.name, docs)
        assert "Dummy" not in found[0], "fields outside the schema are dropped on read"
        assert found[0]["name"] == doc["name"]


def test_missing_start_time_message_names_the_field(xray):
    bad = segment()
    del bad["start_time"]
    [u] = put(xray, bad)
    assert u == {"Id": bad["id"], "ErrorCode": "InvalidSegment", "Message": "Missing required field 'start_time'."}


@pytest.mark.parametrize(
    "mutate, code, fragment",
    [
        (lambda d: d.update(id="xyz"), "InvalidSegment", "'id'"),
        (lambda d: d.pop("id"), "InvalidSegment", "'id'"),
        (lambda d: d.update(trace_id="1-abc"), "InvalidTraceId", "trace_id"),
        (lambda d: d.pop("trace_id"), "InvalidTraceId", "trace_id"),
        (lambda d: d.update(name="a" * 201), "InvalidSegment", "200 characters"),
        (lambda d: d.update(name="bad|name"), "InvalidSegment", "'|'"),
        (lambda d: d.pop("name"), "InvalidSegment", "'name'"),
        (lambda d: (d.pop("end_time"), d.update(in_progress=False)), "InvalidSegment", "end_time"),
        (lambda d: d.update(end_time=d["start_time"] - 1), "InvalidSegment", "before"),
        (lambda d: d.update(type="subsegment"), "InvalidSegment", "parent_id"),
        (lambda d: d.update(type="segment"), "InvalidSegment", "'type'"),
        (lambda d: d.update(metadata={"big": "x" * 70000}), "InvalidSegment", "64 KB"),
        (lambda d: d.update(subsegments=[{"id": new_id(), "name": "s", "start_time": 1, "in_progress": False}]), "InvalidSegment", "subsegments[0].end_time"),
    ],
)
def test_each_invalid_document_is_refused_while_its_neighbours_are_stored(xray, mutate, code, fragment):
    good = segment()
    bad = segment()
    mutate(bad)
    unprocessed = put(xray, good, bad)
    assert len(unprocessed) == 1
    assert unprocessed[0]["ErrorCode"] == code
    assert fragment in unprocessed[0]["Message"], unprocessed[0]["Message"]
    trace, docs = trace_docs(xray, good["trace_id"])
    assert docs[0]["id"] == good["id"]


def test_non_json_and_non_object_documents_are_refused(xray):
    good = segment()
    unprocessed = put(xray, "this is not json", "[1,2]", json.dumps(good))
    assert [u["ErrorCode"] for u in unprocessed] == ["InvalidSegment", "InvalidSegment"]
    assert "JSON object" in unprocessed[0]["Message"] + unprocessed[1]["Message"]
    trace_docs(xray, good["trace_id"])


def test_more_than_fifty_documents_is_a_request_error(xray):
    docs = [json.dumps(segment()) for _ in range(51)]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.put_trace_segments(TraceSegmentDocuments=docs)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "50" in e.value.response["Error"]["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert len(xray.put_trace_segments(TraceSegmentDocuments=docs[:50])["UnprocessedTraceSegments"]) == 0


def test_subsegment_sent_before_its_parent_joins_the_trace(xray):
    t = new_trace_id()
    parent = segment(t, name="frontend")
    sub = {"type": "subsegment", "trace_id": t, "parent_id": parent["id"], "id": new_id(), "name": "call-db",
           "start_time": parent["start_time"] + 0.1, "end_time": parent["start_time"] + 0.2, "namespace": "remote"}
    assert put(xray, sub) == []
    assert put(xray, parent) == []
    trace, docs = trace_docs(xray, t)
    real = [d for d in docs if not d.get("inferred")]
    assert len(real) == 1
    assert real[0]["subsegments"][0]["id"] == sub["id"]
    assert "trace_id" not in real[0]["subsegments"][0] and "type" not in real[0]["subsegments"][0]


def test_subsegment_of_a_subsegment_is_nested_at_depth(xray):
    t = new_trace_id()
    inner_id = new_id()
    parent = segment(t, subsegments=[{"id": inner_id, "name": "inner", "start_time": time.time() - 0.9, "end_time": time.time() - 0.8}])
    sub = {"type": "subsegment", "trace_id": t, "parent_id": inner_id, "id": new_id(), "name": "deeper",
           "start_time": time.time() - 0.89, "end_time": time.time() - 0.81}
    put(xray, parent, sub)
    _, docs = trace_docs(xray, t)
    assert docs[0]["subsegments"][0]["subsegments"][0]["id"] == sub["id"]


def test_complete_document_replaces_in_progress_and_not_the_reverse(xray):
    t = new_trace_id()
    seg_id = new_id()
    start = time.time() - 2
    open_doc = segment(t, id=seg_id, start=start, in_progress=True)
    put(xray, open_doc)
    assert summary_of(xray, t)["IsPartial"] is True
    done = segment(t, id=seg_id, start=start, end=start + 1.5, http={"response": {"status": 201}})
    put(xray, done)
    s = summary_of(xray, t)
    assert s["IsPartial"] is False and s["Http"]["HttpStatus"] == 201
    put(xray, open_doc)  # a late in-progress copy must not undo completion
    _, docs = trace_docs(xray, t)
    assert len(docs) == 1 and docs[0]["end_time"] == start + 1.5 and "in_progress" not in docs[0]


def test_identical_resend_is_idempotent(xray):
    doc = segment()
    put(xray, doc)
    rev = summary_of(xray, doc["trace_id"])["Revision"]
    put(xray, doc)
    put(xray, doc)
    assert summary_of(xray, doc["trace_id"])["Revision"] == rev
    _, docs = trace_docs(xray, doc["trace_id"])
    assert len(docs) == 1


def test_segments_of_two_services_are_one_trace_in_any_order(xray):
    t = new_trace_id()
    start = time.time() - 3
    call_id = new_id()
    front = segment(t, name="front", start=start, end=start + 2,
                    subsegments=[{"id": call_id, "name": "back", "namespace": "remote", "start_time": start + 0.5,
                                  "end_time": start + 1.5, "http": {"request": {"method": "GET", "url": "http://back/"}}}])
    back = segment(t, name="back", start=start + 0.6, end=start + 1.4, parent_id=call_id)
    put(xray, back)
    put(xray, front)
    trace, docs = trace_docs(xray, t)
    assert sorted(d["name"] for d in docs) == ["back", "front"], "the callee's segment replaces the inferred one"
    assert not any(d.get("inferred") for d in docs)
    s = summary_of(xray, t)
    assert s["EntryPoint"]["Name"] == "front"
    assert sorted(x["Name"] for x in s["ServiceIds"]) == ["back", "front"]
    assert abs(trace["Duration"] - 2.0) <= 2e-6  # microsecond storage


def test_aws_call_without_callee_gets_an_inferred_segment(xray):
    t = new_trace_id()
    start = time.time() - 1
    call = {"id": new_id(), "name": "DynamoDB", "namespace": "aws", "start_time": start + 0.1, "end_time": start + 0.3,
            "aws": {"operation": "PutItem", "table_name": "scores"}, "http": {"response": {"status": 200}}}
    put(xray, segment(t, start=start, end=start + 1, subsegments=[call]))
    _, docs = trace_docs(xray, t)
    [inferred] = [d for d in docs if d.get("inferred")]
    assert inferred["name"] == "scores", "a call to a table infers the table's node"
    assert inferred["origin"] == "AWS::DynamoDB::Table"
    assert inferred["parent_id"] == call["id"]
    assert inferred["aws"]["operation"] == "PutItem"
    assert inferred["start_time"] == call["start_time"] and inferred["end_time"] == call["end_time"]
    s = summary_of(xray, t)
    assert {"Name": "scores", "Names": ["scores"], "Type": "AWS::DynamoDB::Table"} in s["ServiceIds"]


def test_unknown_and_malformed_trace_ids_are_unprocessed(xray):
    doc = segment()
    put(xray, doc)
    missing = new_trace_id()
    r = xray.batch_get_traces(TraceIds=[doc["trace_id"], missing, "not-a-trace-id"])
    assert [t["Id"] for t in r["Traces"]] == [doc["trace_id"]]
    assert sorted(r["UnprocessedTraceIds"]) == sorted([missing, "not-a-trace-id"])


def test_batch_get_traces_pages_five_at_a_time(xray):
    docs = [segment() for _ in range(12)]
    for i in range(0, 12, 6):
        put(xray, *docs[i:i + 6])
    ids = [d["trace_id"] for d in docs]
    first = xray.batch_get_traces(TraceIds=ids)
    assert len(first["Traces"]) == 5 and first["NextToken"]
    pages = list(xray.get_paginator("batch_get_traces").paginate(TraceIds=ids))
    assert [len(p["Traces"]) for p in pages] == [5, 5, 2]
    assert sorted(t["Id"] for p in pages for t in p["Traces"]) == sorted(ids)


def test_trace_size_limit_sets_limit_exceeded(xray):
    t = new_trace_id()
    big = "x" * 60000
    docs = [segment(t, metadata={"default": {"blob": big}}) for _ in range(9)]
    unprocessed = []
    for d in docs:
        unprocessed += put(xray, d)
    assert unprocessed and unprocessed[0]["Message"].startswith("Trace Size Exceeded")
    trace, _ = trace_docs(xray, t)
    assert trace["LimitExceeded"] is True
