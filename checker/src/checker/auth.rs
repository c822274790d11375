//! The auth checker, on what the clients of [`crate::workload::auth`] saw.
//!
//! etcd checks a request against the permissions of the auth store at the
//! point it is applied (a write, at apply time against the revision in its
//! header; a linearizable read, on the serving member after its ReadIndex),
//! and that point lies between the request's call and return. The admin
//! changes one permission at a time and waits until each change is known
//! to hold, so at every moment each permission is either known (on or off)
//! or being changed (either). Then:
//!
//! * **Fail** if a request went in while some permission it needs was
//!   known to be off for its whole call-to-return interval: a write that
//!   should have been refused, or a read that leaked a value.
//! * **Fail** if a request was denied while every permission it needs was
//!   known to be on for its whole interval: a permission not honoured.
//! * **Report** how many requests overlapped a change (either outcome is
//!   then allowed) and how many of each kind were judged.

use std::time::Duration;

use crate::workload::auth::{Event, Outcome, Perm};

/// What a run showed.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    /// Permission changes.
    pub changes: usize,
    /// Requests that went in, and requests denied.
    pub allowed: usize,
    pub denied: usize,
    /// Of those, requests whose interval overlapped a change of a
    /// permission they need (either outcome allowed).
    pub during_change: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} permission changes, {} requests allowed and {} denied as the permissions said ({} during a change)",
            self.changes, self.allowed, self.denied, self.during_change
        )
    }
}

/// A permission's state over time: known, or being changed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Known(bool),
    Changing,
}

/// `(from, to, state)`, covering all time in order (the last to `MAX`).
fn timeline(events: &[Event], perm: Perm) -> Vec<(Duration, Duration, State)> {
    let mut sets: Vec<(Duration, Duration, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Set {
                perm: p,
                on,
                call,
                ret,
            } if *p == perm => Some((*call, *ret, *on)),
            _ => None,
        })
        .collect();
    sets.sort_by_key(|s| s.0);
    let mut t = Vec::new();
    let (mut from, mut on) = (Duration::ZERO, false); // the role starts with nothing
    for (call, ret, next) in sets {
        t.push((from, call, State::Known(on)));
        t.push((call, ret, State::Changing));
        (from, on) = (ret, next);
    }
    t.push((from, Duration::MAX, State::Known(on)));
    t
}

/// The states `perm` may have had at some moment of `[a, b]`.
fn states(t: &[(Duration, Duration, State)], a: Duration, b: Duration) -> Vec<State> {
    t.iter()
        .filter(|(from, to, _)| *from <= b && a <= *to)
        .map(|(_, _, s)| *s)
        .collect()
}

pub fn check(events: &[Event]) -> Result<Report, String> {
    let perms = [Perm::Read, Perm::Write];
    let lines: Vec<_> = perms.iter().map(|p| timeline(events, *p)).collect();
    let line = |p: Perm| &lines[perms.iter().position(|q| *q == p).expect("known perm")];
    let mut r = Report {
        changes: events
            .iter()
            .filter(|e| matches!(e, Event::Set { .. }))
            .count(),
        ..Default::default()
    };
    for e in events {
        let Event::Op {
            user,
            kind,
            call,
            ret,
            outcome,
        } = e
        else {
            continue;
        };
        let needs = kind.needs();
        let seen: Vec<Vec<State>> = needs
            .iter()
            .map(|p| states(line(*p), *call, *ret))
            .collect();
        let changing = seen.iter().any(|s| s.contains(&State::Changing));
        if changing {
            r.during_change += 1;
        }
        let describe = || {
            format!(
                "user u{user}'s {kind:?} called at {call:?}, returned at {ret:?}, needing {needs:?} ({:?})",
                seen
            )
        };
        match outcome {
            Outcome::Ok { .. } => {
                r.allowed += 1;
                // Some moment where no needed permission is known off. With
                // one change at a time, a needed permission known off over
                // the whole interval is the only way there is none.
                if let Some(p) = needs
                    .iter()
                    .zip(&seen)
                    .find(|(_, s)| s.iter().all(|s| *s == State::Known(false)))
                {
                    return Err(format!(
                        "{} went in while {:?} was off throughout",
                        describe(),
                        p.0
                    ));
                }
            }
            Outcome::Denied => {
                r.denied += 1;
                if seen
                    .iter()
                    .all(|s| s.iter().all(|s| *s == State::Known(true)))
                {
                    return Err(format!(
                        "{} was denied while all it needs was on throughout",
                        describe()
                    ));
                }
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::auth::OpKind;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn set(perm: Perm, on: bool, call: u64, ret: u64) -> Event {
        Event::Set {
            perm,
            on,
            call: s(call),
            ret: s(ret),
        }
    }

    fn op(kind: OpKind, call: u64, ret: u64, ok: bool) -> Event {
        Event::Op {
            user: 0,
            kind,
            call: s(call),
            ret: s(ret),
            outcome: if ok {
                Outcome::Ok { saw: None }
            } else {
                Outcome::Denied
            },
        }
    }

    #[test]
    fn judges_by_what_was_known() {
        let base = vec![
            set(Perm::Write, true, 10, 12),
            set(Perm::Read, true, 20, 22),
            set(Perm::Write, false, 30, 32),
        ];
        let with = |e: Event| {
            let mut v = base.clone();
            v.push(e);
            check(&v)
        };
        // Allowed before any grant: a leak.
        assert!(with(op(OpKind::Put, 1, 2, true)).is_err());
        assert!(with(op(OpKind::Get, 13, 19, true)).is_err());
        // Allowed during the grant: either is fine.
        assert!(with(op(OpKind::Put, 9, 11, true)).is_ok());
        // Allowed while on.
        assert!(with(op(OpKind::Put, 13, 19, true)).is_ok());
        assert!(with(op(OpKind::PutPrev, 23, 29, true)).is_ok());
        // Needs both: read is off until 20, write off after 32.
        assert!(with(op(OpKind::Cas, 13, 19, true)).is_err());
        assert!(with(op(OpKind::Cas, 33, 40, true)).is_err());
        // Denied while on: not honoured.
        assert!(with(op(OpKind::Put, 13, 19, false)).is_err());
        assert!(with(op(OpKind::Cas, 23, 29, false)).is_err());
        // Denied while off, or during a revoke.
        assert!(with(op(OpKind::Put, 33, 40, false)).is_ok());
        assert!(with(op(OpKind::Put, 29, 31, false)).is_ok());
        let r = with(op(OpKind::Put, 13, 19, true)).unwrap();
        assert_eq!((r.changes, r.allowed, r.denied), (3, 1, 0));
    }
}
