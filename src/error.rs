//! One error type for the whole crate: a kind (mapped 1:1 onto the C API's
//! `DorchCode`) and a message meant for a human.

use std::fmt;

/// What went wrong, coarsely. Each kind has a fixed C code in the `ffi` layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A caller passed a value the library cannot accept (empty name, zero workers, bad UTF-8...).
    InvalidArgument,
    /// A run, task or key that does not exist.
    NotFound,
    /// A name that is already taken.
    Duplicate,
    /// The dependency graph has a cycle.
    Cycle,
    /// Missing or malformed configuration (DSN, URL, environment variable, table name).
    Config,
    /// The storage backend failed (I/O, SQL, network, a custom backend's error).
    Backend,
    /// A run ended FAILED.
    TaskFailed,
    /// A panic was caught.
    Panic,
    /// A run was cancelled through its cancel token.
    Cancelled,
    /// A run passed its timeout.
    Timeout,
    /// The backend does not offer this operation (a custom backend without
    /// the optional function it needs).
    Unsupported,
}

/// The crate's error: a [`ErrorKind`] plus a message naming what failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    /// An [`ErrorKind::InvalidArgument`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// An [`ErrorKind::NotFound`] error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// An [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    /// An [`ErrorKind::Backend`] error.
    pub fn backend(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Backend, message)
    }
    /// An [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message, naming what failed (without the kind).
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Prefixes the message with what the caller was doing, keeping the kind.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Text of a caught panic payload, for error messages.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
