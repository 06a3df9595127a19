//! Kavling's operator: the controllers (one module per kind) and the I/O they need — ACME
//! accounts and orders ([`acme`]), the object store ([`objectstore`]).
//!
//! What can be decided without I/O lives in `kavling_core` and is re-exported here under its
//! old paths ([`api`], [`rules`], [`crds`], [`dns`], [`hosting`]), so `kavling::api::Zone`
//! still names the type; the audit trail is `kavling_audit`, re-exported as [`audit`].

pub use kavling_audit as audit;
pub use kavling_core::{api, crds, dns, health, hosting, kinds, logging, outputs, plan, rules};

pub mod acme;
pub mod controllers;
pub mod leader;
pub mod metrics;
pub mod objectstore;
