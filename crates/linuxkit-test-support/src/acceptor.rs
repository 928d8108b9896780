//! A loopback server thread for the test servers: accepts connections and
//! handles each on its own thread until dropped.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Accepts connections on a listener, calling `handle(conn, &state)` on a
/// new thread for each; dropping it stops the loop and joins the thread.
pub(crate) struct Acceptor {
    addr: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Acceptor {
    /// Start accepting on `listener` (its errors in `handle` are ignored:
    /// the peer sees the connection close).
    pub(crate) fn start<S: Send + Sync + 'static>(
        listener: TcpListener,
        state: Arc<S>,
        handle: fn(TcpStream, &S) -> std::io::Result<()>,
    ) -> Acceptor {
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let sp = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = state.clone();
                std::thread::spawn(move || {
                    let _ = handle(conn, &st);
                });
            }
        });
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so that the loop sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr.parse().unwrap(), Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
