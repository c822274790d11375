//! With `Bug::WatchSyncOffByOne` switched on (a watcher catching up from
//! history skips the revision it needs next), the watch scenario alone must
//! fail within its seed budget: a resumed watcher misses an event.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::WatchSyncOffByOne,
        oxcd_sim::watch_scenario::watch_3_members,
    );
}
