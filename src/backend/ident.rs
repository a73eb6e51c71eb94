//! Table names for the server backends: validated SQL identifiers, the only
//! strings of the caller's that are ever pasted into SQL text.

use crate::error::{Error, Result};

/// dremioframe's default table name for its PostgreSQL and MySQL backends.
pub const DEFAULT_TABLE: &str = "dremioframe_runs";

/// Longest name [`validate_table_name`] accepts, whatever the server. Each
/// server backend accepts shorter names only, so that every name it derives
/// from the table's fits the server's identifier limit:
/// [`POSTGRES_MAX_TABLE_NAME_LEN`] and [`MYSQL_MAX_TABLE_NAME_LEN`].
pub const MAX_TABLE_NAME_LEN: usize = 48;

/// PostgreSQL's identifier limit, in bytes (NAMEDATALEN - 1). A longer name
/// is not refused: PostgreSQL silently keeps its first 63 bytes.
pub const POSTGRES_IDENTIFIER_LIMIT: usize = 63;

/// MySQL's and MariaDB's identifier limit, in characters (longer: error 1059).
pub const MYSQL_IDENTIFIER_LIMIT: usize = 64;

/// Longest run table name the PostgreSQL backend accepts: 63 bytes minus
/// what the longest derived name, `idx_<table>_pipeline_start`, adds.
pub const POSTGRES_MAX_TABLE_NAME_LEN: usize = POSTGRES_IDENTIFIER_LIMIT - LONGEST_ADDITION;

/// Longest run table name the MySQL / MariaDB backend accepts: 64
/// characters minus what `idx_<table>_pipeline_start` adds.
pub const MYSQL_MAX_TABLE_NAME_LEN: usize = MYSQL_IDENTIFIER_LIMIT - LONGEST_ADDITION;

/// Characters `idx_<table>_pipeline_start` adds to the table name.
const LONGEST_ADDITION: usize = "idx__pipeline_start".len();

/// The suffixes of the run table's index names, `idx_<table>_<suffix>`.
pub(crate) const INDEX_SUFFIXES: [&str; 3] = ["pipeline", "start_time", "pipeline_start"];

/// The suffix of the PostgreSQL detail table's index name,
/// `idx_<table>_task_detail`.
pub(crate) const DETAIL_INDEX_SUFFIX: &str = "task_detail";

/// The name of index `suffix` of run table `table`.
pub(crate) fn index_name(table: &str, suffix: &str) -> String {
    format!("idx_{table}_{suffix}")
}

/// The name of the live per-task table of run table `table`.
pub(crate) fn live_table_name(table: &str) -> String {
    format!("{table}_task_state")
}

/// The name of the task detail table of run table `table`.
pub(crate) fn detail_table_name(table: &str) -> String {
    format!("{table}_task_detail")
}

/// The name of the schedule table of run table `table`.
pub(crate) fn schedules_table_name(table: &str) -> String {
    format!("{table}_schedules")
}

/// The name of the schedule claim table of run table `table`.
pub(crate) fn claims_table_name(table: &str) -> String {
    format!("{table}_sched_claims")
}

/// The name of the run metadata table (leases, resume links) of run table `table`.
pub(crate) fn run_meta_table_name(table: &str) -> String {
    format!("{table}_run_meta")
}

/// The name of the DAG table (one row per distinct DAG) of run table `table`.
pub(crate) fn dag_table_name(table: &str) -> String {
    format!("{table}_dag")
}

/// The name of the run -> DAG table of run table `table`.
pub(crate) fn run_dag_table_name(table: &str) -> String {
    format!("{table}_run_dag")
}

/// The name of the task output table of run table `table`.
pub(crate) fn output_table_name(table: &str) -> String {
    format!("{table}_task_output")
}

/// Whose identifier rules a table name is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Server {
    Postgres,
    MySql,
}

impl Server {
    fn limit(self) -> usize {
        match self {
            Server::Postgres => POSTGRES_IDENTIFIER_LIMIT,
            Server::MySql => MYSQL_IDENTIFIER_LIMIT,
        }
    }

