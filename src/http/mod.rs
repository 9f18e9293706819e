//! The HTTP edge (actix-web, on the broker's actix runtime): `/metrics` in Prometheus text format
//! with RocketMQ 5's metric and label names, `/healthz` (the process answers) and `/readyz` (the
//! store is open and recovered, the listeners accept and the first registration with the name
//! servers was attempted). Enabled with `metricsExporterType=PROM`; see `docs/metrics.md`.
//!
//! A scrape builds a fresh registry from `core`'s counters and tables: nothing is kept between
//! scrapes and nothing on the request path waits for one.
mod render;
pub mod console;

use crate::core::Core;
use actix_web::{web, App, HttpResponse, HttpServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use render::render;

struct State {
    core: Arc<Core>,
    ready: Arc<AtomicBool>,
}

async fn metrics(s: web::Data<State>) -> HttpResponse {
    let body = render(&s.core, crate::core::now_ms());
    HttpResponse::Ok().content_type("application/openmetrics-text; version=1.0.0; charset=utf-8").body(body)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(s: web::Data<State>) -> HttpResponse {
    if s.ready.load(Ordering::Acquire) {
        HttpResponse::Ok().content_type("text/plain").body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable().content_type("text/plain").body("starting\n")
    }
}

/// Serve on an already bound listener; `ready` flips to true once the broker accepts clients.
pub fn serve(listener: std::net::TcpListener, core: Arc<Core>, ready: Arc<AtomicBool>) -> std::io::Result<actix_web::dev::Server> {
    let state = web::Data::new(State { core, ready });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
