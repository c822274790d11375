//! Checkers: one file per property, each citing its source.

pub mod linearizability;
pub mod revisions;
