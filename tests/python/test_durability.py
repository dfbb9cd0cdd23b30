"""A gateway with --data-dir keeps what it acknowledged: killed with SIGKILL under load from
boto3 (PutTraceSegments) and the OpenTelemetry SDK (OTLP/gRPC), restarted on the same
directory, it answers with every acknowledged trace, the same documents, summaries and graph,
and the control plane (groups, sampling rules, settings, policies, tags) as it was."""

import json
import os
import pathlib
import threading
import time

import botocore.config
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind

from conftest import Gateway, new_id, new_trace_id, put, segment, summaries


def xray_id(otel_trace_id):
    h = f"{otel_trace_id:032x}"
    return f"1-{h[:8]}-{h[8:]}"


def no_retries(g):
    """A boto3 client that reports each call's outcome instead of retrying it."""
    import boto3

    return boto3.client("xray", endpoint_url=g.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))


class RecordingExporter(GrpcExporter):
    """The SDK's gRPC exporter, remembering the traces of every export the gateway acknowledged."""

    def __init__(self, acked, **kw):
        super().__init__(**kw)
        self.acked = acked

    def export(self, spans):
        result = super().export(spans)
        if result == SpanExportResult.SUCCESS:
            self.acked.update(xray_id(s.context.trace_id) for s in spans)
        return result


def put_load(g, acked, stop):
    client = no_retries(g)
    while not stop.is_set():
        docs = [segment(name="durable-put", http={"request": {"method": "GET", "url": f"https://x/{new_id()}"}})
                for _ in range(25)]
        try:
            refused = put(client, *docs)
        except Exception:
            return  # the gateway is gone
        refused_ids = {r["Id"] for r in refused}
        acked.update(d["trace_id"] for d in docs if d["id"] not in refused_ids)


