//! The web console (`consolePort`, default 8080 on loopback; `docs/console.md`): server-rendered
//! HTML, no script. Reads go to `core` directly; the two changes (reset a group's offsets by
//! time, send a test message) are POST forms, refused when `consoleReadOnly=true` and when the
//! request comes from another site (Origin / Sec-Fetch-Site), and logged with the caller.
mod chart;
mod pages;

use crate::core::lookup::TestMessage;
use crate::core::{now_ms, Core};
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use maud::Markup;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct State {
    core: Arc<Core>,
}

fn html(status: actix_web::http::StatusCode, m: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(m.into_string())
}

fn ok(m: Markup) -> HttpResponse {
    html(actix_web::http::StatusCode::OK, m)
}

/// Read-only by `consoleReadOnly`, and always under ACL: the console has no login of its own, so
/// with `aclEnable=true` changes go through signed admin requests only.
fn read_only(s: &State) -> bool {
    let cfg = s.core.config();
    cfg.console_read_only || cfg.acl_enable
}

/// A change is refused when the console is read-only or the form was posted from another site.
fn refuse_change(s: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let forbidden = |msg: &str| Some(html(actix_web::http::StatusCode::FORBIDDEN, pages::error_page(&s.core, "Refused", msg)));
    if read_only(s) {
        return forbidden("The console is read-only (consoleReadOnly=true, or aclEnable=true).");
    }
    let h = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if h("sec-fetch-site").is_some_and(|v| v == "cross-site") {
        return forbidden("Cross-site form posts are refused.");
    }
    if let (Some(origin), Some(host)) = (h("origin"), h("host")) {
        let origin_host = origin.split("://").nth(1).unwrap_or(origin);
        if origin != "null" && origin_host != host {
            return forbidden("Form posts from another origin are refused.");
        }
    }
    None
}

#[derive(Deserialize, Default)]
struct ListQuery {
    q: Option<String>,
    system: Option<String>,
}

#[derive(Deserialize)]
struct NameQuery {
    name: String,
}

/// The message lookup's query (by key, by id, by queue offset).
#[derive(Deserialize, Default)]
pub struct LookupQuery {
    pub topic: Option<String>,
    pub key: Option<String>,
    pub id: Option<String>,
    pub queue: Option<i32>,
    pub offset: Option<i64>,
    pub hex: Option<String>,
}

#[derive(Deserialize)]
struct ResetForm {
    group: String,
    topic: String,
    time: String,
    force: Option<String>,
    confirm: Option<String>,
}

#[derive(Deserialize)]
struct SendForm {
    topic: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    keys: String,
    body: String,
}

#[derive(Deserialize)]
struct TraceQuery {
    id: Option<String>,
}

async fn overview(s: web::Data<State>) -> HttpResponse {
    ok(pages::overview(&s.core, now_ms()))
}

/// The cluster as the name servers see it: asked of the first one that answers.
async fn cluster(s: web::Data<State>) -> HttpResponse {
    use crate::codec::body::ClusterInfo;
    use crate::codec::codes::RequestCode;
    let addrs = s.core.config().namesrv_addrs();
    let mut last_err = "no name server configured (namesrvAddr)".to_string();
    for a in &addrs {
        let ask = async {
            let addr: SocketAddr = tokio::net::lookup_host(a.as_str()).await?.next().ok_or_else(|| std::io::Error::other("no address"))?;
            let c = crate::client::RawClient::connect(addr).await?;
            let r = c.request(crate::codec::RemotingCommand::request(RequestCode::GetBrokerClusterInfo.as_i32(), 0), Duration::from_secs(3)).await.map_err(|e| std::io::Error::other(e.to_string()))?;
            ClusterInfo::from_json(&r.body).map_err(|e| std::io::Error::other(e.to_string()))
        };
        match tokio::time::timeout(Duration::from_secs(5), ask).await {
            Ok(Ok(info)) => return ok(pages::cluster(&s.core, a, Ok(&info))),
            Ok(Err(e)) => last_err = format!("{a}: {e}"),
            Err(_) => last_err = format!("{a}: no answer within 5 s"),
        }
    }
    ok(pages::cluster(&s.core, "", Err(&last_err)))
}

async fn topics(s: web::Data<State>, q: web::Query<ListQuery>) -> HttpResponse {
    ok(pages::topics(&s.core, q.q.as_deref().unwrap_or(""), q.system.is_some()))
}

async fn topic(s: web::Data<State>, q: web::Query<NameQuery>) -> HttpResponse {
    ok(pages::topic(&s.core, &q.name, now_ms()))
}

async fn groups(s: web::Data<State>, q: web::Query<ListQuery>) -> HttpResponse {
    ok(pages::groups(&s.core, q.q.as_deref().unwrap_or(""), now_ms()))
}

async fn group(s: web::Data<State>, q: web::Query<NameQuery>) -> HttpResponse {
    ok(pages::group(&s.core, &q.name, now_ms(), read_only(&s)))
}

async fn messages(s: web::Data<State>, q: web::Query<LookupQuery>) -> HttpResponse {
    let core = &s.core;
    let topic = q.topic.as_deref().map(str::trim).unwrap_or("");
    let found = match (q.id.as_deref().map(str::trim).filter(|v| !v.is_empty()), q.key.as_deref().filter(|v| !v.is_empty()), q.queue, q.offset) {
        (Some(id), ..) => Some(Ok(core.message_by_id(topic, id))),
        (None, Some(_), ..) if topic.is_empty() => Some(Err("A key lookup needs a topic.".to_string())),
        (None, Some(key), ..) => Some(Ok(core.messages_by_key(topic, key.trim()))),
        (None, None, Some(queue), Some(offset)) if !topic.is_empty() => Some(Ok(core.message_at(topic, queue, offset).into_iter().collect())),
        _ => None,
    };
    ok(pages::messages(core, &q, found))
}

