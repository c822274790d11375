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
