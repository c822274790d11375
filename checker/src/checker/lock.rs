//! The lock checker, on what the clients of [`crate::workload::lock`] saw.
//!
//! etcd's lock (v3lock, the `concurrency.Mutex` recipe) promises mutual
//! exclusion in the store's order, not in real time: the holder is the key
//! with the lowest create revision under the lock's prefix, and a holder
//! whose lease expires (a pause, a partition) may still believe it holds
//! the lock after the next waiter got it. etcd's documentation ("etcd3 API:
//! lock", and the `Mutex` docs) tells clients to fence their writes with the
//! lock key's revision: a txn comparing the key's create revision fails once
//! the key is gone. So:
//!
//! * **Fail** if a holder's fenced read finds a key created before its own
//!   still in the lock's queue: the lock is the queue's first key, so two
//!   holders at once, as the store ordered them.
//! * **Fail** if fenced operations of two lock generations (their keys'
//!   create revisions) interleave in revision order, or run in an order the
//!   queue forbids (a later generation before an earlier one).
//! * **Fail** on a fenced lost update: the fenced counter's writes, in
//!   revision order, must strictly increase, and a fenced read must not see
//!   a value older than the last fenced write before it.
//! * **Report** (not fail): holds that overlapped in real time and lost
//!   updates of the unfenced counter. They are allowed by etcd's semantics;
//!   seeing them beside a clean fenced counter shows what the fence is for.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::workload::lock::Event;

/// What a run showed.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// Holds (Lock answered and the key's revision read).
    pub holds: usize,
    /// Fenced reads and writes that went in.
    pub fenced_ops: usize,
    /// Fenced txns refused because the lock key was gone.
    pub fence_rejections: usize,
    /// Pairs of holds by different clients that overlapped in real time.
    pub overlapping_holds: usize,
    /// Unfenced writes that lost an earlier update.
    pub unfenced_lost_updates: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{} holds, {} fenced ops, {} fences refused, {} holds overlapping in real time, \
             {} unfenced lost updates, 0 fenced",
            self.holds,
            self.fenced_ops,
            self.fence_rejections,
            self.overlapping_holds,
            self.unfenced_lost_updates
        )
    }
}

/// A fenced operation: `(revision, generation, read, wrote)`.
type FencedOp = (i64, i64, Option<i64>, Option<i64>);

/// Checks the events; what they show, or the first violation.
pub fn check(events: &[Event]) -> Result<Report, String> {
    let mut report = Report::default();
    let mut fenced: Vec<FencedOp> = Vec::new();
    let mut unfenced: Vec<(i64, i64)> = Vec::new();
    let mut holds: BTreeMap<(usize, i64), (Duration, Option<Duration>)> = BTreeMap::new();
    for e in events {
        match *e {
            Event::Acquired {
                client,
                generation,
                at,
            } => {
                report.holds += 1;
                holds.insert((client, generation), (at, None));
            }
            Event::Released {
                client,
                generation,
                at,
            } => {
                if let Some(h) = holds.get_mut(&(client, generation)) {
                    h.1 = Some(at);
                }
            }
            Event::Fenced {
                generation,
                revision,
                read,
                ref earlier,
                wrote,
                ..
            } => {
                if !earlier.is_empty() {
                    return Err(format!(
                        "two lock holders at once: generation {generation} (lock key created at \
                         that revision) held the lock at revision {revision} while keys created \
                         at {earlier:?} were still queued before it"
                    ));
                }
                fenced.push((revision, generation, read, wrote))
            }
            Event::FenceRejected { .. } => report.fence_rejections += 1,
            Event::Unfenced {
                revision, wrote, ..
            } => unfenced.push((revision, wrote)),
        }
    }
    report.fenced_ops = fenced.len();
    check_fenced(&mut fenced)?;
    report.unfenced_lost_updates = lost_updates(&mut unfenced);
    report.overlapping_holds = overlaps(&holds);
    Ok(report)
}

/// Mutual exclusion and no lost update, in revision order.
fn check_fenced(ops: &mut [FencedOp]) -> Result<(), String> {
    // A read's header revision is the store's revision when it ran, which
    // is the revision of the last write before it: writes sort first.
    ops.sort_by_key(|&(rev, _, _, wrote)| (rev, wrote.is_none()));
    let mut holder: Option<(i64, i64)> = None; // (generation, since revision)
    let mut last_write: Option<(i64, i64)> = None; // (revision, value)
    for &(rev, generation, read, wrote) in ops.iter() {
        match holder {
            Some((g, since)) if generation < g => {
                return Err(format!(
                    "two lock holders at once: generation {generation} (lock key created at that \
                     revision) wrote through its fence at revision {rev}, after generation {g} \
                     did at revision {since}"
                ));
            }
            Some((g, _)) if generation == g => {}
            _ => holder = Some((generation, rev)),
        }
        if let (Some(v), Some((wrev, last))) = (wrote, last_write) {
            if v <= last {
                return Err(format!(
                    "lost update under the fence: generation {generation} wrote {v} at revision \
                     {rev}, after {last} was written at revision {wrev}"
                ));
            }
        }
        if let (Some(v), Some((wrev, last))) = (read, last_write) {
            if v < last {
                return Err(format!(
                    "stale read under the fence: generation {generation} read {v} at revision \
                     {rev}, after {last} was written at revision {wrev}"
                ));
            }
        }
        if let Some(v) = wrote {
            last_write = Some((rev, v));
        }
    }
    Ok(())
}

