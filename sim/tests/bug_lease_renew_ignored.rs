//! With `Bug::LeaseRenewIgnored` switched on (keep-alives answered, expiry
//! not pushed back), the lease scenario alone must fail within its seed
//! budget: a kept-alive lease expires early.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(
        oxcd::bugs::Bug::LeaseRenewIgnored,
        oxcd_sim::lease_scenario::lease_3_members,
    );
}
