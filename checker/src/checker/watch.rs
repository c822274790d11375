//! The watch checker, on what [`crate::workload::watch`] recorded. It checks
//! the guarantees etcd documents for watch (api_guarantees.md, "Watch APIs"):
//!
//! * **Ordered**: a watcher's events come in revision order.
//! * **Unique**: no event twice, also across a resume on another member.
//! * **Atomic**: a revision's events arrive in one response.
//! * **Reliable**: no gap: every acknowledged write up to the last revision a
//!   watcher saw is among its events, as written.
//! * **Resumable**: a watch resumed from the revision after the last one seen
//!   continues exactly there (a watcher here resumes after every failure).
//! * `prev_kv` is the pair the key held before, and a put's version is 1
//!   exactly when it created the key; watchers on different members agree
//!   on every revision.
//! * **Progress is true**: after a progress notification (asked for with
//!   `WatchProgressRequest`, or periodic with `progress_notify`) names a
//!   revision, no event at or below it arrives on that stream: it never
//!   claims a revision whose events were not sent.

use std::collections::{BTreeMap, HashMap};

use oxcd::pb::mvccpb::{event::EventType, Event, KeyValue};

use crate::workload::watch::{Received, Write};

fn describe(e: &Event) -> String {
    let kv = e.kv.clone().unwrap_or_default();
    format!(
        "{} {}={} @{} v{}",
        if e.r#type == EventType::Put as i32 {
            "PUT"
        } else {
            "DELETE"
        },
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.mod_revision,
        kv.version
    )
}

/// Checks every watcher's events; how many events were checked, or the
/// first violation.
pub fn check(writes: &[Write], received: &[Received], watchers: usize) -> Result<usize, String> {
    let by_rev: HashMap<i64, &Write> = writes.iter().map(|w| (w.revision, w)).collect();
    let mut seen_at: BTreeMap<i64, (usize, Event)> = BTreeMap::new();
    let mut checked = 0;
    for id in 0..watchers {
        let mine: Vec<&Received> = received.iter().filter(|r| r.watcher == id).collect();
        let mut last_rev = 0i64;
        let mut state: HashMap<Vec<u8>, KeyValue> = HashMap::new();
        let mut revs_in: HashMap<i64, (usize, usize)> = HashMap::new();
        let mut claimed: Option<(usize, i64)> = None; // (stream, revision)
        for (n, r) in mine.iter().enumerate() {
            if let Some(p) = r.progress {
                let before = claimed.filter(|c| c.0 == r.stream).map_or(0, |c| c.1);
                claimed = Some((r.stream, before.max(p)));
            }
            if let Some((stream, p)) = claimed.filter(|c| c.0 == r.stream) {
                if let Some(e) = r
                    .events
                    .iter()
                    .find(|e| e.kv.as_ref().is_some_and(|kv| kv.mod_revision <= p))
                {
                    return Err(format!(
                        "watcher {id}: event {} on stream {stream} after a progress notification said every event up to revision {p} had been sent",
                        describe(e)
                    ));
                }
            }
            if r.compact_revision != 0 {
                return Err(format!(
                    "watcher {id}: cancelled as compacted at {} though nothing was compacted",
                    r.compact_revision
                ));
            }
            for e in &r.events {
                checked += 1;
                let kv = e.kv.clone().unwrap_or_default();
                let rev = kv.mod_revision;
                // Ordered and unique (one event a revision in this workload).
                if rev <= last_rev {
                    return Err(format!(
                        "watcher {id}: event {} after revision {last_rev}: out of order or repeated (stream {})",
                        describe(e),
                        r.stream
                    ));
                }
                // Atomic: a revision in one response.
                if let Some(&(other, _)) = revs_in.get(&rev) {
                    if other != n {
                        return Err(format!(
                            "watcher {id}: revision {rev} split across responses"
                        ));
                    }
                }
                revs_in.insert(rev, (n, r.stream));
                // Reliable: nothing acknowledged in between was skipped.
                if let Some(w) = by_rev.range_between(last_rev, rev) {
                    return Err(format!(
                        "watcher {id}: no event for the acknowledged write of {} at revision {} (went from {last_rev} to {}, stream {})",
                        w.key,
                        w.revision,
                        describe(e),
                        r.stream
                    ));
                }
                last_rev = rev;
                // As written.
                if let Some(w) = by_rev.get(&rev) {
                    let same = kv.key == w.key.as_bytes()
                        && match &w.value {
                            Some(v) => {
                                e.r#type == EventType::Put as i32 && kv.value == v.as_bytes()
                            }
                            None => e.r#type == EventType::Delete as i32,
                        };
                    if !same {
                        return Err(format!(
                            "watcher {id}: event {} is not the write acknowledged at revision {rev} ({} {:?})",
                            describe(e),
                            w.key,
                            w.value
                        ));
                    }
                }
                // prev_kv and is_create, by this watcher's own history
                // (it watches from revision 1).
                let before = state.get(&kv.key).cloned();
                if e.prev_kv != before {
                    return Err(format!(
                        "watcher {id}: event {} has prev_kv {:?}, but the key held {:?}",
                        describe(e),
                        e.prev_kv
                            .as_ref()
                            .map(|p| String::from_utf8_lossy(&p.value).into_owned()),
                        before
                            .as_ref()
                            .map(|p| String::from_utf8_lossy(&p.value).into_owned())
                    ));
                }
                if e.r#type == EventType::Put as i32 {
                    if (kv.version == 1) != before.is_none() {
                        return Err(format!(
                            "watcher {id}: event {} is_create is {} but the key {} before",
                            describe(e),
                            kv.version == 1,
                            if before.is_none() {
                                "did not exist"
                            } else {
                                "existed"
                            }
                        ));
                    }
                    state.insert(kv.key.clone(), kv.clone());
                } else {
                    state.remove(&kv.key);
                }
                // Every watcher sees the same revision the same way.
                match seen_at.get(&rev) {
                    Some((other, ev)) if ev != e => {
                        return Err(format!(
                            "watchers {other} and {id} disagree on revision {rev}: {} vs {}",
                            describe(ev),
                            describe(e)
                        ));
                    }
                    Some(_) => {}
                    None => {
                        seen_at.insert(rev, (id, e.clone()));
                    }
                }
            }
        }
        // Reliable to the end: the last writes, too.
        if let Some(w) = writes
            .iter()
            .filter(|w| w.revision > last_rev)
            .min_by_key(|w| w.revision)
        {
            return Err(format!(
                "watcher {id}: never got the acknowledged write of {} at revision {} (last revision seen {last_rev})",
                w.key, w.revision
            ));
        }
    }
    Ok(checked)
}

