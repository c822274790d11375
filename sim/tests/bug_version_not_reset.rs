//! With `Bug::VersionNotReset` switched on, the simulator alone (the kv_under_crashes
//! scenario) must fail within its seed budget (one process per bug: the
//! switch is process-wide).
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::VersionNotReset,
        oxcd_sim::kv_scenario::kv_under_crashes,
    );
}
