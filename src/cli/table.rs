//! Aligned text tables, with statuses coloured only for a terminal.

use std::io::IsTerminal;

/// Whether to colour: only when standard output is a terminal, `NO_COLOR`
/// is unset or empty (<https://no-color.org>) and `TERM` is not `dumb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paint {
    color: bool,
}

impl Paint {
    pub(crate) fn detect() -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Paint {
            color: std::io::stdout().is_terminal() && !no_color && !dumb,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_color(color: bool) -> Paint {
        Paint { color }
    }

    fn wrap(&self, code: Option<&str>, text: &str) -> String {
        match code {
            Some(code) if self.color => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }

    /// `text` in bold.
    pub(crate) fn bold(&self, text: &str) -> String {
        self.wrap(Some("1"), text)
    }

    /// A run or task status in its colour.
    pub(crate) fn status(&self, status: &str) -> String {
        self.wrap(status_color(status), status)
    }
}

/// The ANSI colour of a status: green done, red failed, yellow running,
/// dim not run (yet).
pub(crate) fn status_color(status: &str) -> Option<&'static str> {
    match status {
        "SUCCESS" => Some("32"),
        "FAILED" => Some("31"),
        "RUNNING" => Some("33"),
        "PENDING" | "SKIPPED" => Some("2"),
        _ => None,
    }
}

/// One cell: its text (already escaped) and, for statuses, its colour.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    text: String,
    color: Option<&'static str>,
}

impl Cell {
    pub(crate) fn status(s: &str) -> Cell {
        Cell {
            text: s.to_string(),
            color: status_color(s),
        }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, color: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

/// Columns padded to their widest cell, two spaces apart; the last column
/// is not padded, so lines carry no trailing blanks.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.header.len());
        self.rows.push(row);
    }

    pub(crate) fn render(&self, paint: &Paint) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.header.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(&c.text));
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<(String, usize)>| {
            let last = cells.len().saturating_sub(1);
            let mut text = String::new();
            for (i, (shown, visible)) in cells.into_iter().enumerate() {
                text.push_str(&shown);
                if i < last {
                    let pad = widths[i] - visible + 2;
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(
            self.header
                .iter()
                .map(|h| (paint.bold(h), width(h)))
                .collect(),
        );
        for row in &self.rows {
            line(
                row.iter()
                    .map(|c| (paint.wrap(c.color, &c.text), width(&c.text)))
                    .collect(),
            );
        }
        out
    }
}

/// `label  value` lines, the values aligned.
pub(crate) fn fields(rows: &[(&str, String)]) -> String {
    let w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        let pad = w - label.chars().count() + 2;
        out.push_str(label);
        out.extend(std::iter::repeat_n(' ', pad));
        out.push_str(value);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_without_trailing_blanks() {
        let mut t = Table::new(&["NAME", "STATUS", "NOTE"]);
        t.push(vec!["a".into(), Cell::status("SUCCESS"), "".into()]);
        t.push(vec![
            "tâche-longue".into(),
            Cell::status("FAILED"),
            "boom".into(),
        ]);
        assert_eq!(
            t.render(&Paint::with_color(false)),
            "NAME          STATUS   NOTE\n\
             a             SUCCESS\n\
             tâche-longue  FAILED   boom\n"
        );
    }

    #[test]
    fn colour_codes_do_not_count_toward_widths() {
        let mut t = Table::new(&["S", "X"]);
        t.push(vec![Cell::status("FAILED"), "x".into()]);
        let out = t.render(&Paint::with_color(true));
        assert!(out.contains("\x1b[31mFAILED\x1b[0m  x"), "{out:?}");
        assert_eq!(
            fields(&[("Run", "r".into()), ("Status", "S".into())]),
            "Run     r\nStatus  S\n"
        );
    }
}
