//! Why a membership change is refused; `Display` is etcd's message.

/// A refused membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberError {
    NotFound,
    Exists,
    PeerUrlExists,
    NotLearner,
    TooManyLearners,
    LearnerNotReady,
    NotEnoughStarted,
    Unhealthy,
    BadUrls,
}

impl MemberError {
    const ALL: [MemberError; 9] = [
        MemberError::NotFound,
        MemberError::Exists,
        MemberError::PeerUrlExists,
        MemberError::NotLearner,
        MemberError::TooManyLearners,
        MemberError::LearnerNotReady,
        MemberError::NotEnoughStarted,
        MemberError::Unhealthy,
        MemberError::BadUrls,
    ];

    /// A stable number for the peer protocol (`Peer/Promote` answers).
    pub fn code(self) -> u32 {
        Self::ALL
            .iter()
            .position(|e| *e == self)
            .expect("every error is listed") as u32
            + 1
    }

    /// The error a peer sent as [`MemberError::code`].
    pub fn from_code(code: u32) -> Option<MemberError> {
        Self::ALL.get((code as usize).checked_sub(1)?).copied()
    }
}

impl std::fmt::Display for MemberError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemberError::NotFound => "etcdserver: member not found",
            MemberError::Exists => "etcdserver: member ID already exist",
            MemberError::PeerUrlExists => "etcdserver: Peer URLs already exists",
            MemberError::NotLearner => "etcdserver: can only promote a learner member",
            MemberError::TooManyLearners => "etcdserver: too many learner members in cluster",
            MemberError::LearnerNotReady => {
                "etcdserver: can only promote a learner member which is in sync with leader"
            }
            MemberError::NotEnoughStarted => {
                "etcdserver: re-configuration failed due to not enough started members"
            }
            MemberError::Unhealthy => "etcdserver: unhealthy cluster",
            MemberError::BadUrls => "etcdserver: given member URLs are invalid",
        })
    }
}

impl std::error::Error for MemberError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in MemberError::ALL {
            assert_eq!(MemberError::from_code(e.code()), Some(e));
        }
        assert_eq!(MemberError::from_code(0), None);
        assert_eq!(MemberError::from_code(99), None);
    }
}
