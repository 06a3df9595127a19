//! Who may hold a TCP connection (RFC 7766 §6.2.3, §10).
//!
//! The server never stops accepting. A fixed number of sessions taken *after* `accept()` and
//! held until a client left meant that 300 clients sending one query every few seconds, or
//! 2,000 connections opened and left idle, shut every new client out: the accept loop waited
//! for a slot and the kernel's backlog filled. Instead every connection is accepted and
//! registered here; when the table is full, the session that has been quiet the longest is
//! asked to close (never one in the middle of a zone transfer), and a source at its own
//! limit gives up one of its own sessions rather than anybody else's. Under load the idle
//! timeout shrinks, so the table drains by itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The bounds: total sessions, sessions from one address, and the idle timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub sessions: usize,
    pub per_source: usize,
    /// How long a client may stay quiet while the table is less than three quarters full.
    pub idle: Duration,
    /// … and once it is fuller than that.
    pub idle_under_load: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sessions: 1024,
            per_source: 256,
            idle: Duration::from_secs(10),
            idle_under_load: Duration::from_secs(1),
        }
    }
}

/// One connection's state, shared between its task and the table.
pub struct Session {
    id: u64,
    source: IpAddr,
    /// Milliseconds since the table's epoch when the client last sent a query.
    last_active: AtomicU64,
    /// In the middle of an answer or a transfer: not to be evicted.
    busy: AtomicBool,
    /// Signalled when the table wants this connection gone.
    close: Notify,
}

impl Session {
    /// A query arrived: the session is active and busy until [`Session::done`].
    pub fn begin(&self, table: &Sessions) {
        self.busy.store(true, Ordering::Relaxed);
        self.last_active.store(table.now_ms(), Ordering::Relaxed);
    }

    /// The answer is written.
    pub fn done(&self, table: &Sessions) {
        self.last_active.store(table.now_ms(), Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
    }

    /// Completes when the table asks this session to close.
    pub async fn closing(&self) {
        self.close.notified().await
    }
}

/// The table of open sessions.
pub struct Sessions {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Open>,
    /// Sessions closed to make room (for `/metrics`).
    pub evicted: AtomicU64,
}

#[derive(Default)]
struct Open {
    by_id: HashMap<u64, Arc<Session>>,
    per_source: HashMap<IpAddr, usize>,
}

/// Removes the session from the table when its connection ends, however it ends.
pub struct Registration {
    table: Arc<Sessions>,
    pub session: Arc<Session>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.by_id.remove(&self.session.id).is_some()
            && let Some(n) = open.per_source.get_mut(&self.session.source)
        {
            *n -= 1;
            if *n == 0 {
                open.per_source.remove(&self.session.source);
            }
        }
    }
}

impl Sessions {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Sessions {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Open::default()),
            evicted: AtomicU64::new(0),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// How many connections are open.
    pub fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long a client may stay quiet right now.
    pub fn idle_timeout(&self) -> Duration {
        if self.len() * 4 > self.limits.sessions * 3 {
            self.limits.idle_under_load
        } else {
            self.limits.idle
        }
    }

    /// Registers a new connection from `source`, first asking another to close if the table
    /// (or this source's share of it) is full. Never refuses the newcomer.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Registration {
        let session = Arc::new(Session {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            source,
            last_active: AtomicU64::new(self.now_ms()),
            busy: AtomicBool::new(false),
            close: Notify::new(),
        });
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let from_source = open.per_source.get(&source).copied().unwrap_or(0);
        let victim = if from_source >= self.limits.per_source {
            quietest(open.by_id.values().filter(|s| s.source == source))
        } else if open.by_id.len() >= self.limits.sessions {
            quietest(open.by_id.values())
        } else {
            None
        };
        if let Some(v) = victim {
            // out of the table now (its count too), so the newcomer's place is certain; the
            // task closes the socket when it sees the signal
            open.by_id.remove(&v.id);
            if let Some(n) = open.per_source.get_mut(&v.source) {
                *n -= 1;
                if *n == 0 {
                    open.per_source.remove(&v.source);
                }
            }
            v.close.notify_one();
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        open.by_id.insert(session.id, session.clone());
        *open.per_source.entry(source).or_insert(0) += 1;
        drop(open);
        Registration {
            table: self.clone(),
            session,
        }
    }
}

