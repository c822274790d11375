use crate::pb::etcdserverpb::{CompactionRequest, DeleteRangeRequest, PutRequest};

use super::*;

fn spec(key: &str, end: &str, start_rev: i64) -> WatchSpec {
    WatchSpec {
        key: key.into(),
        range_end: end.into(),
        start_rev,
        no_put: false,
        no_delete: false,
    }
}

fn put(kv: &mut KvStore, w: &WatchableStore, k: &str, v: &str) {
    kv.put(&PutRequest {
        key: k.into(),
        value: v.into(),
        ..Default::default()
    })
    .unwrap();
    w.notify(kv.rev(), &kv.take_changes());
}

fn del(kv: &mut KvStore, w: &WatchableStore, k: &str, end: &str) {
    kv.delete_range(&DeleteRangeRequest {
        key: k.into(),
        range_end: end.into(),
        ..Default::default()
    });
    w.notify(kv.rev(), &kv.take_changes());
}

/// Every event received so far: `(watch id, "PUT k=v@rev" | "DELETE k@rev")`.
fn drain(rx: &mut mpsc::Receiver<Out>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(o) = rx.try_recv() {
        match o {
            Out::Batch(b) if b.compact_revision != 0 => {
                out.push(format!("{} compacted {}", b.watch_id, b.compact_revision))
            }
            Out::Batch(b) => {
                for e in b.events {
                    let kv = e.kv.unwrap();
                    let k = String::from_utf8_lossy(&kv.key).into_owned();
                    out.push(if e.r#type == EventType::Put as i32 {
                        format!(
                            "{} PUT {k}={}@{}",
                            b.watch_id,
                            String::from_utf8_lossy(&kv.value),
                            kv.mod_revision
                        )
                    } else {
                        format!("{} DELETE {k}@{}", b.watch_id, kv.mod_revision)
                    });
                }
            }
            Out::Control(_) => out.push("control".into()),
        }
    }
    out
}

#[test]
fn synced_watchers_get_their_range_and_filters() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    let (tx, mut rx) = mpsc::channel(16);
    let s = w.new_stream();
    assert_eq!(
        w.watch(s, 0, true, spec("a", "", 0), tx.clone()),
        Ok((0, 1))
    );
    assert_eq!(
        w.watch(s, 0, true, spec("b", "\0", 0), tx.clone()),
        Ok((1, 1))
    );
    let mut no_put = spec("a", "c", 0);
    no_put.no_put = true;
    assert_eq!(w.watch(s, 7, false, no_put, tx.clone()), Ok((7, 1)));
    put(&mut kv, &w, "a", "1");
    put(&mut kv, &w, "b", "2");
    del(&mut kv, &w, "a", "c");
    let mut got = drain(&mut rx);
    got.sort();
    assert_eq!(
        got,
        [
            "0 DELETE a@4",
            "0 PUT a=1@2",
            "1 DELETE b@4",
            "1 PUT b=2@3",
            "7 DELETE a@4",
            "7 DELETE b@4",
        ]
    );
    assert_eq!(
        w.watch(s, 7, false, spec("a", "", 0), tx.clone()),
        Err(WatchError::DuplicateId)
    );
    assert_eq!(
        w.watch(s, 0, false, spec("b", "a", 0), tx),
        Err(WatchError::EmptyRange)
    );
}

#[test]
fn a_watcher_from_the_past_catches_up_without_gap_or_repeat() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    for i in 0..5 {
        put(&mut kv, &w, "k", &i.to_string());
    }
    let (tx, mut rx) = mpsc::channel(16);
    let s = w.new_stream();
    w.watch(s, 0, true, spec("k", "", 3), tx).unwrap();
    // A write lands before the sync task runs: it must come after the history.
    put(&mut kv, &w, "k", "5");
    assert!(
        drain(&mut rx).is_empty(),
        "unsynced watchers wait for the sync task"
    );
    w.sync(&kv);
    put(&mut kv, &w, "k", "6");
    assert_eq!(
        drain(&mut rx),
        [
            "0 PUT k=1@3",
            "0 PUT k=2@4",
            "0 PUT k=3@5",
            "0 PUT k=4@6",
            "0 PUT k=5@7",
            "0 PUT k=6@8"
        ]
    );
}

