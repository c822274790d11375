//! etcd's Prometheus metrics (`/metrics`): the names, types, labels and
//! help texts etcd 3.4 exports, for what oxcd does. One [`Metrics`] per
//! member (the simulator runs several in one process), each with its own
//! registry, encoded by the `prometheus` crate in the text format 0.0.4.
//!
//! Three kinds of figures:
//! * counted where the event happens (fsyncs, backend commits, leader
//!   changes, failed proposals, peer bytes, gRPC calls);
//! * read from the member's state when scraped ([`Metrics::gather`] takes
//!   a [`Scrape`]: raft indexes, revisions, key and watcher counts, db size);
//! * counted by the sans-IO cores as plain numbers ([`crate::apply::ApplyStats`])
//!   and carried over by the raft loop.

use std::sync::Mutex;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// `--metrics`: `extensive` adds gRPC handling-time histograms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Level {
    #[default]
    Basic,
    Extensive,
}

impl Level {
    pub fn parse(s: &str) -> Result<Level, String> {
        match s {
            "basic" => Ok(Level::Basic),
            "extensive" => Ok(Level::Extensive),
            _ => Err(format!("unknown metrics level {s:?}")),
        }
    }
}

/// A member's state as read for one scrape.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub member_id: u64,
    pub server_version: String,
    pub cluster_version: Option<String>,
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    pub committed_index: u64,
    pub applied_index: u64,
    pub current_revision: i64,
    pub compact_revision: i64,
    pub keys: i64,
    pub db_size_bytes: i64,
    pub db_size_in_use_bytes: i64,
    pub watchers: i64,
    pub watch_streams: i64,
    pub slow_watchers: i64,
    pub auth_revision: i64,
    pub quota_backend_bytes: i64,
}

/// What the apply path counts (etcd's mvcc and lease counters).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyCounts {
    pub puts: u64,
    pub deletes: u64,
    pub txns: u64,
    pub ranges: u64,
    pub leases_granted: u64,
    pub leases_revoked: u64,
}

/// gRPC status codes by name, as go-grpc-prometheus labels them.
pub const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

/// etcd's disk histograms: 1 ms doubling to about 8 s.
fn disk_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(0.001, 2.0, 14).expect("valid buckets")
}

pub struct Metrics {
    registry: Registry,
    pub level: Level,
    // etcd_server_*
    has_leader: IntGauge,
    is_leader: IntGauge,
    is_learner: IntGauge,
    pub leader_changes_seen: IntCounter,
    proposals_committed: IntGauge,
    proposals_applied: IntGauge,
    pub proposals_pending: IntGauge,
    pub proposals_failed: IntCounter,
    pub read_indexes_failed: IntCounter,
    pub health_success: IntCounter,
    pub health_failures: IntCounter,
    server_id: IntGaugeVec,
    server_version: IntGaugeVec,
    cluster_version: IntGaugeVec,
    quota_backend_bytes: IntGauge,
    // etcd_disk_*
    pub wal_fsync_seconds: Histogram,
    pub backend_commit_seconds: Histogram,
    pub wal_write_bytes: IntGauge,
    // etcd_mvcc_* and their etcd_debugging_mvcc_* twins
    db_total_size: [IntGauge; 2],
    db_in_use: IntGauge,
    puts: [IntCounter; 2],
    deletes: [IntCounter; 2],
    txns: [IntCounter; 2],
    ranges: [IntCounter; 2],
    current_revision: IntGauge,
    compact_revision: IntGauge,
    keys: IntGauge,
    watchers: IntGauge,
    watch_streams: IntGauge,
    slow_watchers: IntGauge,
    pub events_sent: IntCounter,
    // etcd_debugging_lease_* and auth
    leases_granted: IntCounter,
    leases_revoked: IntCounter,
    pub leases_renewed: IntCounter,
    auth_revision: IntGauge,
    // etcd_network_*
    pub peer_sent_bytes: IntCounterVec,
    pub peer_received_bytes: IntCounterVec,
    pub peer_sent_failures: IntCounterVec,
    pub peer_round_trip_seconds: HistogramVec,
    pub client_grpc_sent_bytes: IntCounter,
    pub client_grpc_received_bytes: IntCounter,
    // grpc_server_* (go-grpc-prometheus)
    pub grpc_started: IntCounterVec,
    pub grpc_handled: IntCounterVec,
    pub grpc_msg_received: IntCounterVec,
    pub grpc_msg_sent: IntCounterVec,
    pub grpc_handling_seconds: Option<HistogramVec>,
    /// The apply counts already carried into the counters.
    carried: Mutex<ApplyCounts>,
}

