//! One string opens any built-in backend (DESIGN.md §2).

use super::{BackendRef, MemoryBackend, MySqlBackend, PostgresBackend, SqliteBackend};
use crate::error::{Error, Result};
use std::sync::Arc;

/// Opens a backend from a URL: `memory:`, `sqlite:///absolute/path.db`,
/// `sqlite://relative.db`, `postgresql://...` / `postgres://...`,
/// `mysql://user:pass@host:port/db`.
///
/// Server URLs may end with `?table=name` to use another table than
/// `dremioframe_runs`; other query parameters go to the driver.
pub fn open(url: &str) -> Result<BackendRef> {
    let (scheme, rest) = url
        .split_once(':')
        .ok_or_else(|| Error::config(format!("backend URL {url:?} has no scheme (expected memory:, sqlite://, postgresql:// or mysql://)")))?;
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => {
            if !rest.is_empty() && rest != "//" {
                return Err(Error::config(format!(
                    "backend URL {url:?}: memory: takes no path"
                )));
            }
            Ok(Arc::new(MemoryBackend::new()))
        }
        "sqlite" => {
            let path = rest.strip_prefix("//").ok_or_else(|| {
                Error::config(format!(
                    "backend URL {url:?}: expected sqlite:///absolute/path.db or sqlite://relative.db"
                ))
            })?;
            if path.is_empty() || path == "/" {
                return Err(Error::config(format!(
                    "backend URL {url:?} names no database file"
                )));
            }
            Ok(Arc::new(SqliteBackend::open(path)?))
        }
        "postgresql" | "postgres" => {
            if rest.trim_start_matches('/').is_empty() {
                return Err(Error::config(format!(
                    "backend URL {url:?} names no server"
                )));
            }
            Ok(Arc::new(PostgresBackend::connect(Some(url), None)?))
        }
        "mysql" => {
            if rest.trim_start_matches('/').is_empty() {
                return Err(Error::config(format!(
                    "backend URL {url:?} names no server"
                )));
            }
            Ok(Arc::new(MySqlBackend::connect(Some(url), None)?))
        }
        other => Err(Error::config(format!(
            "backend URL {url:?}: unknown scheme {other:?} (expected memory, sqlite, postgresql, postgres or mysql)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn bad_urls_are_config_errors() {
        for u in [
            "",
            "nothing",
            "ftp://x",
            "sqlite:",
            "sqlite://",
            "sqlite:///",
            "memory:/x",
            "postgresql://",
            "mysql://",
            "mysql://root@127.0.0.1:1",
            "postgres://127.0.0.1:1/x?table=bad;name",
            "mysql://root@127.0.0.1:1/x?table=a%20b",
        ] {
            let e = open(u).err().unwrap_or_else(|| panic!("{u:?} opened"));
            assert_eq!(e.kind(), ErrorKind::Config, "{u:?}: {e}");
        }
        assert!(open("memory:").is_ok());
    }
}
