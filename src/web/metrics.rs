//! `/metrics` in the OpenMetrics text format that Prometheus scrapes
//! (the `prometheus-client` crate), and `/healthz` for load balancers and
//! scripts. Both read what `chatty status` reports, so the three agree.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Web;

/// Status counters that are levels, not running totals.
const GAUGES: &[&str] = &["connections_open"];

/// `GET /metrics`.
pub async fn metrics(State(web): State<Web>) -> Response {
    match render(&web) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// The metrics as text: every status counter as `chatty_<name>` (a
/// counter, `_total`, unless it is a level), members, rooms, and the
/// servers this one knows by state.
pub fn render(web: &Web) -> Result<String, std::fmt::Error> {
    let status = web.sessions.status();
    let mut registry = Registry::with_prefix("chatty");
    for (name, &value) in &status.counters {
        if GAUGES.contains(&name.as_str()) {
            let gauge: Gauge = Gauge::default();
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            registry.register(name.as_str(), help(name), gauge);
        } else {
            let counter: Counter = Counter::default();
            counter.inc_by(value);
            registry.register(name.as_str(), help(name), counter);
        }
    }
    let members: Gauge = Gauge::default();
    members.set(status.members.len() as i64);
    registry.register("members", "Members in the chat, on every server", members);
    let rooms: Gauge = Gauge::default();
    rooms.set(status.rooms.len() as i64);
    registry.register("rooms", "Rooms with a member anywhere", rooms);
    let servers = Family::<Vec<(String, String)>, Gauge>::default();
    for server in &status.servers {
        servers
            .get_or_create(&vec![("state".into(), server.state.clone())])
            .inc();
    }
    registry.register(
        "cluster_servers",
        "Servers this one knows, itself included, by state",
        servers,
    );
    let mut out = String::new();
    encode(&mut out, &registry)?;
    Ok(out)
}

fn help(name: &str) -> String {
    format!("The status counter {name} (PROTOCOL.md 7.4)")
}

/// `GET /healthz`: 200 `ok` while serving, 503 once shutting down.
pub async fn healthz(State(web): State<Web>) -> Response {
    if web.sessions.is_stopping() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}
