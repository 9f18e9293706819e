//! The queue actor: pulls held by long polling, keyed by (topic, queue).
//!
//! A pull that finds nothing new and carries the SUSPEND flag is parked here. It is answered as soon
//! as a matching message is stored in its queue (the send path tells this actor with a
//! fire-and-forget [`Arrived`]), or when its suspend timeout is up, whichever comes first.
use super::dispatch::pull::{read_queue, Filter};
use super::ConnHandle;
use crate::codec::header::PullMessageRequestHeader;
use crate::codec::RemotingCommand;
use crate::store::MessageStore;
use actix::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A parked pull request.
pub struct HeldPull {
    pub conn: ConnHandle,
    pub request: RemotingCommand,
    pub header: PullMessageRequestHeader,
    pub filter: Filter,
    pub deadline: Instant,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct Hold(pub HeldPull);

/// A message was stored in `topic`/`queue_id` with this tags code.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Arrived {
    pub topic: String,
    pub queue_id: i32,
    pub tags_code: i64,
    pub properties: Option<Arc<str>>,
}

pub struct QueueActor {
    store: Arc<MessageStore>,
    held: HashMap<(String, i32), Vec<HeldPull>>,
    /// Number of parked pulls, read by the send path so that it only sends [`Arrived`] when
    /// someone waits (one cross-thread wake-up per message otherwise costs ~30% of send CPU).
    waiting: Arc<AtomicUsize>,
}

impl QueueActor {
    pub fn new(store: Arc<MessageStore>) -> Self {
        QueueActor { store, held: HashMap::new(), waiting: Arc::new(AtomicUsize::new(0)) }
    }

    /// The shared count of parked pulls (see [`QueueActor::waiting`]).
    pub fn waiting(&self) -> Arc<AtomicUsize> {
        self.waiting.clone()
    }

    fn set_waiting(&self) {
        self.waiting.store(self.held_count(), Ordering::SeqCst);
    }

    fn answer(&self, p: HeldPull) {
        let resp = read_queue(&self.store, &p.request, &p.header, &p.filter);
        p.conn.send(resp);
    }

    /// On a wake-up: answer if something matched, else keep waiting from past what was scanned
    /// (a wake-up without properties cannot apply an SQL92 filter; the read does).
    fn answer_or_repark(&mut self, mut p: HeldPull) {
        let resp = read_queue(&self.store, &p.request, &p.header, &p.filter);
        let nothing = resp.code == crate::codec::codes::response_code::PULL_RETRY_IMMEDIATELY
            || resp.code == crate::codec::codes::response_code::PULL_NOT_FOUND;
        if nothing && p.deadline > Instant::now() {
            if let Some(next) = resp.ext("nextBeginOffset").and_then(|v| v.parse::<i64>().ok()) {
                p.header.queue_offset = p.header.queue_offset.max(next);
                p.request.set_ext("queueOffset", p.header.queue_offset);
            }
            let key = (p.header.topic.clone(), p.header.queue_id);
            self.held.entry(key).or_default().push(p);
            return;
        }
        p.conn.send(resp);
    }

    /// Number of parked pulls (metrics).
    pub fn held_count(&self) -> usize {
        self.held.values().map(|v| v.len()).sum()
    }
}

impl Actor for QueueActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(Duration::from_millis(200), |act, _| {
            let now = Instant::now();
            let mut due = Vec::new();
            for list in act.held.values_mut() {
                let mut i = 0;
                while i < list.len() {
                    if list[i].deadline <= now || !list[i].conn.out.connected() {
                        due.push(list.swap_remove(i));
                    } else {
                        i += 1;
                    }
                }
            }
            act.held.retain(|_, v| !v.is_empty());
            act.set_waiting();
            for p in due {
                if p.conn.out.connected() {
                    act.answer(p);
                }
            }
        });
    }
}

impl Handler<Hold> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: Hold, _: &mut Self::Context) {
        let p = msg.0;
        let key = (p.header.topic.clone(), p.header.queue_id);
        // Count it as waiting before looking at the queue: a send that stores after this check
        // sees the count and wakes us; one that stored before is seen by the check.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if self.store.max_offset(&key.0, key.1) > p.header.queue_offset {
            self.answer(p);
            self.set_waiting();
            return;
        }
        self.held.entry(key).or_default().push(p);
        self.set_waiting();
    }
}

impl Handler<Arrived> for QueueActor {
    type Result = ();
    fn handle(&mut self, msg: Arrived, _: &mut Self::Context) {
        let key = (msg.topic, msg.queue_id);
        let Some(list) = self.held.get_mut(&key) else { return };
        let max = self.store.max_offset(&key.0, key.1);
        let mut ready = Vec::new();
        let mut i = 0;
        while i < list.len() {
            let p = &list[i];
            if max > p.header.queue_offset
                && p.filter.matches(msg.tags_code, msg.properties.as_deref())
            {
                ready.push(list.swap_remove(i));
            } else {
                i += 1;
            }
        }
        if list.is_empty() {
            self.held.remove(&key);
        }
        for p in ready {
            self.answer_or_repark(p);
        }
        self.set_waiting();
    }
}
