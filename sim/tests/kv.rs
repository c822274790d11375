//! The whole KV API, checked against the reference model: one member under
//! power cuts, and three members under the random faults.
#![cfg(madsim)]

#[madsim::test]
async fn kv_under_crashes() {
    match oxcd_sim::kv_scenario::kv_under_crashes().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}

#[madsim::test]
async fn kv_3_members() {
    match oxcd_sim::kv_scenario::kv_in_cluster(3).await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