/// Writes of a read-modify-write counter, `(revision, value)`: how many
/// wrote a value no greater than one written before them (an update lost).
fn lost_updates(writes: &mut [(i64, i64)]) -> usize {
    writes.sort_unstable();
    let mut max = i64::MIN;
    let mut lost = 0;
    for &(_, v) in writes.iter() {
        if v <= max {
            lost += 1;
        }
        max = max.max(v);
    }
    lost
}

/// Pairs of holds by different clients whose `[acquired, released]`
/// intervals overlap (a hold never released lasts forever).
fn overlaps(holds: &BTreeMap<(usize, i64), (Duration, Option<Duration>)>) -> usize {
    let spans: Vec<(usize, Duration, Duration)> = holds
        .iter()
        .map(|(&(c, _), &(from, to))| (c, from, to.unwrap_or(Duration::MAX)))
        .collect();
    let mut n = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fenced(
        client: usize,
        generation: i64,
        revision: i64,
        read: Option<i64>,
        wrote: Option<i64>,
    ) -> Event {
        Event::Fenced {
            client,
            generation,
            revision,
            read,
            earlier: vec![],
            wrote,
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn holders_in_turn_pass() {
        let events = vec![
            Event::Acquired {
                client: 0,
                generation: 5,
                at: at(0),
            },
            fenced(0, 5, 6, Some(0), None),
            fenced(0, 5, 7, None, Some(1)),
            Event::Released {
                client: 0,
                generation: 5,
                at: at(10),
            },
            Event::Acquired {
                client: 1,
                generation: 6,
                at: at(20),
            },
            fenced(1, 6, 9, Some(1), None),
            fenced(1, 6, 10, None, Some(2)),
            Event::Released {
                client: 1,
                generation: 6,
                at: at(30),
            },
        ];
        let r = check(&events).unwrap();
        assert_eq!((r.holds, r.fenced_ops, r.overlapping_holds), (2, 4, 0));
    }

    #[test]
    fn an_earlier_key_in_the_queue_fails() {
        let events = vec![Event::Fenced {
            client: 1,
            generation: 8,
            revision: 9,
            read: Some(0),
            earlier: vec![5],
            wrote: None,
        }];
        let e = check(&events).unwrap_err();
        assert!(e.contains("still queued before it"), "{e}");
    }

    #[test]
    fn interleaved_generations_fail() {
        let events = vec![
            fenced(0, 5, 6, Some(0), None),
            fenced(1, 6, 7, Some(0), None),
            fenced(0, 5, 8, None, Some(1)),
        ];
        let e = check(&events).unwrap_err();
        assert!(e.contains("two lock holders at once"), "{e}");
    }

    #[test]
    fn duplicate_fenced_value_is_a_lost_update() {
        // Both generations in order, but the second read a value from
        // before the first one's write.
        let events = vec![
            fenced(0, 5, 7, None, Some(1)),
            fenced(1, 6, 9, None, Some(1)),
        ];
        let e = check(&events).unwrap_err();
        assert!(e.contains("lost update"), "{e}");
        let events = vec![
            fenced(0, 5, 7, None, Some(1)),
            fenced(1, 6, 8, Some(0), None),
        ];
        let e = check(&events).unwrap_err();
        assert!(e.contains("stale read"), "{e}");
    }

    #[test]
    fn a_read_at_a_writes_revision_comes_after_it() {
        // Generation 5 wrote revision 7, then 6 read at 7: the queue's order.
        let events = vec![
            fenced(1, 6, 7, Some(1), None),
            fenced(0, 5, 7, None, Some(1)),
        ];
        check(&events).unwrap();
        // Generation 6 wrote revision 7, then 5 read at 7: 5 after 6.
        let events = vec![
            fenced(0, 5, 7, Some(1), None),
            fenced(1, 6, 7, None, Some(1)),
        ];
        let e = check(&events).unwrap_err();
        assert!(e.contains("two lock holders at once"), "{e}");
    }

    #[test]
    fn unfenced_lost_updates_and_overlaps_are_reported() {
        let events = vec![
            Event::Acquired {
                client: 0,
                generation: 5,
                at: at(0),
            },
            Event::Acquired {
                client: 1,
                generation: 6,
                at: at(50),
            },
            Event::Unfenced {
                client: 1,
                generation: 6,
                revision: 8,
                wrote: 1,
            },
            Event::Released {
                client: 1,
                generation: 6,
                at: at(60),
            },
            Event::Unfenced {
                client: 0,
                generation: 5,
                revision: 9,
                wrote: 1,
            },
            Event::Released {
                client: 0,
                generation: 5,
                at: at(100),
            },
        ];
        let r = check(&events).unwrap();
        assert_eq!((r.overlapping_holds, r.unfenced_lost_updates), (1, 1));
    }
}
