//! The alarm store (etcd's `v3alarm.AlarmStore`): which member raised which
//! alarm. Alarms are raised and disarmed through raft, so every member holds
//! the same set, and they are kept in the backend (etcd's `alarm` bucket) so
//! a restart keeps them. While NOSPACE is raised the applier refuses what
//! would grow the backend; while CORRUPT is raised it refuses every write.

use std::collections::BTreeSet;

use crate::pb::etcdserverpb::{AlarmMember, AlarmType};
use crate::storage::schema::BackendOp;

/// Every raised alarm, as `(alarm type, member id)`.
#[derive(Debug, Default)]
pub struct AlarmStore {
    raised: BTreeSet<(i32, u64)>,
    ops: Vec<BackendOp>,
}

fn member(alarm: i32, id: u64) -> AlarmMember {
    AlarmMember {
        member_id: id,
        alarm,
    }
}

impl AlarmStore {
    /// The alarms a backend holds.
    pub fn recover(alarms: &[AlarmMember]) -> AlarmStore {
        AlarmStore {
            raised: alarms.iter().map(|a| (a.alarm, a.member_id)).collect(),
            ops: Vec::new(),
        }
    }

    /// Raises `alarm` for member `id`. Returns the alarm (whether it is new
    /// or was already raised) and whether this is the first of its type,
    /// as etcd's `Activate` and the applier's `activated` test do.
    pub fn activate(&mut self, id: u64, alarm: i32) -> (AlarmMember, bool) {
        let first = !self.is_raised(alarm);
        if self.raised.insert((alarm, id)) {
            self.ops.push(BackendOp::PutAlarm(member(alarm, id)));
        }
        (member(alarm, id), first)
    }

    /// Disarms `alarm` of member `id`: the alarm, if it was raised, and
    /// whether none of its type is left.
    pub fn deactivate(&mut self, id: u64, alarm: i32) -> Option<(AlarmMember, bool)> {
        if !self.raised.remove(&(alarm, id)) {
            return None;
        }
        self.ops.push(BackendOp::DeleteAlarm(member(alarm, id)));
        Some((member(alarm, id), !self.is_raised(alarm)))
    }

    /// The alarms of one type, or all of them for `NONE` (etcd lists a Go
    /// map; here they come by type, then member id).
    pub fn get(&self, alarm: i32) -> Vec<AlarmMember> {
        self.raised
            .iter()
            .filter(|(a, _)| alarm == AlarmType::None as i32 || *a == alarm)
            .map(|&(a, id)| member(a, id))
            .collect()
    }

    pub fn is_raised(&self, alarm: i32) -> bool {
        self.raised
            .range((alarm, 0)..=(alarm, u64::MAX))
            .next()
            .is_some()
    }

    /// The backend writes of the changes since the last call.
    pub fn take_ops(&mut self) -> Vec<BackendOp> {
        std::mem::take(&mut self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOSPACE: i32 = AlarmType::Nospace as i32;
    const CORRUPT: i32 = AlarmType::Corrupt as i32;

    #[test]
    fn raised_alarms_are_listed_and_disarmed_one_member_at_a_time() {
        let mut s = AlarmStore::default();
        assert_eq!(s.activate(2, NOSPACE), (member(NOSPACE, 2), true));
        assert_eq!(s.activate(1, NOSPACE), (member(NOSPACE, 1), false));
        assert_eq!(s.activate(1, NOSPACE), (member(NOSPACE, 1), false));
        s.activate(3, CORRUPT);
        assert_eq!(s.take_ops().len(), 3, "a repeated raise writes nothing");
        assert_eq!(
            s.get(AlarmType::None as i32),
            vec![member(NOSPACE, 1), member(NOSPACE, 2), member(CORRUPT, 3)]
        );
        assert_eq!(s.get(CORRUPT), vec![member(CORRUPT, 3)]);
        assert_eq!(s.deactivate(1, NOSPACE), Some((member(NOSPACE, 1), false)));
        assert_eq!(s.deactivate(1, NOSPACE), None);
        assert!(s.is_raised(NOSPACE));
        assert_eq!(s.deactivate(2, NOSPACE), Some((member(NOSPACE, 2), true)));
        assert!(!s.is_raised(NOSPACE) && s.is_raised(CORRUPT));
        let back = AlarmStore::recover(&s.get(AlarmType::None as i32));
        assert_eq!(back.get(AlarmType::None as i32), vec![member(CORRUPT, 3)]);
    }
}
