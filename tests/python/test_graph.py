"""Groups, GetServiceGraph, GetTraceGraph and GetTimeSeriesServiceStatistics through boto3,
asserting nodes, edges, counts and histograms."""

import json
import time

import botocore.exceptions
import pytest

from conftest import new_id, new_trace_id, put, segment


def shop_trace(start, front_status=200, ddb_throttle=False, back_fault=False):
    """front -> back (remote call) -> DynamoDB table carts (aws call, no callee segment)."""
    t, call, ddb = new_trace_id(start), new_id(), new_id()
    front = segment(t, name="front", start=start, end=start + 1.0, http={"response": {"status": front_status}},
                    fault=front_status >= 500, error=400 <= front_status < 500,
                    subsegments=[{"id": call, "name": "back", "namespace": "remote", "start_time": start + 0.1, "end_time": start + 0.9,
                                  "fault": back_fault}])
    back = segment(t, name="back", start=start + 0.2, end=start + 0.8, parent_id=call, fault=back_fault,
                   subsegments=[{"id": ddb, "name": "DynamoDB", "namespace": "aws", "start_time": start + 0.3, "end_time": start + 0.5,
                                 "throttle": ddb_throttle, "error": ddb_throttle, "aws": {"operation": "GetItem", "table_name": "carts"}}])
    return t, [front, back]


@pytest.fixture(scope="module")
def shop(request):
    from conftest import Gateway
    g = Gateway()
    request.addfinalizer(g.stop)
    xray = g.client()
    base = time.time() - 600
    traces = {}
    for i in range(10):
        kind = "ok" if i < 6 else ("fault" if i < 8 else "throttle")
        t, docs = shop_trace(base + i * 30, front_status=502 if kind == "fault" else 200, back_fault=kind == "fault", ddb_throttle=kind == "throttle")
        traces[t] = kind
        assert put(xray, *docs) == []
    return xray, base, traces


def nodes(services):
    return {s["Name"]: s for s in services}


def edge(services, src, dst):
    by_ref = {s["ReferenceId"]: s["Name"] for s in services}
    [e] = [e for e in nodes(services)[src]["Edges"] if by_ref[e["ReferenceId"]] == dst]
    return e


