//! The page's files, compiled in: a fixed table, so no request reaches the
//! file system.

/// One embedded file: its URL path, content type and bytes.
pub(super) struct Asset {
    pub(super) path: &'static str,
    pub(super) content_type: &'static str,
    pub(super) bytes: &'static [u8],
}

/// Every file the server sends.
pub(super) const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("assets/index.html"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/app.js"),
    },
    Asset {
        path: "/assets/app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("assets/app.css"),
    },
    Asset {
        path: "/assets/dagre.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("assets/dagre.min.js"),
    },
];

/// The asset at exactly `path`.
pub(super) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}
