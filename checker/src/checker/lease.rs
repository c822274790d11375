//! The lease checker: what etcd documents about leases, checked on what the
//! clients of [`crate::workload::lease`] saw.
//!
//! * **No early expiry.** A lease granted or kept alive with TTL `t` by a
//!   request sent at `s` lives until the leader's clock has advanced `t`
//!   past the renewal (etcd's `Lessor.Renew`, and `Promote` extending every
//!   lease on a leader change): a linearizable read answered at `r` misses
//!   its key only if some member's clock could have advanced `t` over
//!   `[s, r]` ([`max_advance`]: real time, plus what fast clocks gained,
//!   plus jumps — the clock nemesis reaches the lessor).
//! * **Revoke is atomic.** A lease's keys go in one revision: a read never
//!   sees some of them (etcd's `Lessor.Revoke` deletes them in one txn).
//! * **Revoke is final.** A read called after a revoke was acknowledged sees
//!   none of the lease's keys.
//! * **Expiry happens** (checked by the scenario): once faults are healed and
//!   no lease is kept alive, every key goes within the stated bound.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::{max_advance, ClockFault};
use crate::workload::lease::Event;

#[derive(Default)]
struct Lease {
    /// `(sent, ttl)` of every answer that said the lease was alive.
    alive: Vec<(Duration, i64)>,
    /// `(key, put acknowledged at)`.
    keys: Vec<(String, Duration)>,
    /// When a revoke was first asked.
    revoke_sent: Option<Duration>,
    /// When a revoke was first acknowledged.
    revoke_acked: Option<Duration>,
}

fn fmt(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// Checks the events; the number of reads checked, or the first violation
/// with the events of the lease it is about.
pub fn check(events: &[Event], clock: &[ClockFault]) -> Result<usize, String> {
    check_all(events, clock).map_err(|(id, why)| {
        let lines: Vec<String> = events
            .iter()
            .filter(|e| match e {
                Event::Granted { id: i, .. }
                | Event::Put { id: i, .. }
                | Event::KeptAlive { id: i, .. }
                | Event::Revoked { id: i, .. } => *i == id,
                Event::Read { .. } => false,
            })
            .map(|e| format!("  {e:?}"))
            .collect();
        format!("{why}\n{}", lines.join("\n"))
    })
}

fn check_all(events: &[Event], clock: &[ClockFault]) -> Result<usize, (i64, String)> {
    let mut leases: BTreeMap<i64, Lease> = BTreeMap::new();
    for e in events {
        match e {
            Event::Granted { id, ttl, sent, .. } => {
                leases.entry(*id).or_default().alive.push((*sent, *ttl))
            }
            Event::KeptAlive { id, ttl, sent, .. } if *ttl > 0 => {
                leases.entry(*id).or_default().alive.push((*sent, *ttl))
            }
            Event::Put { id, key, acked } => leases
                .entry(*id)
                .or_default()
                .keys
                .push((key.clone(), *acked)),
            Event::Revoked { id, sent, acked } => {
                let l = leases.entry(*id).or_default();
                l.revoke_sent = l.revoke_sent.min(Some(*sent)).or(Some(*sent));
                if let Some(a) = acked {
                    l.revoke_acked = l.revoke_acked.min(Some(*a)).or(Some(*a));
                }
            }
            _ => {}
        }
    }
    let mut reads = 0;
    for e in events {
        let Event::Read { sent, acked, keys } = e else {
            continue;
        };
        reads += 1;
        let seen = |k: &str| keys.iter().any(|(key, _)| key == k);
        for (id, l) in &leases {
            // Keys whose put was acknowledged before the read was called:
            // the read must reflect them.
            let before: Vec<&str> = l
                .keys
                .iter()
                .filter(|(_, at)| at < sent)
                .map(|(k, _)| k.as_str())
                .collect();
            let present = before.iter().filter(|k| seen(k)).count();
            if present > 0 && present < before.len() {
                return Err((*id, format!(
                    "lease {id:x}: a read answered at {} saw {present} of its {} keys: a revoke or expiry was not atomic",
                    fmt(*acked),
                    before.len()
                )));
            }
            if present > 0 {
                if let Some(r) = l.revoke_acked.filter(|r| r < sent) {
                    return Err((*id, format!(
                        "lease {id:x}: revoked (acknowledged at {}), but a read called at {} still saw its keys",
                        fmt(r),
                        fmt(*sent)
                    )));
                }
                continue;
            }
            if before.is_empty() || l.revoke_sent.is_some_and(|r| r <= *acked) {
                continue;
            }
            // Gone, and nobody revoked it: it expired. Every answer that
            // found it alive promised it `ttl` from when it was asked.
            for &(alive_at, ttl) in &l.alive {
                if alive_at > *acked {
                    continue;
                }
                let adv = max_advance(clock, alive_at, *acked);
                if adv < Duration::from_secs(ttl as u64) {
                    return Err((*id, format!(
                        "lease {id:x} expired early: found alive with TTL {ttl}s by a request sent at {}, but its keys were gone in a read answered at {} (no clock can have advanced more than {} in between)",
                        fmt(alive_at),
                        fmt(*acked),
                        fmt(adv)
                    )));
                }
            }
        }
    }
    Ok(reads)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    fn history(read_at: f64, keys: &[&str]) -> Vec<Event> {
        vec![
            Event::Granted {
                id: 1,
                ttl: 3,
                sent: s(1.0),
                acked: s(1.1),
            },
            Event::Put {
                id: 1,
                key: "a".into(),
                acked: s(1.2),
            },
            Event::Put {
                id: 1,
                key: "b".into(),
                acked: s(1.3),
            },
            Event::KeptAlive {
                id: 1,
                ttl: 3,
                sent: s(2.0),
                acked: s(2.1),
            },
            Event::Read {
                sent: s(read_at - 0.1),
                acked: s(read_at),
                keys: keys.iter().map(|k| (k.to_string(), 1)).collect(),
            },
        ]
    }

    #[test]
    fn expiry_after_the_ttl_is_fine() {
        assert_eq!(check(&history(5.5, &[]), &[]), Ok(1));
    }

    #[test]
    fn expiry_before_the_ttl_is_caught() {
        let err = check(&history(4.5, &[]), &[]).unwrap_err();
        assert!(err.contains("expired early"), "{err}");
    }

    #[test]
    fn a_fast_clock_excuses_an_early_expiry() {
        let fast = ClockFault::Skew {
            from: s(2.0),
            to: s(4.0),
            rate: 2.0,
        };
        assert_eq!(check(&history(4.5, &[]), &[fast]), Ok(1));
        let jump = ClockFault::Jump {
            at: s(3.0),
            by: s(1.0),
        };
        assert_eq!(check(&history(4.5, &[]), &[jump]), Ok(1));
    }

    #[test]
    fn half_a_lease_is_caught() {
        let err = check(&history(3.0, &["a"]), &[]).unwrap_err();
        assert!(err.contains("not atomic"), "{err}");
    }

    #[test]
    fn a_revoked_lease_stays_gone() {
        let mut h = history(3.0, &["a", "b"]);
        h.insert(
            4,
            Event::Revoked {
                id: 1,
                sent: s(2.5),
                acked: Some(s(2.6)),
            },
        );
        let err = check(&h, &[]).unwrap_err();
        assert!(err.contains("revoked"), "{err}");
        // Gone after a revoke in flight: fine, however early.
        let mut h = history(3.0, &[]);
        h.insert(
            4,
            Event::Revoked {
                id: 1,
                sent: s(2.5),
                acked: None,
            },
        );
        assert_eq!(check(&h, &[]), Ok(1));
    }
}
