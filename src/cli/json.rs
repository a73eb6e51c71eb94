//! `--json` output as text (the run objects are in `crate::run_json`).

use serde::Serialize;

/// Pretty JSON text followed by a newline.
pub(crate) fn to_text<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing plain structs of strings and numbers cannot fail.
    let mut s = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string()));
    s.push('\n');
    s
}
