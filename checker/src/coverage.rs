//! What the simulation exercised: every request kind, request field, compare
//! target and operator, error answer and fault kind counts a hit here, and
//! the explorer prints the table, so blind spots show before a bug finds
//! them. The counters are process-wide and only ever added to; they never
//! influence a run, so seeds replay the same with or without them.

use std::collections::BTreeMap;
use std::sync::Mutex;

static HITS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Counts one use of `what` (e.g. `range.limit`, `compare.Mod.Less`).
pub fn hit(what: &str) {
    let mut h = HITS.lock().expect("coverage lock");
    *h.entry(what.to_string()).or_default() += 1;
}

/// The longest a checker took to decide one history, in microseconds.
static SLOWEST_CHECK_US: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Real (monotonic) time, also inside a simulation: madsim answers the
/// libc clock with simulated time, so this asks the kernel directly.
pub fn real_now() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes the timespec we pass.
    unsafe {
        libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts);
    }
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Records how long a checker took on one history (real time: the checker
/// is not part of the simulated world).
pub fn check_took(d: std::time::Duration) {
    SLOWEST_CHECK_US.fetch_max(d.as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
}

/// The slowest check so far.
pub fn slowest_check() -> std::time::Duration {
    std::time::Duration::from_micros(SLOWEST_CHECK_US.load(std::sync::atomic::Ordering::Relaxed))
}

/// Every count so far.
pub fn snapshot() -> BTreeMap<String, u64> {
    HITS.lock().expect("coverage lock").clone()
}

/// The counts as a table (`| what | hits |`).
pub fn table(hits: &BTreeMap<String, u64>) -> String {
    let mut s = String::from("| what | hits |\n|---|---|\n");
    for (what, n) in hits {
        s.push_str(&format!("| {what} | {n} |\n"));
    }
    s
}