#[test]
fn a_slow_watcher_never_blocks_writes_nor_loses_events() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    let (tx, mut rx) = mpsc::channel(2);
    let s = w.new_stream();
    w.watch(s, 0, true, spec("k", "", 0), tx).unwrap();
    for i in 0..10 {
        put(&mut kv, &w, "k", &i.to_string());
    }
    let mut got = drain(&mut rx);
    for _ in 0..20 {
        w.sync(&kv);
        got.extend(drain(&mut rx));
    }
    put(&mut kv, &w, "k", "10");
    got.extend(drain(&mut rx));
    let want: Vec<String> = (0..11).map(|i| format!("0 PUT k={i}@{}", i + 2)).collect();
    assert_eq!(got, want);
}

#[test]
fn a_watch_on_compacted_history_is_cancelled() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    for i in 0..4 {
        put(&mut kv, &w, "k", &i.to_string());
    }
    kv.compact(
        CompactionRequest {
            revision: 4,
            physical: false,
        }
        .revision,
    )
    .unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let s = w.new_stream();
    w.watch(s, 0, true, spec("k", "", 2), tx).unwrap();
    w.sync(&kv);
    assert_eq!(drain(&mut rx), ["0 compacted 4"]);
    assert!(w.is_empty());
}

#[test]
fn progress_only_when_every_watcher_of_the_stream_is_synced() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    put(&mut kv, &w, "k", "0");
    let (tx, _rx) = mpsc::channel(4);
    let s = w.new_stream();
    w.watch(s, 0, true, spec("k", "", 0), tx.clone()).unwrap();
    assert_eq!(w.progress(s), Some(2));
    w.watch(s, 0, true, spec("k", "", 1), tx).unwrap();
    assert_eq!(w.progress(s), None);
    w.sync(&kv);
    assert_eq!(w.progress(s), Some(2));
    w.close_stream(s);
    assert!(w.is_empty());
}

#[test]
fn a_sync_round_reads_history_for_a_bounded_number_of_watchers() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    for i in 0..3 {
        put(&mut kv, &w, "k", &i.to_string());
    }
    let n = SYNC_WATCHERS_MAX + 88;
    let mut rxs = Vec::new();
    for _ in 0..n {
        let (tx, rx) = mpsc::channel(4);
        w.watch(w.new_stream(), 0, true, spec("k", "", 1), tx)
            .unwrap();
        rxs.push(rx);
    }
    w.sync(&kv);
    let caught_up = rxs
        .iter_mut()
        .map(drain)
        .filter(|got| !got.is_empty())
        .count();
    assert_eq!(caught_up, SYNC_WATCHERS_MAX);
    w.sync(&kv);
    let rest = rxs
        .iter_mut()
        .map(drain)
        .filter(|got| !got.is_empty())
        .count();
    assert_eq!(rest, n - SYNC_WATCHERS_MAX);
    assert!(!w.needs_sync());
}

#[test]
fn a_watcher_whose_stream_is_full_waits_then_catches_up_whole() {
    let mut kv = KvStore::new();
    let w = WatchableStore::new(kv.rev());
    for i in 0..3 {
        put(&mut kv, &w, "k", &i.to_string());
    }
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(Out::Control(Default::default())).unwrap();
    w.watch(w.new_stream(), 0, true, spec("k", "", 1), tx)
        .unwrap();
    w.sync(&kv);
    assert!(w.needs_sync(), "no room: still behind");
    assert_eq!(drain(&mut rx), ["control"]);
    put(&mut kv, &w, "k", "3");
    w.sync(&kv);
    w.sync(&kv);
    let want: Vec<String> = (0..4).map(|i| format!("0 PUT k={i}@{}", i + 2)).collect();
    assert_eq!(drain(&mut rx), want);
}
