//! Making stored text safe and short for a terminal: names, errors and
//! outputs come from whoever wrote the history.

use std::borrow::Cow;

/// `s` with control characters (and the bidirectional overrides that can
/// reorder what a terminal shows) written as escapes, so stored text can
/// neither move the cursor nor recolour the screen.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// At most `max` characters of `s`, ending in `…` when cut.
pub(crate) fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            Cow::Owned(format!("{}…", &s[..end]))
        }
    }
}

/// [`clean`], then [`shorten`]: what a table cell shows of stored text.
pub(crate) fn cell(s: &str, max: usize) -> String {
    shorten(&clean(s), max).into_owned()
}

/// A byte count for people: `512 B`, `1.5 KiB`, `2.0 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A stored output as one line of at most about `max` characters: the text
/// (escaped) when it is UTF-8, else the first bytes in hex.
pub(crate) fn output_preview(data: &[u8], max: usize) -> String {
    match std::str::from_utf8(data) {
        Ok("") => "(empty)".into(),
        Ok(s) => cell(s, max),
        Err(_) => {
            let shown = (max / 3).max(1);
            let hex: Vec<String> = data
                .iter()
                .take(shown)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if data.len() > shown { " …" } else { "" };
            format!("binary: {}{more}", hex.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(clean("a\nb\tc\u{1b}[2J"), "a\\nb\\tc\\u{1b}[2J");
        assert_eq!(clean("x\u{202e}y\u{7f}"), "x\\u{202e}y\\u{7f}");
        assert_eq!(clean("tâche ☃"), "tâche ☃");
    }

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4), "ééé…");
        assert_eq!(cell("a\nbcdef", 5), "a\\nb…");
    }

    #[test]
    fn sizes_and_previews() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(2 * 1024 * 1024), "2.0 MiB");
        assert_eq!(output_preview(b"hi\n", 20), "hi\\n");
        assert_eq!(output_preview(b"", 20), "(empty)");
        assert_eq!(output_preview(&[0xff, 0x00, 0x01], 30), "binary: ff 00 01");
        assert_eq!(output_preview(&[0xff; 40], 9), "binary: ff ff ff …");
        assert_eq!(output_preview("x".repeat(50).as_bytes(), 10), "xxxxxxxxx…");
    }
}
