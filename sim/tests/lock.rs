//! Lock holders under the random faults: no two holders at once in the
//! store's order, no lost update under the fence, and the lock can be
//! taken once healed. Without faults, stalled holders show that the fence
//! is what prevents lost updates.
#![cfg(madsim)]

#[madsim::test]
async fn lock_3_members() {
    match oxcd_sim::lock_scenario::lock_3_members().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}

#[madsim::test]
async fn lock_fencing_matters() {
    match oxcd_sim::lock_scenario::lock_fencing_matters().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
