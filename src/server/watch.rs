//! The watchers' sync task (etcd's `syncWatchersLoop`): watchers that start
//! in the past, fell behind, or wait with a batch their stream had no room
//! for, catch up from the MVCC history every 100 ms.

use std::time::Duration;

use super::EtcdServer;

/// How often unsynced watchers catch up (etcd: 100 ms).
const SYNC_INTERVAL: Duration = Duration::from_millis(100);

impl EtcdServer {
    /// Runs forever; the member aborts it when it stops.
    pub async fn sync_watchers(&self) {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            if self.watchable.needs_sync() {
                let shared = self.read();
                self.watchable.sync(&shared.state.kv);
            }
        }
    }

    /// The pair `key` held at revision `at` (a watch event's `prev_kv`).
    pub fn kv_at_rev(&self, key: &[u8], at: i64) -> Option<crate::pb::mvccpb::KeyValue> {
        self.read().state.kv.kv_at_rev(key, at)
    }
}
