//! The name server's expiry timer: brokers silent for `brokerExpire` are dropped from the routes.
use crate::core::namesrv::NamesrvContext;
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct NamesrvActor {
    pub ctx: Arc<NamesrvContext>,
}

impl Actor for NamesrvActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_secs(10), |act, _| {
            if let Ok(mut r) = act.ctx.routes.lock() {
                r.expire(Instant::now(), act.ctx.broker_expire);
            }
        });
    }
}
