//! Automatic compaction (etcd's `compactor` package): `--auto-compaction-mode
//! periodic` keeps the history of the last retention period, `revision` the
//! last retention revisions. Only the leader compacts, through raft, as any
//! client compaction.

use std::collections::VecDeque;
use std::time::Duration;

use super::EtcdServer;
use crate::mvcc::MvccError;
use crate::pb::etcdserverpb::CompactionRequest;

/// etcd's `revInterval`: how often the revision compactor looks.
const REVISION_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The periodic compactor looks every tenth of its period (etcd's
/// `retryDivisor`), the period taken at most an hour.
const RETRY_DIVISOR: u32 = 10;

/// What `--auto-compaction-*` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this long of history.
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(i64),
}

impl AutoCompaction {
    /// etcd's `parseCompactionRetention` and mode check: a bare integer is
    /// hours (periodic) or revisions; otherwise a Go duration. Zero is off.
    pub fn parse(mode: &str, retention: &str) -> Result<Option<AutoCompaction>, String> {
        let parsed = match retention.parse::<i64>() {
            Ok(n) if n >= 0 => match mode {
                "revision" => Ok(AutoCompaction::Revision(n)),
                _ => Ok(AutoCompaction::Periodic(Duration::from_secs(
                    n as u64 * 3600,
                ))),
            },
            _ => match crate::config::goflag::parse_duration(retention) {
                Some(d) if mode == "revision" => Ok(AutoCompaction::Revision(d.as_nanos() as i64)),
                Some(d) => Ok(AutoCompaction::Periodic(d)),
                None => Err(format!(
                    "error parsing CompactionRetention: time: invalid duration \"{retention}\""
                )),
            },
        }?;
        match mode {
            "periodic" | "revision" => {}
            "" => return Err("undefined auto-compaction-mode".into()),
            m => return Err(format!("unknown auto-compaction-mode {m:?}")),
        }
        Ok(match parsed {
            AutoCompaction::Periodic(d) if d.is_zero() => None,
            AutoCompaction::Revision(0) => None,
            a => Some(a),
        })
    }
}

impl EtcdServer {
    /// Runs the compactor `--auto-compaction-*` asked for, for ever.
    pub async fn run_compactor(&self, how: Option<AutoCompaction>) {
        match how {
            None => std::future::pending().await,
            Some(AutoCompaction::Periodic(period)) => self.compact_periodically(period).await,
            Some(AutoCompaction::Revision(keep)) => self.compact_by_revision(keep).await,
        }
    }

    /// Compacts through raft; a revision already compacted counts as done.
    async fn auto_compact(&self, rev: i64, what: &str) -> bool {
        tracing::info!(revision = rev, "starting auto {what} compaction");
        let req = CompactionRequest {
            revision: rev,
            physical: false,
        };
        match self.compact(req, None).await {
            Ok(_) | Err(super::ServerError::Mvcc(MvccError::Compacted)) => {
                tracing::info!(revision = rev, "completed auto {what} compaction");
                true
            }
            Err(e) => {
                tracing::warn!(revision = rev, error = %e, "failed auto {what} compaction");
                false
            }
        }
    }

    /// etcd's `Periodic.Run`: every tenth of the period it notes the
    /// revision; once a period has passed since the last success (the
    /// first time: the whole retention), it compacts to the revision noted
    /// a period ago.
    async fn compact_periodically(&self, period: Duration) {
        let interval = period.min(Duration::from_secs(3600));
        let retry = interval / RETRY_DIVISOR;
        let keep = (period.as_nanos() / retry.as_nanos().max(1)) as usize + 1;
        let mut revs: VecDeque<i64> = VecDeque::new();
        let mut last_success = crate::rt::time::now();
        let mut base = period;
        loop {
            revs.push_back(self.current_revision());
            if revs.len() > keep {
                revs.pop_front();
            }
            tokio::time::sleep(retry).await;
            if !self.is_leader() {
                // A follower starts counting again when it leads.
                last_success = crate::rt::time::now();
                continue;
            }
            if last_success.elapsed() < base {
                continue;
            }
            base = interval;
            let rev = revs[0];
            if rev > 0 && self.auto_compact(rev, "periodic").await {
                last_success = crate::rt::time::now();
            }
        }
    }

    /// etcd's `Revision.Run`: every five minutes the leader compacts to
    /// `keep` revisions behind the current one.
    async fn compact_by_revision(&self, keep: i64) {
        let mut prev = 0;
        loop {
            tokio::time::sleep(REVISION_INTERVAL).await;
            if !self.is_leader() {
                continue;
            }
            let rev = self.current_revision() - keep;
            if rev <= 0 || rev == prev {
                continue;
            }
            if self.auto_compact(rev, "revision").await {
                prev = rev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_parses_as_etcds() {
        let p = AutoCompaction::parse;
        let hours = |h: u64| Some(AutoCompaction::Periodic(Duration::from_secs(h * 3600)));
        assert_eq!(p("periodic", "1"), Ok(hours(1)));
        assert_eq!(
            p("periodic", "90s"),
            Ok(Some(AutoCompaction::Periodic(Duration::from_secs(90))))
        );
        assert_eq!(
            p("revision", "1000"),
            Ok(Some(AutoCompaction::Revision(1000)))
        );
        assert_eq!(p("periodic", "0"), Ok(None));
        assert_eq!(
            p("periodic", "x"),
            Err("error parsing CompactionRetention: time: invalid duration \"x\"".into())
        );
        assert_eq!(
            p("daily", "1"),
            Err("unknown auto-compaction-mode \"daily\"".into())
        );
    }
}
