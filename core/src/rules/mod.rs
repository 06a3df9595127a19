//! The rules of the regional SPBE regulations, as pure functions over plain values.
//!
//! Shared by the operator (at approval time), the CLI (before submitting) and
//! `kavling validate` (in pull-request CI), so a rule reads the same everywhere. Nothing here
//! touches the network or the API server.

pub mod derived;
pub mod hosting;
pub mod identity;
pub mod naming;
pub mod quantity;
pub mod region;
pub mod request;
pub mod storage;
pub mod tenant;

use std::fmt;

/// One broken rule: the field it concerns, a stable rule id, and a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path of the field, e.g. `spec.letter.signer.identity.nip`.
    pub field: String,
    /// Stable identifier of the rule, e.g. `nip-birth-date`; used in tests and tooling.
    pub rule: &'static str,
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.field, self.message, self.rule)
    }
}

/// Joins violations into one line for a condition message or an error.
pub fn summarize(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
