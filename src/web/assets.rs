//! The page's files, compiled into the binary from `web/`, so a server
//! serves its client on a LAN with no internet access: no CDN, no fonts,
//! no build step. The MessagePack library is vendored in `web/vendor/`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One file: its name under `/assets/`, content type and bytes.
struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:expr) => {
        Asset {
            name: $name,
            mime: $mime,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("cluster.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("chat.js", JS),
    asset!("connection.js", JS),
    asset!("commands.js", JS),
    asset!("failover.js", JS),
    asset!("outbox.js", JS),
    asset!("wire.js", JS),
    asset!("seen.js", JS),
    asset!("view.js", JS),
    asset!("cluster.js", JS),
    asset!("msgpack.min.js", JS),
    asset!("msgpack.LICENSE", "text/plain; charset=utf-8"),
];

/// What the page may load: only its own files and sockets. Everything
/// else (inline script, other sites, plugins) is refused by the browser,
/// a second line behind rendering all network text as text.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'";

fn serve(name: &str) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(asset.mime)),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        asset.body,
    )
        .into_response()
}

/// `GET /`: the chat page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /cluster`: the live cluster view.
pub async fn cluster_page() -> Response {
    serve("cluster.html")
}

/// `GET /assets/{file}`.
pub async fn file(Path(name): Path<String>) -> Response {
    serve(&name)
}
