//! The group-expiry actor: every 10 s, clients whose last heartbeat is older than
//! `channelExpiredTimeout` leave their groups, and the groups' members are notified.
use crate::core::clients::{send_notifications, ClientState};
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct GroupExpiryActor {
    pub state: Arc<ClientState>,
    pub expire: Duration,
}

impl Actor for GroupExpiryActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(10), |act, _| {
            let n = match act.state.registry.write() {
                Ok(mut r) => r.expire(Instant::now(), act.expire),
                Err(_) => return,
            };
            send_notifications(n);
        });
    }
}