def otlp_load(g, acked, stop):
    exporter = RecordingExporter(acked, endpoint=g.otlp["grpc"], insecure=True, timeout=2)
    provider = TracerProvider(resource=Resource.create({"service.name": "durable-otlp"}), id_generator=AwsXRayIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("durability")
    while not stop.is_set():
        with tracer.start_as_current_span("GET /item", kind=SpanKind.SERVER, attributes={"http.method": "GET"}):
            pass
    provider.shutdown()


def all_trace_ids(client):
    return {s["Id"] for s in summaries(client, window=3600)}


def test_every_acknowledged_trace_survives_repeated_kill_9_under_load(fresh_gateway, tmp_path):
    data = str(tmp_path / "data")
    acked_put, acked_otlp = set(), set()
    for cycle in range(3):
        g = fresh_gateway("--data-dir", data)
        g.wait_recovered()
        present = all_trace_ids(g.client())
        assert acked_put <= present, f"cycle {cycle}: {len(acked_put - present)} acknowledged PUT traces lost"
        assert acked_otlp <= present, f"cycle {cycle}: {len(acked_otlp - present)} acknowledged OTLP traces lost"
        stop = threading.Event()
        threads = [threading.Thread(target=put_load, args=(g, acked_put, stop)) for _ in range(2)]
        threads.append(threading.Thread(target=otlp_load, args=(g, acked_otlp, stop)))
        for t in threads:
            t.start()
        time.sleep(1.5)
        g.kill()  # while the clients are still sending
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert len(acked_put) > 500 and len(acked_otlp) > 50, (len(acked_put), len(acked_otlp))
    g = fresh_gateway("--data-dir", data)
    h = g.wait_recovered()
    present = all_trace_ids(g.client())
    assert acked_put <= present and acked_otlp <= present
    assert h["data_dir"]["replayed_records"] > 0


def snapshot(client, now):
    """Everything the API answers about the seeded state."""
    out = {}
    ids = sorted(s["Id"] for s in summaries(client, window=600))
    out["summaries"] = sorted((s for s in summaries(client, window=600)), key=lambda s: s["Id"])
    traces = []
    for i in range(0, len(ids), 5):
        traces += client.batch_get_traces(TraceIds=ids[i:i + 5])["Traces"]
    for t in traces:
        t["Segments"] = sorted(t["Segments"], key=lambda s: s["Id"])
    out["traces"] = sorted(traces, key=lambda t: t["Id"])
    graph = client.get_service_graph(StartTime=now - 600, EndTime=now + 60)
    out["graph"] = sorted(graph["Services"], key=lambda s: (s["Name"], s.get("Type", "")))
    out["groups"] = client.get_groups()["Groups"]
    out["rules"] = sorted((r["SamplingRule"] for r in client.get_sampling_rules()["SamplingRuleRecords"]),
                          key=lambda r: r["RuleName"])
    out["encryption"] = client.get_encryption_config()["EncryptionConfig"]
    out["indexing"] = client.get_indexing_rules()["IndexingRules"]
    out["policies"] = client.list_resource_policies()["ResourcePolicies"]
    group_arn = next(g["GroupARN"] for g in out["groups"] if g["GroupName"] == "checkout")
    out["tags"] = client.list_tags_for_resource(ResourceARN=group_arn)["Tags"]
    return out


def seed(client, now):
    start = now - 30
    t1, t2 = new_trace_id(start), new_trace_id(start)
    front, call, back = new_id(), new_id(), new_id()
    assert put(client,
               segment(t1, name="front", id=front, start=start, end=start + 1.0, http={"response": {"status": 502}},
                       annotations={"team": "checkout"},
                       subsegments=[{"id": call, "name": "back", "start_time": start + 0.1, "end_time": start + 0.9,
                                     "namespace": "remote"}]),
               segment(t1, name="back", id=back, parent_id=call, start=start + 0.2, end=start + 0.8, fault=True),
               segment(t2, name="front", start=start + 2, in_progress=True)) == []
    # The in-progress segment of t2 is completed later, under the same id.
    open_doc = client.batch_get_traces(TraceIds=[t2])["Traces"][0]["Segments"][0]
    done = json.loads(open_doc["Document"])
    done.pop("in_progress")
    done["end_time"] = start + 2.5
    assert put(client, done) == []
    client.create_group(GroupName="checkout", FilterExpression='service("front")',
                        Tags=[{"Key": "team", "Value": "payments"}])
    client.create_sampling_rule(SamplingRule={
        "RuleName": "checkout", "ResourceARN": "*", "Priority": 100, "FixedRate": 0.25, "ReservoirSize": 7,
        "ServiceName": "front", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "/cart*", "Version": 1})
    client.put_encryption_config(Type="KMS", KeyId="alias/xray")
    client.update_indexing_rule(Name="Default", Rule={"Probabilistic": {"DesiredSamplingPercentage": 12.5}})
    client.put_resource_policy(PolicyName="sns", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "s", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": ["xray:PutTraceSegments"], "Resource": "*"}]}))


def test_a_restart_answers_exactly_as_before(fresh_gateway, tmp_path):
    data = str(tmp_path / "data")
    g = fresh_gateway("--data-dir", data, "--fsync", "always")
    g.wait_recovered()
    now = time.time()
    seed(g.client(), now)
    before = snapshot(g.client(), now)
    assert len(before["traces"]) == 2 and before["groups"][1]["GroupName"] == "checkout"
    assert before["summaries"][0]["Revision"] >= 1
    g.kill()
    g = fresh_gateway("--data-dir", data)
    g.wait_recovered()
    assert snapshot(g.client(), now) == before
    # And again after a clean stop, which has nothing left to flush.
    assert g.stop() == 0
    g = fresh_gateway("--data-dir", data)
    g.wait_recovered()
    assert snapshot(g.client(), now) == before


def test_a_second_gateway_cannot_share_the_directory(fresh_gateway, tmp_path):
    data = str(tmp_path / "data")
    g = fresh_gateway("--data-dir", data)
    g.wait_recovered()
    with pytest.raises(RuntimeError, match="in use by another gateway"):
        Gateway("--data-dir", data)


def test_damage_before_the_end_of_the_log_is_a_clear_startup_error_and_repair_cuts_it(fresh_gateway, tmp_path):
    data = tmp_path / "data"
    g = fresh_gateway("--data-dir", str(data))
    g.wait_recovered()
    for name in ("kept", "damaged", "after-damage"):
        assert put(g.client(), segment(name=name)) == []
    g.kill()
    [wal] = [p for p in sorted((data / "wal").iterdir()) if p.stat().st_size > 0]
    raw = bytearray(wal.read_bytes())
    raw[raw.index(b'"damaged"') + 1] ^= 0x01
    wal.write_bytes(bytes(raw))
    bad = fresh_gateway("--data-dir", str(data))
    assert bad.proc.wait(timeout=30) != 0
    out = "".join(bad.log) + bad.proc.stdout.read()
    assert "damaged" in out and wal.name in out and "--repair" in out, out
    g = fresh_gateway("--data-dir", str(data), "--repair")
    g.wait_recovered()
    names = {s["EntryPoint"]["Name"] for s in summaries(g.client(), window=600)}
    assert names == {"kept"}


def test_persistence_and_data_dir_as_localstack_spells_them(tmp_path):
    data = tmp_path / "ls"
    env = {**os.environ, "PERSISTENCE": "1", "DATA_DIR": str(data)}
    old = os.environ.copy()
    os.environ.update(env)
    try:
        g = Gateway()
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        g.wait_recovered()
        assert put(g.client(), segment(name="ls")) == []
        assert (data / "FORMAT").exists() and pathlib.Path(g.health()["data_dir"]["path"]) == data
    finally:
        g.stop()


def test_without_a_data_directory_nothing_is_written(fresh_gateway, tmp_path):
    g = fresh_gateway()
    assert "data_dir" not in g.health()
    assert put(g.client(), segment(name="mem")) == []


def dir_bytes(path):
    return sum(p.stat().st_size for p in pathlib.Path(path).rglob("*") if p.is_file())


def test_max_disk_mb_bounds_the_directory_evicting_the_oldest(fresh_gateway, tmp_path):
    data = str(tmp_path / "data")
    g = fresh_gateway("--data-dir", data, "--max-disk-mb", "2")
    g.wait_recovered()
    client = g.client()
    now = time.time()
    sent = []
    for batch in range(200):
        docs = [segment(name="bounded", start=now - 600 + batch / 2 + i / 100, metadata={"pad": {"x": new_id() * 40}})
                for i in range(25)]
        assert put(client, *docs) == []
        sent += [d["trace_id"] for d in docs]
    assert dir_bytes(data) > 2 << 20, "the test must write more than the bound"
    h = g.health()
    assert h["store"]["evicted_traces"] > 0
    deadline = time.time() + 30
    while dir_bytes(data) > 2 << 20:
        assert time.time() < deadline, f"the directory still holds {dir_bytes(data)} bytes: {g.health()['data_dir']}"
        time.sleep(0.2)
    kept = all_trace_ids(client)
    # The oldest went first: what is kept is the newest run of what was sent.
    assert kept and kept == set(sent[-len(kept):])
    g.kill()
    g = fresh_gateway("--data-dir", data, "--max-disk-mb", "2")
    g.wait_recovered()
    assert all_trace_ids(g.client()) == kept


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs of the test's own (needs root, as CI has), unmounted afterwards."""
    import subprocess

    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_refuses_writes_retryably_keeps_serving_reads_and_recovers(fresh_gateway, small_disk):
    import subprocess

    import botocore.exceptions

    data = str(small_disk / "data")
    g = fresh_gateway("--data-dir", data, "--fsync", "always")
    g.wait_recovered()
    client = no_retries(g)
    acked, refused = [], None
    for _ in range(400):
        docs = [segment(name="disk", metadata={"pad": {"x": new_id() * 50}}) for _ in range(10)]
        try:
            assert put(client, *docs) == []
        except botocore.exceptions.ClientError as e:
            refused = e.response
            break
        acked += [d["trace_id"] for d in docs]
    assert refused is not None, "the disk never filled"
    assert refused["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused["Error"]["Code"] == "ServiceUnavailable"
    assert acked
    # Reads go on while the disk is full.
    assert set(acked) <= all_trace_ids(client)
    # Room again: writes succeed again, and everything acknowledged survives a crash.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    later = [segment(name="after") for _ in range(5)]
    assert put(client, *later) == []
    acked += [d["trace_id"] for d in later]
    g.kill()
    g = fresh_gateway("--data-dir", data)
    g.wait_recovered()
    assert set(acked) <= all_trace_ids(g.client())
