//! The queue actor: pulls held by long polling, keyed by (topic, queue).
//!
//! A pull that finds nothing new and may wait is parked here ([`Park`]). It is answered as soon as
//! a matching message is stored in its queue ([`Core::append`] sends [`Arrived`] for queues with a
//! waiter), or when its deadline passes, whichever comes first. The per-queue waiter count in
//! [`Core::waiters`] is kept here: added before the queue is looked at, removed when answered.
//!
//! Long-polling pops ([`ParkPop`]) wait here too, keyed by topic: any arrival in the topic, a
//! revive or an ack of a FIFO message ([`WakePops`]) makes them pop again
//! ([`Core::try_answer_pop`]); they are answered empty when their time is up.
use crate::core::pop::ParkedPop;
use crate::core::pull::{read_queue, Arrived, ParkedPull};
use crate::core::{now_ms, Core};
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

// --- messages ---------------------------------------------------------------------------------

#[derive(Message)]
#[rtype(result = "()")]
pub struct Park(pub ParkedPull);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake(pub Arrived);

#[derive(Message)]
#[rtype(result = "()")]
pub struct ParkPop(pub Box<ParkedPop>);

/// Parked pops of these topics look again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WakePops(pub Vec<String>);

/// Answer every parked pull now with what its queue holds (shutdown).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Drain;

// --- state ------------------------------------------------------------------------------------

pub struct QueueActor {
    core: Arc<Core>,
    held: HashMap<(String, i32), Vec<ParkedPull>>,
    /// Parked pops by topic (boxed: they move between the mailbox, this table and `core`
    /// without being copied).
    #[allow(clippy::vec_box)]
    pops: HashMap<String, Vec<Box<ParkedPop>>>,
}

impl QueueActor {
    pub fn new(core: Arc<Core>) -> Self {
        QueueActor { core, held: HashMap::new(), pops: HashMap::new() }
    }

    fn hold(&mut self, p: ParkedPull) {
        self.held.entry(p.key()).or_default().push(p);
    }

    /// Answer a pull that leaves the table (its waiter count is released first).
    fn answer(&self, p: ParkedPull) {
        self.core.waiters.remove(&p.read.topic, p.read.queue_id);
        let outcome = read_queue(&self.core.store, &p.read, &p.filter);
        p.reply.answer(outcome);
    }

    /// A pull leaves the table: answered if its client is still there, else forgotten.
    fn release(&self, p: ParkedPull) {
        if p.reply.alive() {
            self.answer(p);
        } else {
            self.core.waiters.remove(&p.read.topic, p.read.queue_id);
        }
    }

    /// On a wake-up: answer if something matched, else keep waiting from past what was scanned
    /// (a wake-up without properties cannot apply an SQL92 filter; the read does).
    fn answer_or_repark(&mut self, mut p: ParkedPull, now: Instant) {
        let outcome = read_queue(&self.core.store, &p.read, &p.filter);
        if outcome.is_empty() && p.deadline > now {
            p.read.offset = p.read.offset.max(outcome.next_begin_offset);
            self.hold(p);
            return;
        }
        self.core.waiters.remove(&p.read.topic, p.read.queue_id);
        p.reply.answer(outcome);
    }

    /// Answer pulls whose deadline passed; drop those whose client is gone.
    fn expire(&mut self, now: Instant) {
        let mut due = Vec::new();
        for list in self.held.values_mut() {
            let mut i = 0;
            while i < list.len() {
                if list[i].deadline <= now || !list[i].reply.alive() {
                    due.push(list.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        self.held.retain(|_, v| !v.is_empty());
        for p in due {
            self.release(p);
        }
        let mut due_pops = Vec::new();
        for list in self.pops.values_mut() {
            let mut i = 0;
            while i < list.len() {
                if list[i].deadline <= now || !list[i].reply.alive() {
                    due_pops.push(list.swap_remove(i));
                } else {
                    i += 1;
                }
            }
        }
        self.pops.retain(|_, v| !v.is_empty());
        let ms = now_ms();
        for p in due_pops {
            if p.reply.alive() {
                let _ = self.core.try_answer_pop(p, ms, true);
            } else {
                self.core.unpark_pop(&p.req);
            }
        }
    }

    /// Parked pops of `topic` pop again; those that found nothing keep waiting.
    fn retry_pops(&mut self, topic: &str) {
        let Some(list) = self.pops.remove(topic) else { return };
        let ms = now_ms();
        let mut keep = Vec::new();
        for p in list {
            if let Err(p) = self.core.try_answer_pop(p, ms, false) {
                keep.push(p);
            }
        }
        if !keep.is_empty() {
            self.pops.entry(topic.to_string()).or_default().extend(keep);
        }
    }
}

// --- handlers ---------------------------------------------------------------------------------

impl Actor for QueueActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(200), |act, _| act.expire(Instant::now()));
    }
}

impl Handler<Park> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: Park, _: &mut Self::Context) {
        let p = msg.0;
        // Count it as waiting before looking at the queue: an append that stores after this sees
        // the count and wakes us; one that stored before is seen by the check.
        self.core.waiters.add(&p.read.topic, p.read.queue_id);
        if self.core.store.max_offset(&p.read.topic, p.read.queue_id) > p.read.offset {
            self.answer(p);
            return;
        }
        self.hold(p);
    }
}

impl Handler<ParkPop> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: ParkPop, _: &mut Self::Context) {
        let p = msg.0;
        // A message may have arrived between the pop and the parking: look once more.
        if let Err(p) = self.core.try_answer_pop(p, now_ms(), false) {
            self.pops.entry(p.req.topic.clone()).or_default().push(p);
        }
    }
}

impl Handler<WakePops> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: WakePops, _: &mut Self::Context) {
        for t in msg.0 {
            self.retry_pops(&t);
        }
    }
}

impl Handler<Wake> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: Wake, _: &mut Self::Context) {
        let a = msg.0;
        if self.pops.contains_key(&a.topic) {
            self.retry_pops(&a.topic);
        }
        let key = (a.topic, a.queue_id);
        let Some(list) = self.held.get_mut(&key) else { return };
        let max = self.core.store.max_offset(&key.0, key.1);
        let mut ready = Vec::new();
        let mut i = 0;
        while i < list.len() {
            let p = &list[i];
            if max > p.read.offset && p.filter.matches(a.tags_code, a.properties.as_deref()) {
                ready.push(list.swap_remove(i));
            } else {
                i += 1;
            }
        }
        if list.is_empty() {
            self.held.remove(&key);
        }
        let now = Instant::now();
        for p in ready {
            self.answer_or_repark(p, now);
        }
    }
}

impl Handler<Drain> for QueueActor {
    type Result = usize;
    fn handle(&mut self, _: Drain, _: &mut Self::Context) -> usize {
        let all: Vec<ParkedPull> = self.held.drain().flat_map(|(_, v)| v).collect();
        let pops: Vec<Box<ParkedPop>> = self.pops.drain().flat_map(|(_, v)| v).collect();
        let n = all.len() + pops.len();
        for p in all {
            self.release(p);
        }
        let ms = now_ms();
        for p in pops {
            let _ = self.core.try_answer_pop(p, ms, true);
        }
        n
    }
}