def test_service_graph_nodes_edges_and_statistics(shop):
    xray, base, _ = shop
    r = xray.get_service_graph(StartTime=base - 60, EndTime=base + 600)
    s = r["Services"]
    n = nodes(s)
    assert set(n) == {"client", "front", "back", "carts"}
    assert (n["client"]["Type"], n["client"]["State"]) == ("client", "unknown")
    assert n["front"]["Root"] is True and n["back"]["Root"] is False
    assert (n["carts"]["Type"], n["carts"]["State"]) == ("AWS::DynamoDB::Table", "unknown")
    assert n["front"]["State"] == "active"
    f = n["front"]["SummaryStatistics"]
    assert (f["TotalCount"], f["OkCount"], f["FaultStatistics"]["TotalCount"]) == (10, 8, 2)
    assert f["TotalResponseTime"] == pytest.approx(10.0, abs=1e-4)  # ten microsecond-rounded times
    assert sum(h["Count"] for h in n["front"]["ResponseTimeHistogram"]) == 10
    assert [h["Value"] for h in n["front"]["DurationHistogram"]] == [pytest.approx(1.0, rel=0.15)]
    client_edge = edge(s, "client", "front")["SummaryStatistics"]
    assert (client_edge["TotalCount"], client_edge["FaultStatistics"]["TotalCount"]) == (10, 2)
    fb = edge(s, "front", "back")
    assert fb["SummaryStatistics"]["TotalResponseTime"] == pytest.approx(8.0, abs=1e-4), "edges are timed by the caller's subsegment"
    assert fb["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 2
    bd = edge(s, "back", "carts")["SummaryStatistics"]
    assert bd["ErrorStatistics"] == {"ThrottleCount": 2, "OtherCount": 0, "TotalCount": 2}
    assert bd["OkCount"] == 8
    assert r["ContainsOldGroupVersions"] is False
    assert r["StartTime"].timestamp() <= base - 60 and r["EndTime"].timestamp() >= base + 600


def test_service_graph_window_excludes_other_times(shop):
    xray, base, _ = shop
    assert xray.get_service_graph(StartTime=base - 7200, EndTime=base - 3600)["Services"] == []
    r = xray.get_service_graph(StartTime=base - 1, EndTime=base + 50)
    # The window is widened to whole minutes, and says so.
    lo, hi = r["StartTime"].timestamp(), r["EndTime"].timestamp()
    assert lo <= base - 1 and hi >= base + 50 and lo % 60 == 0 and hi % 60 == 0
    expected = sum(1 for i in range(10) if lo <= base + i * 30 < hi)
    assert nodes(r["Services"])["front"]["SummaryStatistics"]["TotalCount"] == expected


def test_trace_graph_for_given_traces(shop):
    xray, _, traces = shop
    faulty = [t for t, k in traces.items() if k == "fault"]
    s = xray.get_trace_graph(TraceIds=faulty)["Services"]
    assert nodes(s)["front"]["SummaryStatistics"]["TotalCount"] == 2
    assert nodes(s)["back"]["SummaryStatistics"]["FaultStatistics"]["TotalCount"] == 2
    assert xray.get_trace_graph(TraceIds=[new_trace_id()])["Services"] == []


def test_groups_lifecycle_and_scoped_graph(shop):
    xray, base, _ = shop
    groups = xray.get_groups()["Groups"]
    assert groups[0]["GroupName"] == "Default"
    g = xray.create_group(GroupName="faults", FilterExpression="fault", InsightsConfiguration={"InsightsEnabled": True},
                          Tags=[{"Key": "team", "Value": "shop"}])["Group"]
    assert g["GroupARN"].startswith("arn:aws:xray:us-east-1:000000000000:group/faults/")
    assert g["FilterExpression"] == "fault" and g["InsightsConfiguration"] == {"InsightsEnabled": True, "NotificationsEnabled": False}
    assert xray.list_tags_for_resource(ResourceARN=g["GroupARN"])["Tags"] == [{"Key": "team", "Value": "shop"}]
    assert xray.get_group(GroupARN=g["GroupARN"])["Group"]["GroupName"] == "faults"
    scoped = nodes(xray.get_service_graph(StartTime=base - 60, EndTime=base + 600, GroupName="faults")["Services"])
    assert scoped["front"]["SummaryStatistics"]["TotalCount"] == 2 and "carts" in scoped
    # group.name inlines the group's filter in summaries
    now = time.time()
    ids = [s["Id"] for s in xray.get_trace_summaries(StartTime=base - 60, EndTime=now + 60, FilterExpression='group.name = "faults"')["TraceSummaries"]]
    assert len(ids) == 2
    up = xray.update_group(GroupName="faults", FilterExpression='edge("back", "carts") { throttle }')["Group"]
    assert up["FilterExpression"] == 'edge("back", "carts") { throttle }'
    scoped = nodes(xray.get_service_graph(StartTime=base - 60, EndTime=base + 600, GroupARN=g["GroupARN"])["Services"])
    assert scoped["back"]["SummaryStatistics"]["TotalCount"] == 2
    xray.delete_group(GroupName="faults")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.get_group(GroupName="faults")
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(GroupName="bad", FilterExpression="responsetime >"), "expected a value after '>' at 14"),
    (dict(GroupName="Default"), "already exists"),
    (dict(GroupName="n", InsightsConfiguration={"NotificationsEnabled": True}), "NotificationsEnabled needs InsightsEnabled"),
])
def test_invalid_groups(shop, kwargs, fragment):
    xray, _, _ = shop
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.create_group(**kwargs)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    assert fragment in e.value.response["Error"]["Message"]


def test_default_group_is_fixed_and_the_limit_is_25(fresh_gateway):
    xray = fresh_gateway().client()
    for op in (xray.delete_group, lambda **k: xray.update_group(FilterExpression="ok", **k)):
        with pytest.raises(botocore.exceptions.ClientError):
            op(GroupName="Default")
    for i in range(25):
        xray.create_group(GroupName=f"g{i}")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        xray.create_group(GroupName="g25")
    assert "at most 25" in e.value.response["Error"]["Message"]
    assert len(xray.get_groups()["Groups"]) == 26


