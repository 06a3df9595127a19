//! The pure ACME policies: which names a certificate may cover ([`names`]) and when it is
//! renewed ([`schedule`]). The protocol, keys and accounts are in the operator.

pub mod names;
pub mod schedule;
