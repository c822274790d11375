//! Leases under the random faults, clock faults included: no early expiry,
//! atomic and final revokes, and every lease expires once healed.
#![cfg(madsim)]

#[madsim::test]
async fn lease_3_members() {
    match oxcd_sim::lease_scenario::lease_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
