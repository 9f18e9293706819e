//! The transaction-checker actor: finishes interrupted commits at start, then runs a check-back
//! round every `transactionCheckInterval`, re-read from the live config before each round (so a
//! runtime update takes effect at the next round).
use crate::core::{now_ms, transaction, Core};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

pub struct TransactionActor {
    pub core: Arc<Core>,
}

impl TransactionActor {
    fn schedule(&self, ctx: &mut Context<Self>) {
        let interval = self.core.config().transaction_check_interval.max(Duration::from_millis(100));
        ctx.run_later(interval, |act, ctx| {
            transaction::check_round(&act.core, now_ms());
            act.schedule(ctx);
        });
    }
}

impl Actor for TransactionActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        transaction::recover(&self.core);
        self.schedule(ctx);
    }
}
