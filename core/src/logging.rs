//! Logging set-up shared by `kavling-operator` and `kavling-dns`: `RUST_LOG` when set,
//! otherwise info with kube's own chatter at warn.

/// Installs the global tracing subscriber. Call once, first thing in `main`.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
}
