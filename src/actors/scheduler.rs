//! The scheduler actor: runs [`Scheduler::tick`] every 20 ms (the delivery error floor): the delay
//! levels, then the timer wheel (bounded work per tick, see `core::timer`). A tick's timer work is
//! bounded by [`TIMER_BUDGET`]: while a backlog drains, ticks follow each other, and the other
//! actors of this thread (the parked pulls' wake-ups among them) get a turn between two.
use crate::core::schedule::Scheduler;
use crate::core::{now_ms, Core};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

/// Wall time a tick may spend on the timer wheel.
pub const TIMER_BUDGET: Duration = Duration::from_millis(50);

pub struct SchedulerActor {
    core: Arc<Core>,
    scheduler: Scheduler,
}

impl SchedulerActor {
    pub fn new(core: Arc<Core>, levels: Vec<Duration>) -> Self {
        let scheduler = Scheduler::new(&core, levels);
        SchedulerActor { core, scheduler }
    }
}

impl Actor for SchedulerActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(20), |act, _| {
            act.scheduler.tick(&act.core, now_ms(), TIMER_BUDGET);
        });
    }
}
