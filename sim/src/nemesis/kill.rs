//! Kill and restart: a power cut. The process stops; unsynced disk data is
//! lost (the last write may be torn at a sector boundary), unflushed backend
//! batches are lost; the member restarts from what survived.

pub use crate::cluster::crash_and_restart;