def test_time_series_for_an_edge_and_a_service_with_forecast(shop):
    xray, base, _ = shop
    r = xray.get_time_series_service_statistics(StartTime=base - 60, EndTime=base + 600, Period=300,
                                                EntitySelectorExpression='edge(id(name: "back"), id(name: "carts", type: "AWS::DynamoDB::Table"))')
    series = r["TimeSeriesServiceStatistics"]
    assert sum(p["EdgeSummaryStatistics"]["TotalCount"] for p in series) == 10
    assert sum(p["EdgeSummaryStatistics"]["ErrorStatistics"]["ThrottleCount"] for p in series) == 2
    assert all((p["Timestamp"].timestamp() % 300) == 0 for p in series)
    svc = xray.get_time_series_service_statistics(StartTime=base - 60, EndTime=base + 600, Period=60,
                                                  EntitySelectorExpression='id(name: "front")', ForecastStatistics=True)["TimeSeriesServiceStatistics"]
    assert sum(p["ServiceSummaryStatistics"]["FaultStatistics"]["TotalCount"] for p in svc) == 2
    assert all({"FaultCountHigh", "FaultCountLow"} <= set(p["ServiceForecastStatistics"]) for p in svc)
    with pytest.raises(botocore.exceptions.ClientError):
        xray.get_time_series_service_statistics(StartTime=base, EndTime=base + 600, Period=90)
    with pytest.raises(botocore.exceptions.ClientError):
        xray.get_time_series_service_statistics(StartTime=base, EndTime=base + 600, EntitySelectorExpression="fault")


def test_span_links_are_link_edges(fresh_gateway):
    xray = fresh_gateway().client()
    now = time.time() - 30
    send_id = new_id()
    producer = segment(new_trace_id(now), name="orders", start=now, end=now + 0.2,
                       subsegments=[{"id": send_id, "name": "SQS", "namespace": "aws", "start_time": now + 0.05, "end_time": now + 0.1,
                                     "aws": {"operation": "SendMessage"}}])
    consumer = segment(new_trace_id(now), name="fulfilment", start=now + 2.05, end=now + 2.5,
                       links=[{"trace_id": producer["trace_id"], "id": send_id, "attributes": {"aws.xray.reserved.reference_type": "parent"}}])
    put(xray, consumer)  # before its producer: the link waits
    put(xray, producer)
    s = xray.get_service_graph(StartTime=now - 60, EndTime=now + 60)["Services"]
    by_ref = {x["ReferenceId"]: x["Name"] for x in s}
    [link] = [e for e in nodes(s)["orders"]["Edges"] if e.get("EdgeType") == "link"]
    assert by_ref[link["ReferenceId"]] == "fulfilment"
    assert link["SummaryStatistics"]["TotalCount"] == 1
    [age] = link["ReceivedEventAgeHistogram"]
    assert age["Count"] == 1 and age["Value"] == pytest.approx(2.0, rel=0.15)


def test_histograms_report_the_values_observed(fresh_gateway):
    """A HistogramEntry's Value is a value that was seen: one 1.0 s call shows 1.0, in every
    histogram the API returns (values falling together are reported as their mean)."""
    g = fresh_gateway()
    xray = g.client()
    start = int(time.time()) - 300
    start -= start % 60
    durations = [1.0, 0.25, 0.25, 3.5]
    ids = []
    for i, d in enumerate(durations):
        ids.append(new_trace_id(start + i))
        assert put(xray, segment(ids[-1], name="timed", start=start + i, end=start + i + d)) == []

    def values(hist):
        return sorted((h["Value"], h["Count"]) for h in hist)

    want = [(0.25, 2), (1.0, 1), (3.5, 1)]
    graph = xray.get_service_graph(StartTime=start - 60, EndTime=start + 120)["Services"]
    timed = nodes(graph)["timed"]
    assert values(timed["ResponseTimeHistogram"]) == want
    assert values(timed["DurationHistogram"]) == want
    assert values(edge(graph, "client", "timed")["ResponseTimeHistogram"]) == want
    series = xray.get_time_series_service_statistics(StartTime=start - 60, EndTime=start + 120, Period=60,
                                                     EntitySelectorExpression='service("timed")')
    points = [p for p in series["TimeSeriesServiceStatistics"] if p.get("ResponseTimeHistogram")]
    assert sorted(v for p in points for v in values(p["ResponseTimeHistogram"])) == want
    one = nodes(xray.get_trace_graph(TraceIds=[ids[0]])["Services"])
    assert values(one["timed"]["ResponseTimeHistogram"]) == [(1.0, 1)]


