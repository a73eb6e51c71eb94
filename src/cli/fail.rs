//! How a command fails: a message for stderr, or a reader that went away.

use std::io;

/// Why a command stopped before finishing.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Printed as one line on stderr; exit code 1.
    Message(String),
    /// Standard output was closed by its reader (`dremioorch runs list | head`):
    /// nobody is left to tell, so the command stops quietly.
    BrokenPipe,
}

impl Fail {
    pub(crate) fn msg(m: impl Into<String>) -> Fail {
        Fail::Message(m.into())
    }
}

impl From<crate::Error> for Fail {
    fn from(e: crate::Error) -> Fail {
        Fail::Message(e.message().to_string())
    }
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Fail::BrokenPipe
        } else {
            Fail::Message(format!("cannot write the output: {e}"))
        }
    }
}

/// What every command returns.
pub(crate) type Outcome = Result<(), Fail>;

/// `m` on one line: backend messages may carry a server's multi-line detail.
pub(crate) fn one_line(m: &str) -> String {
    let joined = m
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    super::text::clean(&joined).into_owned()
}

/// A warning on stderr, one line: something the command could not show.
pub(crate) fn warn(m: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "dremioorch: warning: {}", one_line(m));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_one_line() {
        assert_eq!(
            one_line("db error: ERROR: x\n  DETAIL: y\r\n\n"),
            "db error: ERROR: x DETAIL: y"
        );
        assert_eq!(one_line("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    }
}
