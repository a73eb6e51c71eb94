//! One string opens any built-in backend.
//!
//! SQLite URLs follow SQLAlchemy and dremioframe's command line, so one URL
//! names the same file in every tool: what follows `sqlite:///` is the path,
//! relative to the current directory (`sqlite:///runs.db`) or absolute with a
//! fourth slash (`sqlite:////var/lib/app/runs.db`). A string with no scheme
//! is the path of a SQLite file, as for dremioframe's `ui` command.

use super::{BackendRef, MemoryBackend, MySqlBackend, PostgresBackend, SqliteBackend};
use crate::error::{Error, Result};
use std::sync::Arc;

/// What a backend URL names, before anything is opened.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Memory,
    /// A SQLite file: relative to the current directory unless it starts with `/`.
    Sqlite(&'a str),
    Postgres,
    MySql,
}

/// The schemes this module knows, as written before the `:`.
const SCHEMES: &[&str] = &["memory", "sqlite", "postgresql", "postgres", "mysql"];

fn parse(url: &str) -> Result<Target<'_>> {
    let scheme = url
        .split_once(':')
        .map(|(s, rest)| (s.to_ascii_lowercase(), rest))
        .filter(|(s, rest)| SCHEMES.contains(&s.as_str()) || rest.starts_with("//"));
    let Some((scheme, rest)) = scheme else {
        // No scheme: a SQLite file, as dremioframe's `ui` command reads it.
        if url.is_empty() {
            return Err(Error::config(
                "backend URL is empty (expected memory:, sqlite:///path.db, a file path, postgresql:// or mysql://)",
            ));
        }
        return Ok(Target::Sqlite(url));
    };
    match scheme.as_str() {
        "memory" => {
            if !rest.is_empty() && rest != "//" {
                return Err(Error::config(format!(
                    "backend URL {url:?}: memory: takes no path"
                )));
            }
            Ok(Target::Memory)
        }
        "sqlite" => {
            // sqlite:///rel.db and sqlite:////abs.db (SQLAlchemy's form);
            // sqlite://rel.db (two slashes) is still read as a relative path.
            let path = rest
                .strip_prefix("///")
                .or_else(|| rest.strip_prefix("//"))
                .ok_or_else(|| {
                    Error::config(format!(
                        "backend URL {url:?}: expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
                    ))
                })?;
            if path.is_empty() || path.ends_with('/') {
                return Err(Error::config(format!(
                    "backend URL {url:?} names no database file"
                )));
            }
            Ok(Target::Sqlite(path))
        }
        "postgresql" | "postgres" | "mysql" => {
            if rest.trim_start_matches('/').is_empty() {
                return Err(Error::config(format!(
                    "backend URL {url:?} names no server"
                )));
            }
            Ok(if scheme == "mysql" {
                Target::MySql
            } else {
                Target::Postgres
            })
        }
        other => Err(Error::config(format!(
            "backend URL {url:?}: unknown scheme {other:?} (expected memory, sqlite, postgresql, postgres or mysql)"
        ))),
    }
}

/// Opens a backend from a URL:
///
/// - `memory:`: a new in-memory backend;
/// - `sqlite:///relative/path.db` (relative to the current directory),
///   `sqlite:////absolute/path.db`, or a path with no scheme at all
///   (`runs.db`, `/var/lib/app/runs.db`): a SQLite file, as SQLAlchemy and
///   dremioframe's command line read these URLs. `sqlite://relative.db`
///   (two slashes) is accepted too, as a relative path;
/// - `postgresql://...` or `postgres://...`: PostgreSQL;
/// - `mysql://user:pass@host:port/db`: MySQL or MariaDB.
///
/// Server URLs may end with `?table=name` to use another table than
/// `dremioframe_runs`; other query parameters go to the driver.
pub fn open(url: &str) -> Result<BackendRef> {
    Ok(match parse(url)? {
        Target::Memory => Arc::new(MemoryBackend::new()),
        Target::Sqlite(path) => Arc::new(SqliteBackend::open(path)?),
        Target::Postgres => Arc::new(PostgresBackend::connect(Some(url), None)?),
        Target::MySql => Arc::new(MySqlBackend::connect(Some(url), None)?),
    })
}

/// The SQLite file a backend URL names, as [`open`] reads the URL; `None`
/// for another backend or a malformed URL. A tool that only reads history
/// uses it to refuse a file that does not exist, since opening one creates it.
pub fn sqlite_path(url: &str) -> Option<&str> {
    match parse(url) {
        Ok(Target::Sqlite(path)) => Some(path),
        _ => None,
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
            "ftp://x",
            "sqlite:",
            "sqlite:x.db",
            "sqlite://",
            "sqlite:///",
            "sqlite:////",
            "sqlite:///dir/",
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

    #[test]
    fn sqlite_urls_name_the_path_after_three_slashes() {
        for (url, path) in [
            ("sqlite:///dremioframe.db", "dremioframe.db"),
            ("sqlite:///data/runs.db", "data/runs.db"),
            ("sqlite:////var/lib/app/runs.db", "/var/lib/app/runs.db"),
            ("SQLite:////tmp/x.db", "/tmp/x.db"),
            ("sqlite://relative.db", "relative.db"),
            ("dremioframe.db", "dremioframe.db"),
            ("./runs.db", "./runs.db"),
            ("/var/lib/app/runs.db", "/var/lib/app/runs.db"),
            ("/tmp/odd:name.db", "/tmp/odd:name.db"),
            ("memory", "memory"),
        ] {
            assert_eq!(parse(url).unwrap(), Target::Sqlite(path), "{url:?}");
        }
        assert_eq!(parse("memory:").unwrap(), Target::Memory);
        assert_eq!(parse("MEMORY://").unwrap(), Target::Memory);
        assert_eq!(parse("postgres://h/db").unwrap(), Target::Postgres);
        assert_eq!(parse("postgresql://h/db").unwrap(), Target::Postgres);
        assert_eq!(parse("mysql://h/db").unwrap(), Target::MySql);
        assert_eq!(sqlite_path("sqlite:////tmp/x.db"), Some("/tmp/x.db"));
        assert_eq!(sqlite_path("runs.db"), Some("runs.db"));
        assert_eq!(sqlite_path("postgres://h/db"), None);
        assert_eq!(sqlite_path("ftp://x"), None);
    }
}