async fn trace(s: web::Data<State>, q: web::Query<TraceQuery>) -> HttpResponse {
    let id = q.id.as_deref().map(str::trim).unwrap_or("");
    let records = if id.is_empty() { Vec::new() } else { s.core.traces_of(id) };
    ok(pages::trace(&s.core, id, &records))
}

/// The reset target: `-1` (the end), ms since the epoch, an RFC 3339 time (UTC when no zone is
/// given), or a duration meaning that long ago (`15m`, `2h`).
fn reset_time(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if t == "-1" {
        return Ok(-1);
    }
    if let Ok(ms) = t.parse::<i64>() {
        return if ms >= 0 { Ok(ms) } else { Err(format!("{t} is not a time")) };
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(t) {
        return at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).map_err(|_| format!("{t} is before 1970"));
    }
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok((now - d.as_millis() as i64).max(0));
    }
    Err(format!("Cannot read “{t}” as a time: use 2026-12-06T10:00:00Z, milliseconds since 1970, a duration ago such as 15m, or -1 for the end."))
}

async fn reset(s: web::Data<State>, req: HttpRequest, f: web::Form<ResetForm>) -> HttpResponse {
    if let Some(r) = refuse_change(&s, &req) {
        return r;
    }
    let core = &s.core;
    let now = now_ms();
    let ts = match reset_time(&f.time, now) {
        Ok(ts) => ts,
        Err(e) => return html(actix_web::http::StatusCode::BAD_REQUEST, pages::error_page(core, "Reset offsets", &e)),
    };
    let force = f.force.is_some();
    if f.confirm.as_deref() != Some("yes") {
        return ok(pages::confirm_reset(core, &f.group, &f.topic, &f.time, ts, force));
    }
    match core.reset_offsets(&f.group, &f.topic, ts, force, false) {
        Ok(done) => {
            let offsets: Vec<(i32, i64)> = done.offsets.iter().map(|(m, o)| (m.queue_id, *o)).collect();
            tracing::info!(caller = ?req.peer_addr(), via = "console", topic = %f.topic, group = %f.group, timestamp = ts, force, offsets = ?offsets, "consumer offsets reset");
            ok(pages::reset_done(core, &f.group, &f.topic, &offsets, done.online_members))
        }
        Err(e) => html(actix_web::http::StatusCode::BAD_REQUEST, pages::error_page(core, "Reset offsets", &e)),
    }
}

async fn send_page(s: web::Data<State>) -> HttpResponse {
    ok(pages::send_form(&s.core, read_only(&s), None))
}

async fn send(s: web::Data<State>, req: HttpRequest, f: web::Form<SendForm>) -> HttpResponse {
    if let Some(r) = refuse_change(&s, &req) {
        return r;
    }
    let core = &s.core;
    let peer = req.peer_addr().unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let m = TestMessage { topic: f.topic.clone(), tags: f.tags.clone(), keys: f.keys.clone(), body: f.body.clone() };
    let outcome = match core.test_message(&m, peer, since_epoch) {
        Err(e) => Err(e),
        Ok(msg) => {
            let (id, queue) = (msg.uniq_key.clone().unwrap_or_default(), msg.queue_id);
            match core.append(vec![msg]) {
                Err(e) => Err(format!("Not stored: {e}")),
                Ok(out) => {
                    let flushed = match out.flush {
                        Some(w) => w.wait().await.map_err(|e| format!("Stored but not flushed: {e}")),
                        None => Ok(()),
                    };
                    flushed.and_then(|_| out.results.first().map(|r| (id, r.msg_id(), queue, r.queue_offset)).ok_or_else(|| "Not stored".to_string()))
                }
            }
        }
    };
    if let Ok((id, _, q, off)) = &outcome {
        tracing::info!(caller = %peer, via = "console", topic = %f.topic, msg_id = %id, queue = q, offset = off, "test message sent");
    }
    let status = if outcome.is_ok() { actix_web::http::StatusCode::OK } else { actix_web::http::StatusCode::BAD_REQUEST };
    html(status, pages::send_form(core, read_only(&s), Some(outcome)))
}

async fn not_found(s: web::Data<State>) -> HttpResponse {
    html(actix_web::http::StatusCode::NOT_FOUND, pages::error_page(&s.core, "Not found", "No such page."))
}

/// Serve the console on an already bound listener.
pub fn serve(listener: std::net::TcpListener, core: Arc<Core>) -> std::io::Result<actix_web::dev::Server> {
    let state = web::Data::new(State { core });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::FormConfig::default().limit(1 << 20))
            .route("/", web::get().to(overview))
            .route("/cluster", web::get().to(cluster))
            .route("/topics", web::get().to(topics))
            .route("/topic", web::get().to(topic))
            .route("/groups", web::get().to(groups))
            .route("/group", web::get().to(group))
            .route("/group/reset", web::post().to(reset))
            .route("/messages", web::get().to(messages))
            .route("/trace", web::get().to(trace))
            .route("/send", web::get().to(send_page))
            .route("/send", web::post().to(send))
            .default_service(web::to(not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::reset_time;

    #[test]
    fn reset_times() {
        let now = 1_800_000_000_000;
        assert_eq!(reset_time("-1", now), Ok(-1));
        assert_eq!(reset_time("1700000000000", now), Ok(1_700_000_000_000));
        assert_eq!(reset_time("2023-11-14T22:13:20Z", now), Ok(1_700_000_000_000));
        assert_eq!(reset_time("15m", now), Ok(now - 900_000));
        assert!(reset_time("yesterday-ish", now).is_err());
        assert!(reset_time("-5", now).is_err());
    }
}
