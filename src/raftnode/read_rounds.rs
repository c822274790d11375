//! Linearizable reads sharing ReadIndex rounds, as etcd's linearizable read
//! loop shares them: the reads queued while a round is in flight all go in
//! the next one. Each of them arrived before that round started, so the
//! index it is answered with covers them all. A renewing lease confirms its
//! leadership with a read too, and a round per read had cost a three-member
//! leader a heartbeat to each follower per renewal.
//!
//! Sans-IO: the raft loop asks [`ReadRounds::start`] whether to send a round
//! (and with which sequence number), and hands every answer of its own to
//! [`ReadRounds::answered`].

use std::time::Duration;

use tokio::time::Instant;

/// A round unanswered this long, or asked under another term or leader, is
/// followed by a new one for the reads still waiting (raft drops a read
/// silently when there is no leader or it has not committed in its term,
/// and a message can be lost). A late answer to the old one still counts.
const READ_ROUND_PATIENCE: Duration = Duration::from_millis(300);

/// The latest round asked for.
struct Round {
    seq: u64,
    started: Instant,
    term: u64,
    leader: u64,
}

/// Reads (`T`: what answers one) waiting for a round or for its answer.
pub(super) struct ReadRounds<T> {
    /// The last sequence number used.
    seq: u64,
    /// The first of this run: answers below it are for an earlier run.
    first: u64,
    /// Reads asked for since the latest round started.
    queued: Vec<T>,
    /// Reads in a round, with the round they joined, in that order: an
    /// answer to round `s` answers every read that joined `s` or before.
    asked: Vec<(u64, T)>,
    /// The latest round, until it is answered.
    latest: Option<Round>,
}

impl<T> ReadRounds<T> {
    /// Sequence numbers start after `last_used`, which must be above those
    /// of every earlier run of this member: raft-rs ignores a context it
    /// holds already, and a late answer would be taken for a new one.
    pub fn new(last_used: u64) -> Self {
        ReadRounds {
            seq: last_used,
            first: last_used + 1,
            queued: Vec::new(),
            asked: Vec::new(),
            latest: None,
        }
    }

    pub fn queue(&mut self, read: T) {
        self.queued.push(read);
    }

    /// The sequence number of a round to ask for now, if one is due: reads
    /// are queued and no round is in flight, or the one in flight is stale
    /// (older than [`READ_ROUND_PATIENCE`], or asked under another `term`
    /// or `leader`) while reads wait. Reads `open` says nobody waits for
    /// any more are dropped.
    pub fn start(
        &mut self,
        now: Instant,
        term: u64,
        leader: u64,
        open: impl Fn(&T) -> bool,
    ) -> Option<u64> {
        let stale = match &self.latest {
            None => false,
            Some(r) => {
                let current = r.term == term && r.leader == leader;
                if current && now.saturating_duration_since(r.started) < READ_ROUND_PATIENCE {
                    return None;
                }
                true
            }
        };
        self.asked.retain(|(_, r)| open(r));
        self.queued.retain(&open);
        if self.asked.is_empty() {
            self.latest = None;
        }
        // A new round for new reads, or to follow a stale one still awaited.
        let carried = stale && !self.asked.is_empty();
        if self.queued.is_empty() && !carried {
            return None;
        }
        self.seq += 1;
        let seq = self.seq;
        self.asked.extend(self.queued.drain(..).map(|r| (seq, r)));
        self.latest = Some(Round {
            seq,
            started: now,
            term,
            leader,
        });
        Some(seq)
    }

    /// The reads round `seq` answers: those that joined it or an earlier one.
    pub fn answered(&mut self, seq: u64) -> Vec<T> {
        if seq < self.first || seq > self.seq {
            return Vec::new(); // a context of an earlier run of this member
        }
        let n = self.asked.partition_point(|(joined, _)| *joined <= seq);
        if self.latest.as_ref().is_some_and(|r| r.seq <= seq) {
            self.latest = None;
        }
        self.asked.drain(..n).map(|(_, r)| r).collect()
    }

    /// Reads wait for a round that could start at once.
    pub fn due(&self) -> bool {
        self.latest.is_none() && !self.queued.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(_: &u32) -> bool {
        true
    }

    /// A fixed origin; the tests' times are offsets from it.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    #[test]
    fn reads_queued_during_a_round_share_the_next() {
        let t0 = origin();
        let mut r = ReadRounds::new(100);
        assert_eq!(r.start(t0, 1, 1, open), None, "nothing to read");
        r.queue(1);
        assert_eq!(r.start(t0, 1, 1, open), Some(101));
        r.queue(2);
        r.queue(3);
        assert!(!r.due(), "round 101 is in flight");
        assert_eq!(r.start(t0, 1, 1, open), None);
        assert_eq!(r.answered(101), vec![1], "101 answers only the read it had");
        assert!(r.due());
        assert_eq!(r.start(t0, 1, 1, open), Some(102));
        assert_eq!(r.answered(102), vec![2, 3]);
        assert!(!r.due());
        assert_eq!(r.start(t0, 1, 1, open), None);
    }

    #[test]
    fn a_stale_round_is_followed_and_a_late_answer_counts() {
        let t0 = origin();
        let mut r = ReadRounds::new(0);
        r.queue(1);
        assert_eq!(r.start(t0, 1, 1, open), Some(1));
        r.queue(2);
        let later = t0 + READ_ROUND_PATIENCE;
        assert_eq!(r.start(later, 1, 1, open), Some(2), "round 1 is stale");
        // Round 1's late answer answers read 1 only: read 2 came after it.
        assert_eq!(r.answered(1), vec![1]);
        assert!(!r.due(), "round 2 is still in flight");
        assert_eq!(r.answered(2), vec![2]);
        // A new leader: the round asked of the old one is followed at once,
        // and carries the read that waited in it.
        r.queue(3);
        assert_eq!(r.start(later, 1, 1, open), Some(3));
        assert_eq!(r.start(later, 2, 7, open), Some(4));
        assert_eq!(r.answered(4), vec![3]);
        assert_eq!(r.answered(3), Vec::<u32>::new(), "already answered");
    }

    #[test]
    fn answers_of_an_earlier_run_and_abandoned_reads_are_ignored() {
        let t0 = origin();
        let mut r = ReadRounds::new(50);
        r.queue(1);
        assert_eq!(r.start(t0, 1, 1, open), Some(51));
        assert_eq!(r.answered(50), Vec::<u32>::new(), "an earlier run's");
        assert_eq!(r.answered(52), Vec::<u32>::new(), "not asked yet");
        // Its caller gave up: a stale round is not repeated for nobody.
        let later = t0 + READ_ROUND_PATIENCE;
        assert_eq!(r.start(later, 1, 1, |_| false), None);
        assert!(!r.due());
        r.queue(2);
        assert_eq!(r.start(later, 1, 1, open), Some(52), "no round in flight");
    }
}
