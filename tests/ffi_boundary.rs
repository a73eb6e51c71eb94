//! Every function exported by `src/ffi/` must go through the one boundary
//! wrapper, `boundary(|| ...)`: its whole body is that one call. A single
//! forgotten wrapper lets a panic unwind into C or a NULL be dereferenced.

use std::path::{Path, PathBuf};

/// The text with comments, string and char literals blanked out (same length),
/// so that braces and parentheses inside them do not count.
fn code_only(src: &str) -> Vec<u8> {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let end = src[start..]
                    .find(&close)
                    .map_or(b.len(), |n| start + n + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'') or a lifetime ('a).
                let end = if b.get(i + 1) == Some(&b'\\') {
                    src[i + 2..].find('\'').map(|n| i + 2 + n + 1)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 3)
                } else {
                    None
                };
                match end {
                    Some(e) => {
                        blank(&mut out, i, e);
                        i = e;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The index just past the bracket matching the one at `open`.
fn matching(code: &[u8], open: usize) -> Option<usize> {
    let (o, c) = match code[open] {
        b'(' => (b'(', b')'),
        b'{' => (b'{', b'}'),
        _ => return None,
    };
    let mut depth = 0usize;
    for (k, &ch) in code.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return Some(k + 1);
            }
        }
    }
    None
}

fn skip_ws(code: &[u8], mut i: usize) -> usize {
    while i < code.len() && code[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Names of the `extern "C" fn`s (with a name: not fn-pointer types) whose
/// body is not exactly `{ boundary(...) }`, and how many were checked.
fn unwrapped(src: &str) -> (Vec<String>, usize) {
    let code = code_only(src);
    let text = String::from_utf8_lossy(&code).into_owned();
    // `extern "C"` was blanked as a string, so look for it in the source at
    // places where the code has `extern` followed by the blanked literal.
    let mut bad = Vec::new();
    let mut checked = 0;
    let mut from = 0;
    while let Some(pos) = src[from..].find("extern \"C\" fn") {
        let at = from + pos;
        from = at + 1;
        if code[at..at + 6] != *b"extern" {
            continue; // inside a comment or a string
        }
        let mut i = skip_ws(&code, at + "extern \"C\" fn".len());
        let name_start = i;
        while i < code.len() && (code[i].is_ascii_alphanumeric() || code[i] == b'_') {
            i += 1;
        }
        if i == name_start {
            continue; // `extern "C" fn(` : a function pointer type
        }
        let name = text[name_start..i].to_string();
        checked += 1;
        // Parameters, then the return type, then the body.
        let i = skip_ws(&code, i);
        let Some(after_params) = (code[i] == b'(').then(|| matching(&code, i)).flatten() else {
            bad.push(format!("{name} (cannot parse its parameters)"));
            continue;
        };
        let Some(open) = code[after_params..]
            .iter()
            .position(|&c| c == b'{' || c == b';')
        else {
            bad.push(format!("{name} (no body)"));
            continue;
        };
        let open = after_params + open;
        if code[open] == b';' {
            continue; // a declaration of a foreign function, not an export
        }
        let close = matching(&code, open).expect("balanced body");
        let body_start = skip_ws(&code, open + 1);
        let ok = text[body_start..].starts_with("boundary(")
            && matching(&code, body_start + "boundary".len())
                .map(|end| skip_ws(&code, end) == close - 1)
                .unwrap_or(false);
        if !ok {
            bad.push(name);
        }
    }
    (bad, checked)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src/ffi") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_export_goes_through_the_boundary() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi"),
        &mut files,
    );
    let mut bad = Vec::new();
    let mut total = 0;
    let mut no_mangle = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        let (b, n) = unwrapped(&src);
        total += n;
        no_mangle += src.matches("#[no_mangle]").count();
        bad.extend(b.into_iter().map(|name| format!("{}: {name}", f.display())));
    }
    assert!(
        bad.is_empty(),
        "exported functions not wrapped in boundary(..): {bad:#?}"
    );
    // The C API of 0.1.0 has 38 functions; every #[no_mangle] one was checked.
    assert!(
        total >= 38,
        "only {total} extern \"C\" functions found in src/ffi"
    );
    assert_eq!(
        no_mangle, total,
        "a #[no_mangle] item is not an `extern \"C\" fn` this test saw"
    );
}

#[test]
fn the_checker_catches_a_missing_wrapper() {
    let src = r#"
        /// Good: {"}"} in a doc.
        #[no_mangle]
        pub unsafe extern "C" fn good(p: *const u8) -> DorchCode {
            boundary(|| { let s = "}{)"; let c = '}'; Ok(x::<'a>(s, c)) })
        }
        #[no_mangle]
        pub extern "C" fn bare(p: *const u8) -> u32 {
            unsafe { *p as u32 }
        }
        #[no_mangle]
        pub extern "C" fn late() -> u32 {
            let x = 1;
            boundary(|| Ok(x))
        }
        #[no_mangle]
        pub extern "C" fn trailing() -> u32 {
            boundary(|| Ok(1)); 2
        }
        type F = Option<unsafe extern "C" fn(*mut u8) -> u32>;
    "#;
    let (bad, n) = unwrapped(src);
    assert_eq!(n, 4);
    assert_eq!(bad, ["bare", "late", "trailing"]);
}
