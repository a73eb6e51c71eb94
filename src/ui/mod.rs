//! The embedded web UI: an HTTP server showing the run history (runs,
//! run detail with the DAG, pipelines with a "Run now" button, schedules),
//! with dremioframe's JSON endpoints. It runs on a thread of its own with a
//! single-threaded tokio runtime; the page's files are compiled in.

mod api;
mod assets;
mod guard;
mod server;

use crate::backend::BackendRef;
use crate::error::{Error, Result};
use crate::pipeline::Pipeline;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

/// Where the UI listens when no address is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How a [`Ui`] is served.
#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    /// `host:port` to listen on; `None` is [`DEFAULT_LISTEN`]. Port 0 picks
    /// a free port (see [`Ui::address`]).
    pub listen: Option<String>,
    /// With `password`, every request must carry these HTTP basic
    /// credentials (compared in constant time). Both or neither.
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
    /// `GET /api/pipelines` lists the pipeline names found in the history
    /// (the 1,000 newest runs) besides the registered ones: what
    /// `dremioorch ui` serves, where no pipeline is registered.
    pub pipelines_from_history: bool,
}

/// Starts one run of a registered pipeline (on the calling thread).
pub(crate) type Runner = Arc<dyn Fn() + Send + Sync>;

/// State shared by the request handlers.
pub(crate) struct Shared {
    pub(crate) backend: BackendRef,
    pub(crate) pipelines: RwLock<BTreeMap<String, Runner>>,
    pub(crate) credentials: Option<[u8; 32]>,
    pub(crate) pipelines_from_history: bool,
}

/// A running web UI. Dropping it (or [`Ui::stop`]) stops the server.
pub struct Ui {
    shared: Arc<Shared>,
    address: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ui {
    /// Starts serving `backend`'s history. Fails when the address cannot be
    /// parsed or bound, or when only one of username and password is set.
    pub fn start(backend: BackendRef, options: UiOptions) -> Result<Ui> {
        let credentials = match (&options.username, &options.password) {
            (Some(u), Some(p)) => Some(guard::digest(format!("{u}:{p}").as_bytes())),
            (None, None) => None,
            _ => {
                return Err(Error::invalid(
                    "ui: set both username and password, or neither",
                ))
            }
        };
        let listen = options.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| Error::config(format!("ui: cannot listen on {listen:?}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::config(format!("ui: {e}")))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::config(format!("ui: {e}")))?;
        let shared = Arc::new(Shared {
            backend,
            pipelines: RwLock::new(BTreeMap::new()),
            credentials,
            pipelines_from_history: options.pipelines_from_history,
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::config(format!("ui: cannot start its runtime: {e}")))?;
        let app = server::router(shared.clone());
        let thread = std::thread::Builder::new()
            .name("dremioorch-ui".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                });
            })
            .map_err(|e| Error::config(format!("ui: cannot start its thread: {e}")))?;
        Ok(Ui {
            shared,
            address,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Registers `pipeline`: it appears in `/api/pipelines` and its "Run
    /// now" button (`POST /api/pipelines/{name}/trigger`) runs it on a new
    /// thread. A pipeline of the same name is replaced.
    pub fn add_pipeline(&self, pipeline: Arc<Pipeline>) {
        let name = pipeline.name().to_string();
        self.add_runner(
            name,
            Arc::new(move || {
                let _ = pipeline.run();
            }),
        );
    }

    /// Registers pipeline `name`, run by `run` (what the C API registers).
    pub(crate) fn add_runner(&self, name: String, run: Runner) {
        self.shared.pipelines.write().insert(name, run);
    }

    /// The address the server listens on (the actual port when 0 was asked).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops the server: it finishes the requests in progress and returns.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        self.shut_down();
    }
}