def test_each_dynamodb_table_is_its_own_node_everywhere_nodes_are_named(fresh_gateway):
    """Calls to tables orders and carts and an untargeted ListTables: three nodes, named and
    typed as X-Ray's console shows them, in graphs, inferred segments, summaries, filters and
    the time series."""
    xray = fresh_gateway().client()
    start = time.time() - 120
    t = new_trace_id(start)

    def call(table, offset):
        aws = {"operation": "GetItem", "table_name": table} if table else {"operation": "ListTables"}
        return {"id": new_id(), "name": "DynamoDB", "namespace": "aws", "start_time": start + offset,
                "end_time": start + offset + 0.1, "aws": aws, "throttle": table == "carts", "error": table == "carts"}

    calls = [call("orders", 0.1), call("carts", 0.3), call("orders", 0.5), call(None, 0.7)]
    assert put(xray, segment(t, name="api", start=start, end=start + 1, subsegments=calls)) == []
    window = dict(StartTime=start - 60, EndTime=start + 120)

    n = nodes(xray.get_service_graph(**window)["Services"])
    assert set(n) == {"client", "api", "orders", "carts", "DynamoDB"}
    assert [n[x]["Type"] for x in ("orders", "carts", "DynamoDB")] == \
        ["AWS::DynamoDB::Table", "AWS::DynamoDB::Table", "AWS::DynamoDB"]
    s = list(n.values())
    assert edge(s, "api", "orders")["SummaryStatistics"]["TotalCount"] == 2
    assert edge(s, "api", "carts")["SummaryStatistics"]["ErrorStatistics"]["ThrottleCount"] == 1
    assert edge(s, "api", "DynamoDB")["SummaryStatistics"]["TotalCount"] == 1
    assert set(nodes(xray.get_trace_graph(TraceIds=[t])["Services"])) == set(n)

    docs = [json.loads(x["Document"]) for x in xray.batch_get_traces(TraceIds=[t])["Traces"][0]["Segments"]]
    inferred = sorted((d["name"], d["origin"]) for d in docs if d.get("inferred"))
    assert inferred == [("DynamoDB", "AWS::DynamoDB"), ("carts", "AWS::DynamoDB::Table"),
                        ("orders", "AWS::DynamoDB::Table"), ("orders", "AWS::DynamoDB::Table")]

    [summary] = xray.get_trace_summaries(**window)["TraceSummaries"]
    assert {"Name": "orders", "Names": ["orders"], "Type": "AWS::DynamoDB::Table"} in summary["ServiceIds"]
    assert {"Name": "DynamoDB", "Names": ["DynamoDB"], "Type": "AWS::DynamoDB"} in summary["ServiceIds"]

    def matches(expr):
        return len(xray.get_trace_summaries(FilterExpression=expr, **window)["TraceSummaries"])

    assert matches('service("orders")') == 1
    assert matches('edge("api", "orders")') == 1
    assert matches('service(id(name: "orders", type: "AWS::DynamoDB::Table"))') == 1
    assert matches('service(id(name: "DynamoDB", type: "AWS::DynamoDB"))') == 1
    assert matches('service(id(name: "DynamoDB", type: "AWS::DynamoDB::Table"))') == 0
    assert matches('edge("api", "carts") { throttle }') == 1
    assert matches('edge("api", "orders") { throttle }') == 0

    series = xray.get_time_series_service_statistics(
        Period=60, EntitySelectorExpression='edge(id(name: "api"), id(name: "orders", type: "AWS::DynamoDB::Table"))',
        **window)["TimeSeriesServiceStatistics"]
    assert sum(p["EdgeSummaryStatistics"]["TotalCount"] for p in series) == 2
