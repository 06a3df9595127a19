//! `kavling-dns`: the sockets ([`server`], TCP sessions in [`tcp`]) and the API watches that keep the in-memory zone
//! snapshots current ([`watch`]). What is answered is decided by `kavling_core::dns`.

pub mod rrl;
pub mod server;
pub mod signed;
pub mod tcp;
pub mod watch;
