//! The registrar actor: registers this broker's topics with every name server, all of them every
//! `registerBrokerInterval`, and a changed topic at once ([`RegisterNow`], sent by
//! [`crate::core::Core::announce`] through the hooks).
use crate::codec::codes::response_code;
use crate::core::topics::{registration, BrokerIdentity, TopicTable};
use crate::net::call;
use crate::store::TopicConfig;
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Register now: `Some(topics)` for an incremental registration, `None` for everything.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterNow(pub Option<Vec<TopicConfig>>);

pub struct RegistrarActor {
    pub topics: Arc<TopicTable>,
    pub identity: BrokerIdentity,
    pub namesrvs: Vec<String>,
    pub interval: Duration,
}

impl RegistrarActor {
    fn spawn_register(&self, topics: Option<Vec<TopicConfig>>) {
        let cmd = registration(&self.topics, &self.identity, topics);
        for addr in self.namesrvs.clone() {
            let cmd = cmd.clone();
            actix_rt::spawn(async move {
                match call(&addr, cmd, Duration::from_secs(6)).await {
                    Ok(resp) if resp.code == response_code::SUCCESS => {}
                    Ok(resp) => tracing::warn!(namesrv = %addr, code = resp.code, remark = ?resp.remark, "broker registration refused"),
                    Err(e) => tracing::warn!(namesrv = %addr, error = %e, "broker registration failed"),
                }
            });
        }
    }
}

impl Actor for RegistrarActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.interval, |act, _| act.spawn_register(None));
    }
}

impl Handler<RegisterNow> for RegistrarActor {
    type Result = ();
    fn handle(&mut self, msg: RegisterNow, _: &mut Self::Context) {
        self.spawn_register(msg.0);
    }
}
