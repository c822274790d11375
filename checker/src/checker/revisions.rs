//! Revision monotonicity per client.
//!
//! etcd's API guarantees (etcd.io/docs, "KV API guarantees"): revisions
//! increase monotonically, and a client never sees the store go back in time
//! — every response header's revision is at least the revision of any
//! response the same client received before (for linearizable requests).

/// One response a client received: when, and the header revision.
#[derive(Clone, Copy, Debug)]
pub struct Observed {
    pub client: usize,
    pub time: u64,
    pub revision: i64,
}

/// Returns the first pair of responses, in one client's order, where the
/// revision went backwards.
pub fn check(observed: &[Observed]) -> Result<(), (Observed, Observed)> {
    let mut by_client: std::collections::BTreeMap<usize, Vec<Observed>> = Default::default();
    for o in observed {
        by_client.entry(o.client).or_default().push(*o);
    }
    for obs in by_client.values_mut() {
        obs.sort_by_key(|o| o.time);
        for w in obs.windows(2) {
            if w[1].revision < w[0].revision {
                return Err((w[0], w[1]));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn going_back_in_time_is_caught() {
        let o = |client, time, revision| Observed {
            client,
            time,
            revision,
        };
        assert!(check(&[o(0, 1, 5), o(1, 2, 3), o(0, 3, 5), o(0, 4, 7)]).is_ok());
        assert!(check(&[o(0, 1, 5), o(0, 2, 4)]).is_err());
    }
}
