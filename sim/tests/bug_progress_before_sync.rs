//! With `Bug::ProgressBeforeSync` switched on (a progress request answered
//! with the current revision while the stream's watchers still catch up),
//! the watch scenario alone must fail within its seed budget: an event at
//! or below the revision a progress notification named arrives after it.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::ProgressBeforeSync,
        oxcd_sim::watch_scenario::watch_3_members,
    );
}