/// One gRPC method's `grpc_server_*` series, looked up once: counting a
/// call then hashes no labels (the four lookups a call made were about 3 %
/// of a put's instructions).
pub struct GrpcSeries {
    pub started: IntCounter,
    pub msg_received: IntCounter,
    pub msg_sent: IntCounter,
    pub handling_seconds: Option<Histogram>,
    /// By gRPC code, in [`GRPC_CODES`]'s order.
    pub handled: Vec<IntCounter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Level::Basic)
    }
}

/// Registers a metric built from `opts`, or panics: every name here is
/// written once, so a clash is a programmer's error.
fn reg<M: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: M) -> M {
    r.register(Box::new(m.clone()))
        .expect("metric registered once");
    m
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    reg(r, IntGauge::new(name, help).expect("valid metric"))
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    reg(r, IntCounter::new(name, help).expect("valid metric"))
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge_vec(r: &Registry, name: &str, help: &str, label: &str) -> IntGaugeVec {
    reg(
        r,
        IntGaugeVec::new(Opts::new(name, help), &[label]).expect("valid metric"),
    )
}

fn histogram(r: &Registry, name: &str, help: &str) -> Histogram {
    let opts = HistogramOpts::new(name, help).buckets(disk_buckets());
    reg(r, Histogram::with_opts(opts).expect("valid metric"))
}

fn twins(r: &Registry, what: &str, help: &str) -> [IntCounter; 2] {
    [
        counter(r, &format!("etcd_mvcc_{what}_total"), help),
        counter(r, &format!("etcd_debugging_mvcc_{what}_total"), help),
    ]
}

impl Metrics {
    pub fn new(level: Level) -> Metrics {
        let r = Registry::new();
        let grpc_labels = ["grpc_method", "grpc_service", "grpc_type"];
        let handled_labels = ["grpc_code", "grpc_method", "grpc_service", "grpc_type"];
        // process_resident_memory_bytes and the rest of the process_* family.
        if let Some(c) = crate::rt::process_metrics() {
            r.register(c).expect("one process collector per registry");
        }
        let db_help = "Total size of the underlying database physically allocated in bytes.";
        Metrics {
            level,
            has_leader: gauge(&r, "etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not."),
            is_leader: gauge(&r, "etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise."),
            is_learner: gauge(&r, "etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise."),
            leader_changes_seen: counter(&r, "etcd_server_leader_changes_seen_total", "The number of leader changes seen."),
            proposals_committed: gauge(&r, "etcd_server_proposals_committed_total", "The total number of consensus proposals committed."),
            proposals_applied: gauge(&r, "etcd_server_proposals_applied_total", "The total number of consensus proposals applied."),
            proposals_pending: gauge(&r, "etcd_server_proposals_pending", "The current number of pending proposals to commit."),
            proposals_failed: counter(&r, "etcd_server_proposals_failed_total", "The total number of failed proposals seen."),
            read_indexes_failed: counter(&r, "etcd_server_read_indexes_failed_total", "The total number of failed read indexes seen."),
            health_success: counter(&r, "etcd_server_health_success", "The total number of successful health checks"),
            health_failures: counter(&r, "etcd_server_health_failures", "The total number of failed health checks"),
            server_id: gauge_vec(&r, "etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", "server_id"),
            server_version: gauge_vec(&r, "etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.", "server_version"),
            cluster_version: gauge_vec(&r, "etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version", "cluster_version"),
            quota_backend_bytes: gauge(&r, "etcd_server_quota_backend_bytes", "Current backend storage quota size in bytes."),
            wal_fsync_seconds: histogram(&r, "etcd_disk_wal_fsync_duration_seconds", "The latency distributions of fsync called by WAL."),
            backend_commit_seconds: histogram(&r, "etcd_disk_backend_commit_duration_seconds", "The latency distributions of commit called by backend."),
            wal_write_bytes: gauge(&r, "etcd_disk_wal_write_bytes_total", "Total number of bytes written in WAL."),
            db_total_size: [
                gauge(&r, "etcd_mvcc_db_total_size_in_bytes", db_help),
                gauge(&r, "etcd_debugging_mvcc_db_total_size_in_bytes", db_help),
            ],
            db_in_use: gauge(&r, "etcd_mvcc_db_total_size_in_use_in_bytes", "Total size of the underlying database logically in use in bytes."),
            puts: twins(&r, "put", "Total number of puts seen by this member."),
            deletes: twins(&r, "delete", "Total number of deletes seen by this member."),
            txns: twins(&r, "txn", "Total number of txns seen by this member."),
            ranges: twins(&r, "range", "Total number of ranges seen by this member."),
            current_revision: gauge(&r, "etcd_debugging_mvcc_current_revision", "The current revision of store."),
            compact_revision: gauge(&r, "etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store."),
            keys: gauge(&r, "etcd_debugging_mvcc_keys_total", "Total number of keys."),
            watchers: gauge(&r, "etcd_debugging_mvcc_watcher_total", "Total number of watchers."),
            watch_streams: gauge(&r, "etcd_debugging_mvcc_watch_stream_total", "Total number of watch streams."),
            slow_watchers: gauge(&r, "etcd_debugging_mvcc_slow_watcher_total", "Total number of unsynced slow watchers."),
            events_sent: counter(&r, "etcd_debugging_mvcc_events_total", "Total number of events sent by this member."),
            leases_granted: counter(&r, "etcd_debugging_lease_granted_total", "The total number of granted leases."),
            leases_revoked: counter(&r, "etcd_debugging_lease_revoked_total", "The total number of revoked leases."),
            leases_renewed: counter(&r, "etcd_debugging_lease_renewed_total", "The number of renewed leases seen by the leader."),
            auth_revision: gauge(&r, "etcd_debugging_auth_revision", "The current revision of auth store."),
            peer_sent_bytes: counter_vec(&r, "etcd_network_peer_sent_bytes_total", "The total number of bytes sent to peers.", &["To"]),
            peer_received_bytes: counter_vec(&r, "etcd_network_peer_received_bytes_total", "The total number of bytes received from peers.", &["From"]),
            peer_sent_failures: counter_vec(&r, "etcd_network_peer_sent_failures_total", "The total number of send failures from peers.", &["To"]),
            peer_round_trip_seconds: reg(
                &r,
                HistogramVec::new(
                    HistogramOpts::new("etcd_network_peer_round_trip_time_seconds", "Round-Trip-Time histogram between peers")
                        .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).expect("valid buckets")),
                    &["To"],
                )
                .expect("valid metric"),
            ),
            client_grpc_sent_bytes: counter(&r, "etcd_network_client_grpc_sent_bytes_total", "The total number of bytes sent to grpc clients."),
            client_grpc_received_bytes: counter(&r, "etcd_network_client_grpc_received_bytes_total", "The total number of bytes received from grpc clients."),
            grpc_started: counter_vec(&r, "grpc_server_started_total", "Total number of RPCs started on the server.", &grpc_labels),
            grpc_handled: counter_vec(&r, "grpc_server_handled_total", "Total number of RPCs completed on the server, regardless of success or failure.", &handled_labels),
            grpc_msg_received: counter_vec(&r, "grpc_server_msg_received_total", "Total number of RPC stream messages received on the server.", &grpc_labels),
            grpc_msg_sent: counter_vec(&r, "grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.", &grpc_labels),
            grpc_handling_seconds: (level == Level::Extensive).then(|| {
                reg(
                    &r,
                    HistogramVec::new(
                        HistogramOpts::new("grpc_server_handling_seconds", "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server."),
                        &grpc_labels,
                    )
                    .expect("valid metric"),
                )
            }),
            carried: Mutex::default(),
            registry: r,
        }
    }

    /// One gRPC method's series (created with zeros if new).
    pub fn grpc_series(&self, service: &str, method: &str, kind: &str) -> GrpcSeries {
        let labels = [method, service, kind];
        GrpcSeries {
            started: self.grpc_started.with_label_values(&labels),
            msg_received: self.grpc_msg_received.with_label_values(&labels),
            msg_sent: self.grpc_msg_sent.with_label_values(&labels),
            handling_seconds: self
                .grpc_handling_seconds
                .as_ref()
                .map(|h| h.with_label_values(&labels)),
            handled: GRPC_CODES
                .iter()
                .map(|code| {
                    self.grpc_handled
                        .with_label_values(&[code, method, service, kind])
                })
                .collect(),
        }
    }

    /// Carries the apply path's running counts into the counters (the
    /// counts only grow; a member that installs a snapshot keeps its own).
    pub fn carry_apply_counts(&self, now: ApplyCounts) {
        let mut seen = self.carried.lock().expect("metrics lock");
        let add = |c: &[IntCounter], new: u64, old: u64| {
            for x in c {
                x.inc_by(new.saturating_sub(old));
            }
        };
        add(&self.puts, now.puts, seen.puts);
        add(&self.deletes, now.deletes, seen.deletes);
        add(&self.txns, now.txns, seen.txns);
        add(&self.ranges, now.ranges, seen.ranges);
        add(
            std::slice::from_ref(&self.leases_granted),
            now.leases_granted,
            seen.leases_granted,
        );
        add(
            std::slice::from_ref(&self.leases_revoked),
            now.leases_revoked,
            seen.leases_revoked,
        );
        *seen = now;
    }

    /// A range this member served.
    pub fn range_served(&self) {
        for c in &self.ranges {
            c.inc();
        }
    }

    pub fn observe_fsync(&self, took: Duration) {
        self.wal_fsync_seconds.observe(took.as_secs_f64());
    }

    pub fn observe_backend_commit(&self, took: Duration) {
        self.backend_commit_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition of every metric, with the state-derived ones
    /// set from `s` first.
    pub fn gather(&self, s: &Scrape) -> String {
        self.has_leader.set(s.has_leader as i64);
        self.is_leader.set(s.is_leader as i64);
        self.is_learner.set(s.is_learner as i64);
        self.proposals_committed.set(s.committed_index as i64);
        self.proposals_applied.set(s.applied_index as i64);
        self.server_id.reset();
        self.server_id
            .with_label_values(&[&format!("{:x}", s.member_id)])
            .set(1);
        self.server_version.reset();
        self.server_version
            .with_label_values(&[&s.server_version])
            .set(1);
        self.cluster_version.reset();
        if let Some(v) = &s.cluster_version {
            self.cluster_version.with_label_values(&[v]).set(1);
        }
        self.quota_backend_bytes.set(s.quota_backend_bytes);
        for g in &self.db_total_size {
            g.set(s.db_size_bytes);
        }
        self.db_in_use.set(s.db_size_in_use_bytes);
        self.current_revision.set(s.current_revision);
        self.compact_revision.set(s.compact_revision);
        self.keys.set(s.keys);
        self.watchers.set(s.watchers);
        self.watch_streams.set(s.watch_streams);
        self.slow_watchers.set(s.slow_watchers);
        self.auth_revision.set(s.auth_revision);
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_etcds_names_types_and_labels() {
        let m = Metrics::new(Level::Basic);
        m.grpc_series("etcdserverpb.KV", "Range", "unary");
        m.carry_apply_counts(ApplyCounts {
            puts: 3,
            ..Default::default()
        });
        m.carry_apply_counts(ApplyCounts {
            puts: 5,
            ..Default::default()
        });
        m.observe_fsync(Duration::from_micros(1500));
        let text = m.gather(&Scrape {
            member_id: 0x8e9e05c52164694d,
            server_version: "3.4.23".into(),
            cluster_version: Some("3.4".into()),
            has_leader: true,
            is_leader: true,
            ..Default::default()
        });
        for line in [
            "# TYPE etcd_server_has_leader gauge",
            "etcd_server_has_leader 1",
            "# TYPE etcd_server_proposals_committed_total gauge",
            "etcd_server_id{server_id=\"8e9e05c52164694d\"} 1",
            "etcd_cluster_version{cluster_version=\"3.4\"} 1",
            "etcd_mvcc_put_total 5",
            "etcd_debugging_mvcc_put_total 5",
            "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"0.002\"} 1",
            "etcd_disk_wal_fsync_duration_seconds_count 1",
            "grpc_server_handled_total{grpc_code=\"Unauthenticated\",grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("grpc_server_handling_seconds"));
        let extensive = Metrics::new(Level::Extensive);
        extensive.grpc_series("etcdserverpb.KV", "Range", "unary");
        assert!(extensive
            .gather(&Scrape::default())
            .contains("# TYPE grpc_server_handling_seconds histogram"));
    }
}
