//! Users read and write while root grants and revokes their permissions,
//! under the random faults: no request goes in that the permissions known
//! over its whole interval forbid, none is denied that they allow, and a
//! user gets a token again once healed.
#![cfg(madsim)]

#[madsim::test]
async fn auth_3_members() {
    match oxcd_sim::auth_scenario::auth_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
