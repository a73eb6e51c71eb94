//! The embedded web UI over HTTP.
