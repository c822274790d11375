//! Simulation smoke test: one member, concurrent clients, repeated power cuts.
//! Every put that was acknowledged must survive every crash (etcd's
//! durability guarantee: a response means the entry was fsynced).
#![cfg(madsim)]

#[madsim::test]
async fn acknowledged_puts_survive_crashes() {
    match oxcd_sim::scenario::acked_puts_survive_crashes().await {
        Ok(report) => println!("{report}"),
        Err(why) => panic!("{why}"),
    }
}
