//! The pure half of Kavling's authoritative DNS server: zone snapshots built from `Zone` and
//! `DnsRecord` specs, and the query path that answers from them. The sockets and the API
//! watches live in the `kavling-dns` crate.
//!
//! Layers: [`wire`] (encoding), [`zone`] (snapshot building), [`zonefile`] (master files),
//! [`answer`] (the query path), [`tsig`] (signed transfers), [`dnssec`] (signed zones), [`journal`] (IXFR).

pub mod answer;
pub mod dnssec;
pub mod journal;
pub mod tsig;
pub mod wire;
pub mod zone;
pub mod zonefile;

#[cfg(test)]
mod patch_tests;
#[cfg(test)]
mod tests;
