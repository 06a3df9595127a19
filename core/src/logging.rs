//! Logging set-up shared by `kavling-operator` and `kavling-dns`: `RUST_LOG` when set,
//! otherwise info with kube's own chatter at warn.

/// Installs the global tracing subscriber. Call once, first thing in `main`.
/// Colours only on a terminal: logs written to files stay plain text a person can grep.
pub fn init() {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        )
        .init();
}
