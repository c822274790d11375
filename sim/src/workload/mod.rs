//! Workloads: clients that drive a cluster and record a history.

pub mod register;
