//! Waiting for the end: SIGINT/SIGTERM, or (for `ferrocket dev` under a test) standard input
//! closing.

/// Whether standard input is a pipe or socket (not a terminal or /dev/null).
pub fn stdin_is_pipe() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: fstat on fd 0 with a zeroed stat buffer; no memory is shared.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(0, &mut st) } != 0 {
            return false;
        }
        let kind = st.st_mode & libc::S_IFMT;
        kind == libc::S_IFIFO || kind == libc::S_IFSOCK
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// SIGINT/SIGTERM handlers, installed before the ready line is printed so that a signal sent
/// right after it is handled (not the default action).
pub struct Signals {
    rt: tokio::runtime::Runtime,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    pub fn install() -> Option<Signals> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (term, int) = rt.block_on(async { (signal(SignalKind::terminate()).ok(), signal(SignalKind::interrupt()).ok()) });
            Some(Signals { rt, term, int })
        }
        #[cfg(not(unix))]
        {
            Some(Signals { rt })
        }
    }

    /// Wait for SIGINT/SIGTERM, or for standard input to close when `watch_stdin`.
    pub fn wait(mut self, watch_stdin: bool) {
        let stdin_closed = async move {
            if !watch_stdin {
                return std::future::pending::<()>().await;
            }
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 1024];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let _ = tx.send(());
            });
            let _ = rx.await;
        };
        #[cfg(unix)]
        {
            let mut term = self.term.take();
            let mut int = self.int.take();
            self.rt.block_on(async move {
                let term = async {
                    match term.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                let int = async {
                    match int.as_mut() {
                        Some(s) => {
                            s.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = term => {}
                    _ = int => {}
                    _ = stdin_closed => tracing::info!("standard input closed"),
                }
            });
        }
        #[cfg(not(unix))]
        {
            self.rt.block_on(async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stdin_closed => {}
                }
            });
        }
    }
}
