//! etcd's v2 store `Stats`: how many of each operation succeeded and failed
//! (`/v2/stats/store`). Counted exactly where etcd counts, quirks included
//! (see the notes on `Store`'s methods): clients graph these.

use super::json;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Counter {
    GetSuccess,
    GetFail,
    SetSuccess,
    SetFail,
    DeleteSuccess,
    DeleteFail,
    UpdateSuccess,
    UpdateFail,
    CreateSuccess,
    CreateFail,
    CompareAndSwapSuccess,
    CompareAndSwapFail,
    CompareAndDeleteSuccess,
    CompareAndDeleteFail,
    ExpireCount,
}

/// The JSON names, in etcd's field order.
const NAMES: [&str; 15] = [
    "getsSuccess",
    "getsFail",
    "setsSuccess",
    "setsFail",
    "deleteSuccess",
    "deleteFail",
    "updateSuccess",
    "updateFail",
    "createSuccess",
    "createFail",
    "compareAndSwapSuccess",
    "compareAndSwapFail",
    "compareAndDeleteSuccess",
    "compareAndDeleteFail",
    "expireCount",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    counts: [u64; 15],
}

impl Stats {
    pub(crate) fn inc(&mut self, c: Counter) {
        self.counts[c as usize] += 1;
    }

    /// The counters in etcd's order (`getsSuccess` first, `expireCount` last).
    pub fn counts(&self) -> &[u64; 15] {
        &self.counts
    }

    pub(crate) fn from_counts(counts: [u64; 15]) -> Stats {
        Stats { counts }
    }

    /// The `/v2/stats/store` body (no trailing newline, as etcd).
    pub fn to_json(&self, watchers: u64) -> String {
        let mut out = String::from("{");
        for (name, v) in NAMES.iter().zip(self.counts) {
            json::push_key(&mut out, name);
            out.push_str(&v.to_string());
            out.push(',');
        }
        json::push_key(&mut out, "watchers");
        out.push_str(&watchers.to_string());
        out.push('}');
        out
    }
}