    /// Every name the backend creates for run table `table`, with what it
    /// names: the tables, the indexes, and the names the server derives in
    /// turn and refuses when too long (MySQL's foreign key `<live>_ibfk_1`).
    /// PostgreSQL's own generated names (`<live>_pkey`) are not listed: it
    /// shortens those itself, keeping them unique.
    pub(crate) fn derived_names(self, table: &str) -> Vec<(String, &'static str)> {
        let live = live_table_name(table);
        let mut names = vec![
            (table.to_string(), "run table"),
            (live.clone(), "live table"),
            (detail_table_name(table), "detail table"),
            (run_meta_table_name(table), "run metadata table"),
            (output_table_name(table), "task output table"),
            (schedules_table_name(table), "schedule table"),
            (claims_table_name(table), "schedule claim table"),
        ];
        for suffix in INDEX_SUFFIXES {
            names.push((index_name(table, suffix), "index"));
        }
        match self {
            Server::MySql => names.push((format!("{live}_ibfk_1"), "foreign key")),
            Server::Postgres => {
                names.push((index_name(table, DETAIL_INDEX_SUFFIX), "index"));
            }
        }
        names
    }
}

/// Checks that every name derived from `table` (already validated) fits
/// `server`'s identifier limit, so that nothing is created under a name the
/// server refuses (MySQL: after some tables already exist) or truncates
/// (PostgreSQL: truncated names can collide). A `Config` error naming the
/// limit and the longest table name allowed otherwise.
pub(crate) fn check_derived_names(server: Server, table: &str) -> Result<()> {
    let limit = server.limit();
    let names = server.derived_names(table);
    let Some((longest, what)) = names.iter().max_by_key(|(n, _)| n.len()) else {
        return Ok(());
    };
    if longest.len() <= limit {
        return Ok(());
    }
    let allowed = limit - (longest.len() - table.len());
    let (server_name, unit, effect) = match server {
        Server::Postgres => (
            "PostgreSQL",
            "bytes",
            " (PostgreSQL would silently truncate it)",
        ),
        Server::MySql => ("MySQL and MariaDB", "characters", ""),
    };
    Err(Error::config(format!(
        "table name {table:?} ({} characters) is too long for {server_name}: the {what} name \
         {longest:?} derived from it would have {} {unit}, over the {limit}-{} identifier \
         limit{effect}; the longest table name allowed is {allowed} characters",
        table.len(),
        longest.len(),
        unit.trim_end_matches('s'),
    )))
}

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
    fn derived_names_fit_the_servers_limits() {
        assert_eq!(POSTGRES_MAX_TABLE_NAME_LEN, 44);
        assert_eq!(MYSQL_MAX_TABLE_NAME_LEN, 45);
        for (server, max) in [
            (Server::Postgres, POSTGRES_MAX_TABLE_NAME_LEN),
            (Server::MySql, MYSQL_MAX_TABLE_NAME_LEN),
        ] {
            let longest = "a".repeat(max);
            check_derived_names(server, &longest).unwrap();
            let names: Vec<String> = server
                .derived_names(&longest)
                .into_iter()
                .map(|(n, _)| n)
                .collect();
            assert!(names.iter().all(|n| n.len() <= server.limit()), "{names:?}");
            let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "{names:?}");
            // Every table of ours is checked, the durable history's too.
            for table in [
                live_table_name(&longest),
                detail_table_name(&longest),
                run_meta_table_name(&longest),
                output_table_name(&longest),
            ] {
                assert!(names.contains(&table), "{table} not in {names:?}");
            }
            let e = check_derived_names(server, &"a".repeat(max + 1)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
            let m = e.message();
            assert!(
                m.contains(&format!("{}-", server.limit()))
                    && m.contains(&format!("longest table name allowed is {max} characters"))
                    && m.contains("_pipeline_start"),
                "{m}"
            );
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
