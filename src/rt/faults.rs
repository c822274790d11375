//! The fault seam: per-node knobs the simulator turns to make one machine's
//! clock or disk misbehave. madsim has a single global clock and an instant
//! in-memory disk, so these faults are modelled where the server feels them:
//! the raft ticker (the only clock the server uses for its own decisions)
//! and the wait for a Ready to be made durable.
//!
//! * Clock rate skew: the node's ticker runs fast or slow (`clock_rate`
//!   ticks per real tick, delivered at the ticker's granularity).
//! * Clock jump: the node's next tick delivers a burst of extra ticks at
//!   once, as if its monotonic clock leapt forward.
//! * Slow disk: every Ready cycle waits `disk_latency` first, like a slow
//!   fsync.
//! * The fsync itself is a point where time passes ([`fsync_point`]): the
//!   simulator can kill a node between appending to the WAL, syncing it,
//!   sending what waits for the sync, and applying — the orders etcd and
//!   raft-rs give as safety rules can be shown to matter.
//! * A failing fsync (`fsync_fails`): the WAL's sync returns an error, and
//!   the member stops, as etcd does.
//!
//! In production (no `cfg(madsim)`) every knob is the identity — one raft
//! tick per ticker tick, no disk delay — and the functions compile to
//! constants. Under the simulator the knobs live per madsim node, in a
//! thread-local map (madsim runs a whole simulation on one thread, and
//! parallel test threads must not see each other's faults).

use std::time::Duration;

/// How one node's clock and disk misbehave; the default is a healthy node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Knobs {
    /// Raft ticks per ticker tick: 2.0 is a clock running twice as fast.
    pub clock_rate: f64,
    /// Extra ticks the next ticker tick delivers (then back to 0).
    pub clock_jump_ticks: u32,
    /// Added before each Ready cycle.
    pub disk_latency: Duration,
    /// The WAL's fsync fails.
    pub fsync_fails: bool,
    /// The next fsync of new entries takes this long (then back to normal):
    /// a window in which the simulator can kill the node mid-cycle.
    pub hold_fsync: Duration,
    /// The node is inside a held fsync right now.
    pub in_fsync: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            clock_rate: 1.0,
            clock_jump_ticks: 0,
            disk_latency: Duration::ZERO,
            fsync_fails: false,
            hold_fsync: Duration::ZERO,
            in_fsync: false,
        }
    }
}

/// Longest time the simulated fsync takes (`fsync_point` draws up to it).
pub const FSYNC_MAX: Duration = Duration::from_micros(400);

/// How many raft ticks the calling node delivers for one ticker tick.
#[cfg(not(madsim))]
#[inline]
pub fn ticks_due() -> u32 {
    1
}

/// How long the calling node's disk takes on top of a Ready cycle (zero in
/// production, so the caller's check for work to persist is skipped).
#[cfg(not(madsim))]
#[inline]
pub fn disk_latency() -> Duration {
    Duration::ZERO
}

/// A point where a Ready cycle waits for the disk (nothing in production:
/// the fsync itself blocked already). `entries`: whether new log entries are
/// waiting for this fsync.
#[cfg(not(madsim))]
#[inline]
pub async fn fsync_point(_entries: bool) {}

/// Whether the calling node's fsync fails (never in production: a real
/// failure comes back from the disk).
#[cfg(not(madsim))]
#[inline]
pub fn fsync_fails() -> bool {
    false
}

#[cfg(madsim)]
pub use sim::{disk_latency, fsync_fails, fsync_point, get, reset, ticks_due, update};

#[cfg(madsim)]
mod sim {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use madsim::task::NodeId;

    use super::Knobs;

    /// Knobs, plus the fractional ticks a skewed clock owes.
    type Node = (Knobs, f64);

    thread_local! {
        static NODES: RefCell<HashMap<NodeId, Node>> = RefCell::new(HashMap::new());
    }

    fn with<T>(node: NodeId, f: impl FnOnce(&mut Knobs, &mut f64) -> T) -> T {
        NODES.with(|n| {
            let mut n = n.borrow_mut();
            let (k, owed) = n.entry(node).or_insert((Knobs::default(), 0.0));
            f(k, owed)
        })
    }

    /// How many raft ticks the calling node delivers for one ticker tick.
    pub fn ticks_due() -> u32 {
        with(madsim::plugin::node(), |k, owed| {
            *owed += k.clock_rate;
            let whole = owed.floor();
            *owed -= whole;
            let jump = std::mem::take(&mut k.clock_jump_ticks);
            whole as u32 + jump
        })
    }

    /// How long the calling node's disk takes on top of a Ready cycle.
    pub fn disk_latency() -> std::time::Duration {
        with(madsim::plugin::node(), |k, _| k.disk_latency)
    }

    /// Time passes as an fsync takes it (up to [`super::FSYNC_MAX`], or a
    /// held window when new entries wait); a kill may land here.
    pub async fn fsync_point(entries: bool) {
        use rand::Rng;
        let node = madsim::plugin::node();
        let hold = with(node, |k, _| {
            if entries && !k.hold_fsync.is_zero() {
                k.in_fsync = true;
                std::mem::take(&mut k.hold_fsync)
            } else {
                std::time::Duration::ZERO
            }
        });
        let d = if hold.is_zero() {
            let max = super::FSYNC_MAX.as_micros() as u64;
            std::time::Duration::from_micros(madsim::rand::thread_rng().gen_range(0..=max))
        } else {
            hold
        };
        madsim::time::sleep(d).await;
        with(node, |k, _| k.in_fsync = false);
    }

    /// Whether the calling node's fsync fails.
    pub fn fsync_fails() -> bool {
        with(madsim::plugin::node(), |k, _| k.fsync_fails)
    }

    /// Changes `node`'s knobs.
    pub fn update(node: NodeId, f: impl FnOnce(&mut Knobs)) {
        with(node, |k, _| f(k));
    }

    /// `node`'s knobs.
    pub fn get(node: NodeId) -> Knobs {
        with(node, |k, _| *k)
    }

    /// Every node healthy again (a new simulation starts from here).
    pub fn reset() {
        NODES.with(|n| n.borrow_mut().clear());
    }
}
