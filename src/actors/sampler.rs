//! The console's history sampler: every `core::history::SAMPLE_EVERY_MS`, one sample of
//! throughput per topic and lag per online group ([`Core::sample_history`]).
use crate::core::history::SAMPLE_EVERY_MS;
use crate::core::{now_ms, Core};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub struct HistorySampler {
    pub core: Arc<Core>,
}

impl Actor for HistorySampler {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        self.core.sample_history(now_ms());
        ctx.run_interval(Duration::from_millis(SAMPLE_EVERY_MS as u64), |act, _| act.core.sample_history(now_ms()));
    }
}
