"""Black-box fixtures: the built xray-gateway binary on a free loopback port, and real clients
(boto3, the AWS CLI, awslocal) pointed at it."""

import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request

import boto3
import pytest

BIN = os.environ.get("XRAY_GATEWAY_BIN", "target/release/xray-gateway")
def ready_addresses(line):
    """The listeners of the gateway's ready line (`{"ready": {"xray": ADDR, ...}}`), else None."""
    if not line.startswith('{"ready":'):
        return None
    return json.loads(line)["ready"]


class Gateway:
    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [BIN, "--xray-listen", "127.0.0.1:0", "--daemon-listen", "127.0.0.1:0", "--otlp-grpc-listen", "127.0.0.1:0",
             "--otlp-http-listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.log = []
        deadline = time.time() + 30
        self.address = None
        self.daemon = None
        self.otlp = {}
        # The gateway prints one JSON line with every bound address once it serves.
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.append(line)
            ready = ready_addresses(line)
            if ready is not None:
                self.address = ready.get("xray")
                self.daemon = ready.get("daemon")
                self.otlp = {k[5:]: v for k, v in ready.items() if k.startswith("otlp_")}
                break
        if not self.address:
            self.proc.kill()
            raise RuntimeError("gateway did not start:\n" + "".join(self.log))
        self.url = f"http://{self.address}"

    def client(self, region="us-east-1", key="test"):
        return boto3.client(
            "xray",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key="test",
        )

    def health(self):
        with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
            return json.loads(r.read())

    def wait_recovered(self, timeout=60):
        """Waits until a gateway with a data directory has replayed it; returns /health."""
        deadline = time.time() + timeout
        while True:
            h = self.health()
            if not h["data_dir"]["recovering"]:
                return h
            assert time.time() < deadline, f"still recovering after {timeout} s: {h['data_dir']}"
            time.sleep(0.05)

    def kill(self):
        """Ends the process with SIGKILL, as a crash or an OOM kill would."""
        self.proc.kill()
        self.proc.wait(timeout=20)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        return rc


@pytest.fixture(scope="session")
def gateway():
    g = Gateway()
    yield g
    g.stop()


def _gateway_factory():
    started = []

    def start(*args):
        g = Gateway(*args)
        started.append(g)
        return g

    yield start
    for g in started:
        if g.proc.poll() is None:
            g.stop()


@pytest.fixture
def fresh_gateway():
    """Starts gateways of a test's own, stopped when the test ends."""
    yield from _gateway_factory()


@pytest.fixture(scope="module")
def fresh_gateway_module():
    """Starts gateways shared by a module's tests."""
    yield from _gateway_factory()


@pytest.fixture
def xray(gateway):
    return gateway.client()


def new_trace_id(epoch=None):
    epoch = int(time.time()) if epoch is None else int(epoch)
    return f"1-{epoch:08x}-{secrets.token_hex(12)}"


def new_id():
    return secrets.token_hex(8)


def segment(trace_id=None, name="api", start=None, end=None, **fields):
    """A complete segment document (dict); `end=None` with in_progress=True makes it open."""
    start = time.time() - 1 if start is None else start
    doc = {"trace_id": trace_id or new_trace_id(start), "id": fields.pop("id", new_id()), "name": name, "start_time": start}
    if fields.get("in_progress"):
        doc["in_progress"] = True
        fields.pop("in_progress")
    else:
        doc["end_time"] = start + 0.5 if end is None else end
    doc.update(fields)
    return doc


def wait_for(fn, timeout=10.0):
    """Polls `fn` until it returns something truthy or the deadline passes; returns its value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def put(client, *docs):
    r = client.put_trace_segments(TraceSegmentDocuments=[d if isinstance(d, str) else json.dumps(d) for d in docs])
    return r["UnprocessedTraceSegments"]


def summaries(client, trace_ids=None, window=600, **kw):
    now = time.time()
    kw.setdefault("StartTime", now - window)
    kw.setdefault("EndTime", now + 60)
    pages = client.get_paginator("get_trace_summaries").paginate(**kw)
    out = [s for p in pages for s in p["TraceSummaries"]]
    if trace_ids is not None:
        out = [s for s in out if s["Id"] in set(trace_ids)]
    return out


def summary_of(client, trace_id, window=600):
    found = summaries(client, [trace_id], window=window)
    assert len(found) == 1, f"expected one summary for {trace_id}, got {len(found)}"
    return found[0]


def trace_docs(client, trace_id):
    r = client.batch_get_traces(TraceIds=[trace_id])
    assert len(r["Traces"]) == 1, r
    return r["Traces"][0], [json.loads(s["Document"]) for s in r["Traces"][0]["Segments"]]
