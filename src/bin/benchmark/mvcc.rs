//! `mvcc put`: puts straight into oxcd's MVCC store in this process (etcd
//! runs its own `mvcc` store on a bbolt file the same way), no server, no
//! raft. The store's writes go to a SledBackend in a temporary directory,
//! committed in batches: when `--batch-limit` puts are pending or
//! `--batch-interval` ms have passed since the last commit (checked at
//! each put; etcd's backend commits on the interval from a goroutine).

use std::time::{Duration, Instant};

use oxcd::mvcc::store::KvStore;
use oxcd::pb::etcdserverpb::{request_op, PutRequest, RequestOp, TxnRequest};
use oxcd::storage::backend::{Backend, SledBackend};

use crate::report::{Outcome, Recorder};
use crate::{f, Bool, Int, Str};
use crate::{fail, rand_bytes, Flag, Global};

pub const MVCC_PUT_FLAGS: &[Flag] = &[
    f("total", Int, "100", "a total number of keys to put"),
    f("key-size", Int, "64", "a size of key (Byte)"),
    f("value-size", Int, "64", "a size of value (Byte)"),
    f("txn", Bool, "false", "put a key in transaction or not"),
    f(
        "txn-ops",
        Int,
        "1",
        "a number of keys to put per transaction",
    ),
    f(
        "cpuprofile",
        Str,
        "",
        "the path of file for storing cpu profile result (not supported by oxcd)",
    ),
    f(
        "memprofile",
        Str,
        "",
        "the path of file for storing heap profile result (not supported by oxcd)",
    ),
    f(
        "batch-interval",
        Int,
        "100",
        "Interval of batching (milliseconds)",
    ),
    f(
        "batch-limit",
        Int,
        "10000",
        "A limit of batched transaction",
    ),
];

pub fn put(o: &crate::Opts, g: &Global) {
    for p in ["cpuprofile", "memprofile"] {
        if !o.str(p).is_empty() {
            fail(&format!(
                "--{p}: Go's pprof profiles are not available in oxcd (use perf)"
            ));
        }
    }
    let total = o.count("total");
    let txn = o.bool("txn");
    let ops = if txn { o.count("txn-ops").max(1) } else { 1 };
    let interval = Duration::from_millis(o.count("batch-interval") as u64);
    let batch_limit = o.count("batch-limit").max(1);
    let (key_size, value_size) = (o.count("key-size"), o.count("value-size"));
    let keys: Vec<Vec<u8>> = (0..total * ops).map(|_| rand_bytes(key_size)).collect();
    let vals: Vec<Vec<u8>> = (0..total * ops).map(|_| rand_bytes(value_size)).collect();

    let dir = std::env::temp_dir().join(format!("oxcd-mvcc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let backend = SledBackend::open(&dir)
        .unwrap_or_else(|e| fail(&format!("cannot open a backend in {}: {e}", dir.display())));
    let mut store = KvStore::new();
    let mut pending = Vec::new();
    let (mut pending_puts, mut index, mut last_commit) = (0usize, 0u64, Instant::now());
    let commit = |pending: &mut Vec<_>, index: &mut u64| {
        *index += 1;
        backend
            .commit(pending, *index)
            .unwrap_or_else(|e| fail(&format!("backend commit: {e}")));
        pending.clear();
    };

    let rec = Recorder::quiet();
    let start = Instant::now();
    for i in 0..total {
        let st = Instant::now();
        let put = |j: usize| PutRequest {
            key: keys[j].clone(),
            value: vals[j].clone(),
            ..Default::default()
        };
        let r = if txn {
            let success = (i * ops..(i + 1) * ops)
                .map(|j| RequestOp {
                    request: Some(request_op::Request::RequestPut(put(j))),
                })
                .collect();
            store
                .txn(&TxnRequest {
                    success,
                    ..Default::default()
                })
                .map(drop)
        } else {
            store.put(&put(i)).map(drop)
        };
        pending.extend(store.take_ops());
        store.take_changes();
        pending_puts += ops;
        if pending_puts >= batch_limit || last_commit.elapsed() >= interval {
            commit(&mut pending, &mut index);
            pending_puts = 0;
            last_commit = Instant::now();
        }
        rec.add(Outcome {
            start: st,
            took: st.elapsed(),
            err: r.err().map(|e| e.to_string()),
            weight: if txn { ops as f64 } else { 0.0 },
        });
    }
    let took = start.elapsed();
    let outcomes = rec.finish();
    // etcd prints the weighted report and then the plain one, with or
    // without --txn.
    print!("{}", g.reporter.render_weighted(&outcomes, took));
    if !pending.is_empty() {
        commit(&mut pending, &mut index);
    }
    drop(backend);
    let _ = std::fs::remove_dir_all(&dir);
}
