//! Table names for the server backends: validated SQL identifiers, the only
//! strings of the caller's that are ever pasted into SQL text.

use crate::error::{Error, Result};

/// dremioframe's default table name for its PostgreSQL and MySQL backends.
pub const DEFAULT_TABLE: &str = "dremioframe_runs";

/// Longest accepted table name: the derived names (`idx_<table>_start_time`,
/// `idx_<table>_pipeline_start`, `<table>_task_state`) must stay within the
/// 63-character (PostgreSQL) and 64-character (MySQL) identifier limits.
pub const MAX_TABLE_NAME_LEN: usize = 48;

/// Checks `name` against `^[A-Za-z_][A-Za-z0-9_]{0,47}$`. Anything else
/// (quotes, spaces, dots, semicolons, non-ASCII, empty) is a `Config` error.
pub fn validate_table_name(name: &str) -> Result<&str> {
    let mut chars = name.chars();
    let ok_first = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_');
    let ok_rest = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_first || !ok_rest || name.len() > MAX_TABLE_NAME_LEN {
        return Err(Error::config(format!(
            "invalid table name {:?}: expected an SQL identifier of 1 to {MAX_TABLE_NAME_LEN} \
             characters, letters, digits and underscores, not starting with a digit",
            shorten(name)
        )));
    }
    Ok(name)
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(80).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Takes a `table=<name>` parameter out of a URL's query string, returning
/// the URL without it (other parameters kept, in order) and the table name.
pub fn take_table_param(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut table = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("table", v)) => table = Some(v.to_string()),
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, table)
}

/// The table to use: the explicit argument, else a `?table=` URL parameter,
/// else [`DEFAULT_TABLE`]; both given and different is a `Config` error.
pub fn resolve_table(explicit: Option<&str>, from_url: Option<&str>) -> Result<String> {
    let name = match (explicit, from_url) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::config(format!(
                "table given twice: {a:?} as an argument and {b:?} in the URL"
            )))
        }
        (Some(a), _) => a,
        (None, Some(b)) => b,
        (None, None) => DEFAULT_TABLE,
    };
    validate_table_name(name).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn identifiers() {
        for ok in ["dremioframe_runs", "_x", "A1_b", &"a".repeat(48)] {
            assert!(validate_table_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "runs; DROP TABLE x",
            "a b",
            "a.b",
            "\"runs\"",
            "`runs`",
            "runs--",
            "é",
            &"a".repeat(49),
        ] {
            let e = validate_table_name(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn table_param() {
        assert_eq!(
            take_table_param("mysql://u@h/db?table=t1"),
            ("mysql://u@h/db".to_string(), Some("t1".to_string()))
        );
        assert_eq!(
            take_table_param("postgresql://h/db?sslmode=disable&table=t&x=1"),
            (
                "postgresql://h/db?sslmode=disable&x=1".to_string(),
                Some("t".to_string())
            )
        );
        assert_eq!(take_table_param("host=x").1, None);
        assert_eq!(resolve_table(None, None).unwrap(), DEFAULT_TABLE);
        assert_eq!(resolve_table(Some("a"), Some("a")).unwrap(), "a");
        assert!(resolve_table(Some("a"), Some("b")).is_err());
        assert!(resolve_table(None, Some("x;y")).is_err());
    }
}
