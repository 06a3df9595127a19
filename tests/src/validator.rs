//! Unbound as a validating resolver in front of a kavling-dns, for the DNSSEC tests: it is sent
//! to the server for one zone and trusts only the anchor a test gives it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process started by a test: killed when the handle drops.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `kdig @127.0.0.1 -p <port> <args>`: its output.
pub fn kdig(port: u16, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=2", "+retry=1"])
        .args(args)
        .output()
        .expect("kdig is installed (dev/build-tools.sh apt)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts Unbound on 127.0.0.1:`port` (files in `dir`), resolving `zone` through the server at
/// 127.0.0.1:`upstream`, with `anchor` (a DS or DNSKEY record in presentation form) as its one
/// trust anchor; returns once it answers.
pub fn unbound(
    dir: &Path,
    port: u16,
    zone: &str,
    upstream: u16,
    anchor: &str,
) -> anyhow::Result<Killed> {
    let d = dir.join(format!("unbound-{port}"));
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join("anchor.txt"), format!("{anchor}\n"))?;
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"{d}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n  do-not-query-localhost: no\n  trust-anchor-file: \"{d}/anchor.txt\"\n  module-config: \"validator iterator\"\n  qname-minimisation: no\n  cache-max-negative-ttl: 1\nstub-zone:\n  name: \"{zone}\"\n  stub-addr: 127.0.0.1@{upstream}\n",
        d = d.display()
    );
    std::fs::write(d.join("unbound.conf"), conf)?;
    let child = Killed(
        Command::new("unbound")
            .args(["-c", &d.join("unbound.conf").to_string_lossy()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let started = Instant::now();
    while !kdig(port, &[zone, "SOA"]).contains("status:") {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "unbound not answering; see {}",
            d.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

/// `NOERROR ad` / `NXDOMAIN -` / `SERVFAIL -`: the status of a question to the resolver on
/// `port` and whether it set AD (validated).
pub fn verdict(port: u16, name: &str, t: &str) -> String {
    let out = kdig(port, &["+dnssec", name, t]);
    let status = out
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .map(|s| s.split(';').next().unwrap_or(s).trim().to_string())
        .unwrap_or_else(|| "no answer".into());
    let ad = out
        .lines()
        .find(|l| l.starts_with(";; Flags:"))
        .is_some_and(|l| l.split_whitespace().any(|f| f == "ad" || f == "ad;"));
    format!("{status} {}", if ad { "ad" } else { "-" })
}
