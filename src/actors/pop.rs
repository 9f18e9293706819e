//! The POP revive actor: every 100 ms, [`Core::pop_revive`] brings back what was not acked in
//! time, and the parked pops of the topics concerned look again.
use crate::core::{now_ms, Core};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub struct PopReviveActor {
    pub core: Arc<Core>,
}

impl Actor for PopReviveActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(100), |act, _| {
            let core = &act.core;
            let woken = core.pop_revive(now_ms(), &|g| core.groups.get(g).map(|g| g.retry_max_times).unwrap_or(16));
            core.wake_pops(woken);
        });
    }
}
