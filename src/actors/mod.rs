//! The actors: thin shells over [`crate::core`] that own timers, parked requests and expiry. None
//! holds request logic; requests are served by [`crate::handlers`] on the connection's thread.
//!
//! | actor | file | does |
//! |---|---|---|
//! | queue | `queue.rs` | holds long-polling pulls and pops; answers them when a message arrives or time is up |
//! | POP revive | `pop.rs` | brings back POP messages not acked in time (every 100 ms) |
//! | scheduler | `scheduler.rs` | delivers delayed and timer messages when due (every 20 ms) |
//! | transaction checker | `transaction.rs` | finishes interrupted commits; check-back rounds |
//! | group expiry | `group_expiry.rs` | drops clients whose heartbeats stopped; notifies their groups |
//! | registrar | `registrar.rs` | registers the broker with the name servers over one connection each; releases answers that wait for a registration |
//! | slave sync | `slave_sync.rs` | a slave: copies its master's topics, groups, consumer offsets and delay cursors (every 10 s) |
//! | name server | `namesrv.rs` | drops brokers whose registrations stopped |
//! | history sampler | `sampler.rs` | samples throughput and lag for the console's charts (every 10 s, own thread) |
//!
//! [`ActorHooks`] is how `core` reaches them: it implements [`Hooks`] with `Recipient`s, so `core`
//! never names an actor type.
pub mod group_expiry;
pub mod namesrv;
pub mod pop;
pub mod queue;
pub mod registrar;
pub mod sampler;
pub mod scheduler;
pub mod slave_sync;
pub mod transaction;

use crate::codec::body::DataVersion;
use crate::core::pop::ParkedPop;
use crate::core::pull::{Arrived, ParkedPull};
use crate::core::{Announced, Hooks};
use actix::prelude::*;
use std::time::Duration;

/// The actors' side of [`Hooks`].
pub struct ActorHooks {
    pub park: Recipient<queue::Park>,
    pub wake: Recipient<queue::Wake>,
    pub register: Recipient<registrar::RegisterNow>,
    /// The longest an announcement is waited for (`registerBrokerTimeoutMills`).
    pub register_timeout: Duration,
    pub park_pop: Recipient<queue::ParkPop>,
    pub wake_pops: Recipient<queue::WakePops>,
}

impl Hooks for ActorHooks {
    fn park(&self, pull: ParkedPull) {
        self.park.do_send(queue::Park(pull));
    }
    fn arrived(&self, a: Arrived) {
        self.wake.do_send(queue::Wake(a));
    }
    fn announce(&self, up_to: DataVersion) -> Announced {
        let (done, registered) = tokio::sync::oneshot::channel();
        let up_to = (up_to.timestamp, up_to.counter);
        self.register.do_send(registrar::RegisterNow { full: false, up_to, done: Some(done) });
        let limit = self.register_timeout;
        Box::pin(async move {
            if tokio::time::timeout(limit, registered).await.is_err() {
                tracing::warn!("topic change not yet acknowledged by every name server after {limit:?}; answering anyway");
            }
        })
    }
    fn park_pop(&self, pop: Box<ParkedPop>) {
        self.park_pop.do_send(queue::ParkPop(pop));
    }
    fn wake_pops(&self, topics: Vec<String>) {
        self.wake_pops.do_send(queue::WakePops(topics));
    }
}
