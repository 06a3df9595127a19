//! Kavling's authoritative DNS server: zone snapshots built from `Zone` and `DnsRecord`
//! objects, answered from memory.
//!
//! Layers: [`wire`] (encoding), [`zone`] (snapshot building, pure), [`answer`] (the query
//! path, pure), `server` (sockets), `watch` (API watches → snapshots).

pub mod answer;
pub mod wire;
pub mod zone;
pub mod zonefile;

pub mod server;
#[cfg(test)]
mod tests;
pub mod watch;