/// The session quiet for longest among those not answering right now.
fn quietest<'a>(sessions: impl Iterator<Item = &'a Arc<Session>>) -> Option<Arc<Session>> {
    sessions
        .filter(|s| !s.busy.load(Ordering::Relaxed))
        .min_by_key(|s| (s.last_active.load(Ordering::Relaxed), s.id))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(sessions: usize, per_source: usize) -> Limits {
        Limits {
            sessions,
            per_source,
            ..Limits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn a_full_table_closes_the_quietest_session_for_a_newcomer() {
        let t = Sessions::new(limits(3, 3));
        let a = t.admit(ip(1));
        let b = t.admit(ip(2));
        let c = t.admit(ip(3));
        // a and c are active after b: b is the quietest
        std::thread::sleep(Duration::from_millis(5));
        a.session.begin(&t);
        a.session.done(&t);
        c.session.begin(&t);
        c.session.done(&t);
        let d = t.admit(ip(4));
        assert_eq!(t.len(), 3);
        assert_eq!(t.evicted.load(Ordering::Relaxed), 1);
        let open = t.open.lock().unwrap();
        assert!(!open.by_id.contains_key(&b.session.id), "b was quietest");
        assert!(open.by_id.contains_key(&d.session.id));
    }

    #[test]
    fn a_session_in_the_middle_of_an_answer_is_not_evicted() {
        let t = Sessions::new(limits(2, 2));
        let a = t.admit(ip(1));
        let _b = t.admit(ip(2));
        a.session.begin(&t); // a is older but busy (a zone transfer, say)
        let _c = t.admit(ip(3));
        assert!(t.open.lock().unwrap().by_id.contains_key(&a.session.id));
    }

    #[test]
    fn a_source_at_its_limit_gives_up_its_own_session_not_another_sources() {
        let t = Sessions::new(limits(10, 2));
        let other = t.admit(ip(9)); // the quietest of all, but not the greedy source's
        std::thread::sleep(Duration::from_millis(5));
        let g1 = t.admit(ip(1));
        let _g2 = t.admit(ip(1));
        let _g3 = t.admit(ip(1));
        let open = t.open.lock().unwrap();
        assert!(open.by_id.contains_key(&other.session.id));
        assert!(!open.by_id.contains_key(&g1.session.id));
        assert_eq!(open.per_source[&ip(1)], 2);
    }

    #[test]
    fn closing_a_connection_frees_its_place_and_its_sources_count() {
        let t = Sessions::new(limits(4, 4));
        let a = t.admit(ip(1));
        let b = t.admit(ip(1));
        drop(a);
        assert_eq!(t.len(), 1);
        drop(b);
        assert!(t.is_empty());
        assert!(t.open.lock().unwrap().per_source.is_empty());
    }

    #[test]
    fn the_idle_timeout_shrinks_when_the_table_is_three_quarters_full() {
        let t = Sessions::new(limits(4, 4));
        let _held: Vec<_> = (0..3).map(|i| t.admit(ip(i))).collect();
        assert_eq!(t.idle_timeout(), Limits::default().idle);
        let _more = t.admit(ip(9));
        assert_eq!(t.idle_timeout(), Limits::default().idle_under_load);
    }

    #[test]
    fn an_evicted_session_is_told_to_close() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let t = Sessions::new(limits(1, 1));
        let a = t.admit(ip(1));
        let _b = t.admit(ip(2));
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(1), a.session.closing())
                .await
                .expect("the evicted session hears the close")
        });
    }
}
