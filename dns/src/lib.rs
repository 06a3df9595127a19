//! `kavling-dns`: the sockets ([`server`]) and the API watches that keep the in-memory zone
//! snapshots current ([`watch`]). What is answered is decided by `kavling_core::dns`.

pub mod server;
pub mod watch;
