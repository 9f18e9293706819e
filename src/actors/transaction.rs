//! The transaction-checker actor: finishes interrupted commits at start, then runs a check-back
//! round every `transactionCheckInterval`. The interval is read from the live config on every
//! 100 ms tick, so an UPDATE_BROKER_CONFIG of it takes effect within a tick, not a round later.
use crate::core::{now_ms, transaction, Core};
use actix::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);

pub struct TransactionActor {
    core: Arc<Core>,
    last_round: Instant,
}

impl TransactionActor {
    pub fn new(core: Arc<Core>) -> Self {
        TransactionActor { core, last_round: Instant::now() }
    }

    fn tick(&mut self) {
        let interval = self.core.config().transaction_check_interval.max(TICK);
        if self.last_round.elapsed() >= interval {
            self.last_round = Instant::now();
            transaction::check_round(&self.core, now_ms());
        }
    }
}

impl Actor for TransactionActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        transaction::recover(&self.core);
        ctx.run_interval(TICK, |act, _| act.tick());
    }
}
