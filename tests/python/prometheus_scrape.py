"""Scrapes /metrics from each URL given and parses it with the Prometheus
client library's text parser (a real parser, not a regex): every family
etcd's Grafana dashboard and its alerting rules read must be there with
etcd's type, and the figures must agree with the traffic the Rust test
made (20 puts through etcdctl). Prints a final line the test looks for."""

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# etcd 3.4's Documentation/op-guide/grafana.json and etcd3_alert.rules,
# plus the families the issue names, with their Prometheus types.
EXPECTED = {
    "etcd_server_has_leader": "gauge",
    "etcd_server_is_leader": "gauge",
    "etcd_server_leader_changes_seen": "counter",
    "etcd_server_proposals_committed_total": "gauge",
    "etcd_server_proposals_applied_total": "gauge",
    "etcd_server_proposals_pending": "gauge",
    "etcd_server_proposals_failed": "counter",
    "etcd_disk_wal_fsync_duration_seconds": "histogram",
    "etcd_disk_backend_commit_duration_seconds": "histogram",
    "etcd_mvcc_db_total_size_in_bytes": "gauge",
    "etcd_mvcc_db_total_size_in_use_in_bytes": "gauge",
    "etcd_debugging_mvcc_db_total_size_in_bytes": "gauge",
    "etcd_debugging_mvcc_keys_total": "gauge",
    "etcd_debugging_mvcc_watcher_total": "gauge",
    "etcd_debugging_mvcc_current_revision": "gauge",
    "etcd_mvcc_put": "counter",
    "etcd_network_client_grpc_received_bytes": "counter",
    "etcd_network_client_grpc_sent_bytes": "counter",
    "grpc_server_started": "counter",
    "grpc_server_handled": "counter",
    "grpc_server_msg_received": "counter",
    "grpc_server_msg_sent": "counter",
    "process_resident_memory_bytes": "gauge",
    "etcd_server_version": "gauge",
    "etcd_server_id": "gauge",
}


def scrape(url):
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        assert resp.status == 200, resp.status
        ctype = resp.headers["Content-Type"]
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(families, name, **labels):
    """The sample `name` (a counter's `_total`, a histogram's `_count`)."""
    family = name
    for suffix in ("_total", "_count", "_sum", "_bucket"):
        if family not in families and family.endswith(suffix):
            family = family[: -len(suffix)]
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {name} {labels}")


for url in sys.argv[1:]:
    fams = scrape(url)
    for name, kind in EXPECTED.items():
        assert name in fams, f"{url}: no {name}"
        assert fams[name].type == kind, f"{url}: {name} is {fams[name].type}, not {kind}"
    assert value(fams, "etcd_server_has_leader") == 1
    assert value(fams, "etcd_server_is_leader") == 1
    assert value(fams, "etcd_mvcc_put_total") >= 20
    assert value(fams, "etcd_debugging_mvcc_keys_total") == 20
    assert value(fams, "etcd_debugging_mvcc_current_revision") == 21
    assert value(fams, "etcd_disk_wal_fsync_duration_seconds_count") >= 20
    ok_puts = value(
        fams,
        "grpc_server_handled_total",
        grpc_code="OK",
        grpc_method="Put",
        grpc_service="etcdserverpb.KV",
        grpc_type="unary",
    )
    assert ok_puts == 20, ok_puts
    assert value(fams, "etcd_server_version", server_version="3.4.23") == 1
    print(f"{url}: {len(fams)} families")

print("metrics parsed")
