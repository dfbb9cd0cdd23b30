"""Running the gateway for a team: /metrics read by the Prometheus client's own parser, SigV4
credentials, bearer tokens for OTLP, quotas and JSON logs, with real clients."""

import json
import re
import time
import urllib.request

import pytest
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

    with pytest.raises(Exception):
        xray.get_group(GroupName="missing")
    assert rise_after(g, before, "xray_gateway_api_requests_total", operation="GetGroup", status="400") == 1


def rise_after(g, before, name, **labels):
    return value(scrape(g), name, **labels) - value(before, name, **labels)
