//! The registrar: registers this broker with every name server over one long-lived connection
//! each ([`NamesrvLink`]), everything every `registerNameServerPeriod` and the topic table's
//! changes at once ([`RegisterNow`], sent by [`crate::core::Core::announce`] through the hooks).
//!
//! One registration is in flight at a time, so every name server sees them in data-version order;
//! announcements that arrive meanwhile are coalesced into the next one. A waiter (a create-topic
//! answer) is released once a registration carrying its version or a later one has been answered
//! by every name server, or has failed there.
use crate::core::topics::{registration, unregistration, BrokerIdentity, TopicTable};
use crate::net::namesrv_link::NamesrvLink;
use actix::prelude::*;
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Register now: everything (`full`) or the changes since the last registration; `done` is
/// released once a registration at data version `up_to` or later has been answered.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterNow {
    pub full: bool,
    pub up_to: (i64, i64),
    pub done: Option<oneshot::Sender<()>>,
}

/// Unregister from every name server (graceful shutdown); registers nothing afterwards.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unregister;

pub struct RegistrarActor {
    topics: Arc<TopicTable>,
    identity: BrokerIdentity,
    namesrvs: Vec<String>,
    interval: Duration,
    /// `registerBrokerTimeoutMills`: how long one name server may take to answer.
    timeout: Duration,
    links: Vec<NamesrvLink>,
    /// Per link: whether its last registration succeeded (to log changes, not every period).
    registered: Vec<bool>,
    in_flight: bool,
    full_due: bool,
    changes_due: bool,
    waiters: Vec<((i64, i64), oneshot::Sender<()>)>,
    stopped: bool,
    /// A slave learns its master from the answers: (master's HA address, master's address).
    on_master: Option<OnMaster>,
    /// `compressedRegister`: send the compressed registration body.
    compressed: bool,
}

/// Told the master's HA and remoting addresses a registration answer names (a slave's).
pub type OnMaster = Arc<dyn Fn(Option<String>, Option<String>) + Send + Sync>;

impl RegistrarActor {
    pub fn new(
        topics: Arc<TopicTable>,
        identity: BrokerIdentity,
        namesrvs: Vec<String>,
        interval: Duration,
        timeout: Duration,
    ) -> Self {
        RegistrarActor {
            topics,
            identity,
            namesrvs,
            interval,
            timeout,
            links: Vec::new(),
            registered: Vec::new(),
            in_flight: false,
            full_due: false,
            changes_due: false,
            waiters: Vec::new(),
            stopped: false,
            on_master: None,
            compressed: false,
        }
    }

    /// Send registrations with the compressed body (`compressedRegister=true`).
    pub fn with_compressed(mut self, compressed: bool) -> Self {
        self.compressed = compressed;
        self
    }

    /// Call `f` with the master named in each successful registration answer (a slave).
    pub fn with_on_master(mut self, f: OnMaster) -> Self {
        self.on_master = Some(f);
        self
    }

    /// Start the next registration unless one is in flight or nothing is due.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.stopped || !(self.full_due || self.changes_due) {
            return;
        }
        let full = self.full_due;
        self.full_due = false;
        self.changes_due = false;
        let data = self.topics.take_registration(full);
        let version = (data.version.timestamp, data.version.counter);
        let cmd = registration(&self.identity, &data, self.compressed);
        let (links, timeout) = (self.links.clone(), self.timeout);
        self.in_flight = true;
        let all = join_all(links.into_iter().map(move |link| {
            let cmd = cmd.clone();
            async move { link.request(cmd, timeout).await }
        }));
        ctx.spawn(all.into_actor(self).map(move |results, act, ctx| {
            act.in_flight = false;
            act.log_outcomes(results);
            act.release(version);
            act.pump(ctx);
        }));
    }

    fn log_outcomes(&mut self, results: Vec<std::io::Result<crate::codec::RemotingCommand>>) {
        for (i, r) in results.into_iter().enumerate() {
            let addr = self.links[i].addr();
            let ok = match r {
                Ok(resp) if resp.code == crate::codec::codes::response_code::SUCCESS => {
                    if let (Some(f), Ok(h)) = (&self.on_master, resp.decode_header::<crate::codec::header::RegisterBrokerResponseHeader>()) {
                        f(h.ha_server_addr.filter(|a| !a.is_empty()), h.master_addr.filter(|a| !a.is_empty()));
                    }
                    true
                }
                Ok(resp) => {
                    tracing::warn!(namesrv = %addr, code = resp.code, remark = ?resp.remark, "the name server refused this broker's registration");
                    false
                }
                Err(e) => {
                    tracing::warn!(namesrv = %addr, error = %e, "broker registration failed");
                    false
                }
            };
            if ok && !self.registered[i] {
                tracing::info!(namesrv = %addr, "registered with name server");
            }
            self.registered[i] = ok;
        }
    }

    /// Release the waiters a registration at `version` covers.
    fn release(&mut self, version: (i64, i64)) {
        let (done, left): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|(v, _)| *v <= version);
        self.waiters = left;
        for (_, tx) in done {
            let _ = tx.send(());
        }
    }
}

impl Actor for RegistrarActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        let me = ctx.address().recipient::<RegisterNow>();
        let on_reconnect: crate::net::namesrv_link::OnReconnect = Arc::new(move |_addr: &str| {
            me.do_send(RegisterNow {
                full: true,
                up_to: (0, 0),
                done: None,
            })
        });
        self.links = self
            .namesrvs
            .iter()
            .map(|a| NamesrvLink::spawn(a, on_reconnect.clone()))
            .collect();
        self.registered = vec![false; self.links.len()];
        ctx.run_interval(self.interval, |act, ctx| {
            act.full_due = true;
            act.pump(ctx);
        });
    }
}

impl Handler<RegisterNow> for RegistrarActor {
    type Result = ();
    fn handle(&mut self, msg: RegisterNow, ctx: &mut Self::Context) {
        if msg.full {
            self.full_due = true;
        } else {
            self.changes_due = true;
        }
        if let Some(done) = msg.done {
            if self.stopped {
                let _ = done.send(());
            } else {
                self.waiters.push((msg.up_to, done));
            }
        }
        self.pump(ctx);
    }
}

impl Handler<Unregister> for RegistrarActor {
    type Result = ResponseFuture<()>;
    fn handle(&mut self, _: Unregister, _: &mut Self::Context) -> Self::Result {
        self.stopped = true;
        for (_, tx) in self.waiters.drain(..) {
            let _ = tx.send(());
        }
        let cmd = unregistration(&self.identity);
        let (links, timeout) = (self.links.clone(), self.timeout);
        Box::pin(async move {
            // Over the registration connection, behind any registration still in flight.
            let results = join_all(links.iter().map(|l| l.request(cmd.clone(), timeout))).await;
            for (link, r) in links.iter().zip(results) {
                match r {
                    Ok(resp) if resp.code == 0 => {
                        tracing::info!(namesrv = %link.addr(), "unregistered from name server")
                    }
                    Ok(resp) => {
                        tracing::warn!(namesrv = %link.addr(), code = resp.code, remark = ?resp.remark, "unregistration refused")
                    }
                    Err(e) => {
                        tracing::warn!(namesrv = %link.addr(), error = %e, "unregistration failed")
                    }
                }
            }
        })
    }
}
