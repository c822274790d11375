//! With `Bug::LockWaitsOnlyPredecessor` switched on (a queued Lock returns
//! once the key just before its own goes, without looking for earlier
//! ones), the lock scenario alone must fail within its seed budget: two
//! holders' fenced writes interleave.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::LockWaitsOnlyPredecessor,
        oxcd_sim::lock_scenario::lock_3_members,
    );
}
