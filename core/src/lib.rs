//! Kavling's core: everything that can be decided from plain values, with no API server, no
//! network and no disk — the API types ([`api`]) and the registry of kinds ([`kinds`]), the
//! regulations' rules ([`rules`]), what an approved request creates ([`plan`]), rendering of
//! hosting templates ([`hosting`]), the DNS answer path ([`dns`]) and the ACME policies
//! ([`acme`]).
//!
//! The operator (controllers and I/O), the CLI and the DNS server each depend on this crate;
//! whatever a pull request is shown (`kavling plan`) is computed by the same functions the
//! operator runs at approval time.

pub mod acme;
pub mod api;
pub mod crds;
pub mod dns;
#[cfg(feature = "serve")]
pub mod health;
#[cfg(feature = "templates")]
pub mod hosting;
pub mod keys;
pub mod kinds;
#[cfg(feature = "serve")]
pub mod logging;
pub mod outputs;
#[cfg(feature = "templates")]
pub mod plan;
pub mod rules;
pub mod status;
