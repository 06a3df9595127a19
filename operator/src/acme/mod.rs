//! Certificates by ACME (RFC 8555) with DNS-01 through Kavling's own zones: the pure
//! policies ([`names`], [`schedule`]), the account store ([`account`]), the "served by every
//! DNS server" check ([`dnscheck`]) and the key and certificate helpers ([`cert`]). The
//! controllers are `controllers::issuer` and `controllers::certificate`.

pub mod account;
pub mod cert;
pub mod dnscheck;
pub mod error;
pub mod replicas;

pub use error::AcmeError;
pub use kavling_core::acme::{names, schedule};
