//! With `Bug::StaleTxnCompare` switched on, the simulator must fail within its seed
//! budget (one process per bug: the switch is process-wide).
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::StaleTxnCompare,
        oxcd_sim::scenario::register_under_crashes,
    );
}
