//! Kavling: the operator that turns approved requests of government units into go.id
//! subdomains, DNS records, certificates, hosting and storage — and records every change.
//!
//! Layers: [`api`] (the types), [`rules`] (pure regulation checks, shared with the CLI),
//! [`controllers`] (one module per kind), [`crds`] (generated manifests).

pub mod acme;
pub mod api;
pub mod audit;
pub mod controllers;
pub mod crds;
pub mod dns;
pub mod health;
pub mod hosting;
pub mod logging;
pub mod objectstore;
pub mod rules;
