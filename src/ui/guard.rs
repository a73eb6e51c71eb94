//! What every request passes through: basic auth, the same-origin check
//! of POSTs, and the security headers of every response.

use super::Shared;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The Content-Security-Policy of every response: the page loads its own
/// files only, with no inline script or style.
pub(super) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/// SHA-256 of `bytes`: credentials are compared as digests, in constant time.
pub(crate) fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Whether `headers` carry the expected basic credentials.
fn authorized(expected: &[u8; 32], headers: &HeaderMap) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        });
    match given {
        Some(bytes) => bool::from(digest(&bytes).ct_eq(expected)),
        None => false,
    }
}

/// Whether a POST comes from this server's own page: its `Origin` (or,
/// without one, its `Referer`) names the same host and port as `Host`.
/// A request with neither (a script, curl) is not a browser's cross-site
/// request and passes.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .map(|v| v.to_str().unwrap_or(""));
    let Some(source) = source else {
        return true;
    };
    let Some(host) = host else {
        return false;
    };
    let rest = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// The middleware: auth, origin check, then the headers on whatever answers.
pub(super) async fn guard(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = if shared
        .credentials
        .as_ref()
        .is_some_and(|c| !authorized(c, request.headers()))
    {
        let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dremioorch\", charset=\"UTF-8\""),
        );
        r
    } else if request.method() == Method::POST && !same_origin(request.headers()) {
        (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn origin_must_name_the_same_host_and_port() {
        let ok = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
        ]);
        assert!(same_origin(&ok));
        let other_port = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:9090"),
        ]);
        assert!(!same_origin(&other_port));
        let referer = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::REFERER, "http://evil.example/127.0.0.1:8080"),
        ]);
        assert!(!same_origin(&referer));
        assert!(same_origin(&headers(&[(header::HOST, "x:1")])));
    }

    #[test]
    fn credentials_are_checked() {
        let expected = digest(b"u:p");
        let good = base64::engine::general_purpose::STANDARD.encode("u:p");
        let bad = base64::engine::general_purpose::STANDARD.encode("u:q");
        let h = |v: String| headers(&[(header::AUTHORIZATION, &v)]);
        assert!(authorized(&expected, &h(format!("Basic {good}"))));
        assert!(!authorized(&expected, &h(format!("Basic {bad}"))));
        assert!(!authorized(&expected, &HeaderMap::new()));
    }
}
