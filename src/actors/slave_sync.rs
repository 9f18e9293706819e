//! The slave-sync actor (a slave only): every period, fetch the master's topics (21), consumer
//! offsets (43), delay cursors (45) and subscription groups (201) over one remoting connection to
//! the master the name server named, and apply them (`core/slave_sync.rs`).
use crate::codec::codes::RequestCode;
use crate::codec::RemotingCommand;
use crate::core::Core;
use crate::net::namesrv_link::{NamesrvLink, Peer};
use actix::prelude::*;
use std::sync::Arc;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

pub struct SlaveSyncActor {
    core: Arc<Core>,
    period: Duration,
    link: Option<NamesrvLink>,
    opaque: i32,
    busy: bool,
}

/// Start the actor on the current System.
pub fn start(core: Arc<Core>, period: Duration) -> Addr<SlaveSyncActor> {
    SlaveSyncActor { core, period, link: None, opaque: 0, busy: false }.start()
}

impl Actor for SlaveSyncActor {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.period, |act, ctx| act.tick(ctx));
    }
}

impl SlaveSyncActor {
    fn tick(&mut self, ctx: &mut Context<Self>) {
        let Some(master) = self.core.replication.master().remoting else { return };
        if self.busy {
            return;
        }
        if self.link.as_ref().is_none_or(|l| l.addr() != master) {
            self.link = Some(NamesrvLink::spawn_to(&master, Peer::Master, Arc::new(|_: &str| {})));
        }
        let Some(link) = self.link.clone() else { return };
        let codes = [
            RequestCode::GetAllTopicConfig,
            RequestCode::GetAllConsumerOffset,
            RequestCode::GetAllDelayOffset,
            RequestCode::GetAllSubscriptiongroupConfig,
        ];
        let reqs: Vec<(RequestCode, RemotingCommand)> = codes
            .into_iter()
            .map(|c| {
                self.opaque = self.opaque.wrapping_add(1);
                (c, RemotingCommand::request(c.as_i32(), self.opaque))
            })
            .collect();
        self.busy = true;
        let core = self.core.clone();
        let work = async move {
            for (code, req) in reqs {
                let body = match link.request(req, TIMEOUT).await {
                    Ok(r) if r.code == 0 => r.body,
                    Ok(r) => {
                        tracing::debug!(?code, code_answered = r.code, remark = ?r.remark, "master refused a metadata sync request");
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(?code, error = %e, "metadata sync with the master failed");
                        return;
                    }
                };
                let applied = match code {
                    RequestCode::GetAllTopicConfig => core.sync_topics(&body),
                    RequestCode::GetAllConsumerOffset => core.sync_consumer_offsets(&body),
                    RequestCode::GetAllDelayOffset => core.sync_delay_offsets(&body),
                    _ => core.sync_groups(&body),
                };
                if let Err(e) = applied {
                    tracing::warn!(?code, error = %e, "cannot apply the master's metadata");
                }
            }
        };
        ctx.spawn(work.into_actor(self).map(|_, act, _| act.busy = false));
    }
}
