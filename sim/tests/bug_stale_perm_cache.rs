//! With `Bug::StalePermCache` switched on, the auth scenario must fail
//! within its seed budget: a permission decision remembered across a
//! revoke lets a user's request in after the revoke was acknowledged.
#![cfg(all(madsim, feature = "bugs"))]

#[test]
fn caught() {
    oxcd_sim::bug_hunt::expect_caught(oxcd::bugs::Bug::StalePermCache, || {
        oxcd_sim::auth_scenario::auth_3_members()
    });
}
