//! `etcdctl version` (etcdctl's `version_command.go`).

use super::{CmdResult, Output};

/// The etcdctl release oxcd's etcdctl behaves as.
pub const CTL_VERSION: &str = "3.4.23";

pub(super) fn version(o: &mut Output) -> CmdResult {
    o.out(format!(
        "etcdctl version: {CTL_VERSION}\nAPI version: 3.4\n"
    ));
    Ok(())
}