/// The first acknowledged write strictly between two revisions.
trait Between<'a> {
    fn range_between(&self, lo: i64, hi: i64) -> Option<&'a Write>;
}

impl<'a> Between<'a> for HashMap<i64, &'a Write> {
    fn range_between(&self, lo: i64, hi: i64) -> Option<&'a Write> {
        if hi - lo <= 1 {
            return None;
        }
        ((lo + 1)..hi).find_map(|r| self.get(&r).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, rev: i64) -> Event {
        Event {
            r#type: EventType::Put as i32,
            kv: Some(KeyValue {
                key: key.into(),
                value: value.into(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                lease: 0,
            }),
            prev_kv: None,
        }
    }

    fn got(stream: usize, events: Vec<Event>, progress: Option<i64>) -> Received {
        Received {
            watcher: 0,
            stream,
            events,
            compact_revision: 0,
            progress,
        }
    }

    fn write(key: &str, value: &str, revision: i64) -> Write {
        Write {
            key: key.into(),
            value: Some(value.into()),
            revision,
        }
    }

    #[test]
    fn progress_may_not_claim_events_still_to_come() {
        let writes = [write("a", "1", 2), write("b", "1", 3)];
        let honest = [
            got(1, vec![put("a", "1", 2)], None),
            got(1, vec![], Some(2)),
            got(1, vec![put("b", "1", 3)], None),
        ];
        assert_eq!(check(&writes, &honest, 1), Ok(2));
        let lying = [
            got(1, vec![put("a", "1", 2)], None),
            got(1, vec![], Some(3)),
            got(1, vec![put("b", "1", 3)], None),
        ];
        let e = check(&writes, &lying, 1).unwrap_err();
        assert!(e.contains("progress notification"), "{e}");
        // A claim is about its own stream: a resumed stream starts afresh.
        let resumed = [
            got(1, vec![put("a", "1", 2)], None),
            got(1, vec![], Some(2)),
            got(2, vec![put("b", "1", 3)], None),
        ];
        assert_eq!(check(&writes, &resumed, 1), Ok(2));
    }
}
