//! The audit trail: every change of every Kavling object as one signed commit in a git
//! repository, verifiable with plain `git verify-commit`, and replayable into an empty cluster
//! (`kavling restore`).
//!
//! [`document`] decides what is recorded (pure); [`message`] and [`provenance`] say who and
//! why; [`signing`] signs and checks SSH signatures; [`repo`] commits exactly once; [`history`]
//! reads and verifies; [`push`] sends it away; [`writer`] runs it all in the operator;
//! [`restore`] plans a rebuild from it.

pub mod document;
pub mod history;
pub mod message;
pub mod pack;
pub mod provenance;
pub mod push;
pub mod repo;
pub mod restore;
pub mod signing;
pub mod writer;
