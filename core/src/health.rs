//! `/healthz`, `/readyz` and `/metrics` over plain HTTP/1.1 — three fixed answers do not need
//! a web framework.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Renders the `/metrics` page.
pub type Metrics = Arc<dyn Fn() -> String + Send + Sync>;

/// Serves until the process ends. `ready` says whether `/readyz` answers 200.
pub async fn serve(listener: TcpListener, metrics: Metrics, ready: Arc<AtomicBool>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // A client that sends nothing gets dropped after a second.
            let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), sock.read(&mut buf)).await
            else {
                return;
            };
            let line = String::from_utf8_lossy(&buf[..n]);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let (code, body) = match path {
                "/healthz" => ("200 OK", "ok\n".to_string()),
                "/readyz" if ready.load(Ordering::Relaxed) => ("200 OK", "ready\n".to_string()),
                "/readyz" => (
                    "503 Service Unavailable",
                    "not ready: the API server has not answered yet\n".to_string(),
                ),
                "/metrics" => ("200 OK", metrics()),
                _ => (
                    "404 Not Found",
                    "try /healthz, /readyz or /metrics\n".to_string(),
                ),
            };
            let resp = format!(
                "HTTP/1.1 {code}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}
