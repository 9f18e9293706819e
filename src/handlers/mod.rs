//! Request handlers: one small file per request family, all of one shape,
//! [`HandlerFn`] = `fn(&Core, &Conn, &RemotingCommand) -> Result<Reply, HandlerError>`: decode the
//! header (`?` turns a bad one into SYSTEM_ERROR), validate, call [`crate::core`], encode the
//! answer. A refusal is a [`HandlerError`] carrying its response code and remark. Handlers run on
//! the connection's own thread; [`broker_handler`] is the one `match` from request code to handler.
pub mod acl;
pub mod admin;
pub mod clients;
pub mod namesrv;
pub mod offsets;
pub mod pop;
pub mod pull;
pub mod recall;
pub mod reply;
pub mod retry;
pub mod send;
pub mod transaction;

use crate::codec::codes::{response_code, RequestCode};
use crate::codec::header::SendAnswer;
use crate::codec::{CodecError, RemotingCommand};
use crate::core::namesrv::NamesrvContext;
use crate::core::{ConnHandle, Core};
use crate::store::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What the connection should do after a request.
pub enum Reply {
    /// Answer now.
    Now(RemotingCommand),
    /// A send's answer, now (written without building its command: the send path's answer).
    Sent(SendAnswer),
    /// Nothing to write now (oneway, or a pull parked with the queue actor that answers later).
    Nothing,
    /// Answer when the future completes (a relay to a client).
    Later(Pin<Box<dyn Future<Output = Option<RemotingCommand>>>>),
    /// A send's answer when the future completes (SYNC_FLUSH's group commit, SYNC_MASTER's
    /// slave): written as [`Reply::Sent`] is, without building its command.
    SentLater(Pin<Box<dyn Future<Output = LateAnswer>>>),
}

/// An answer after a wait.
pub enum LateAnswer {
    /// A send's, written as [`Reply::Sent`] is.
    Send(SendAnswer),
    /// An answer with a remark (a flush that timed out), which a [`SendAnswer`] does not carry.
    Command(RemotingCommand),
}

impl LateAnswer {
    pub fn code(&self) -> i32 {
        match self {
            LateAnswer::Send(a) => a.code,
            LateAnswer::Command(c) => c.code,
        }
    }

    pub fn into_command(self) -> RemotingCommand {
        match self {
            LateAnswer::Send(a) => a.into_command(),
            LateAnswer::Command(c) => c,
        }
    }
}

impl From<RemotingCommand> for Reply {
    fn from(r: RemotingCommand) -> Reply {
        Reply::Now(r)
    }
}

/// A refused request: the response code and remark the client gets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused with code {code}: {remark}")]
pub struct HandlerError {
    pub code: i32,
    pub remark: String,
}

impl HandlerError {
    pub fn new(code: i32, remark: impl Into<String>) -> Self {
        HandlerError { code, remark: remark.into() }
    }

    pub fn system(remark: impl Into<String>) -> Self {
        HandlerError::new(response_code::SYSTEM_ERROR, remark)
    }

    /// The response to `req` that carries this error.
    pub fn response(&self, req: &RemotingCommand) -> RemotingCommand {
        answer(req, self.code, self.remark.clone())
    }
}

impl From<CodecError> for HandlerError {
    fn from(e: CodecError) -> Self {
        HandlerError::system(format!("bad request: {e}"))
    }
}

/// A store failure as the Java producer expects it.
impl From<StoreError> for HandlerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DiskFull(_) => HandlerError::new(response_code::SERVICE_NOT_AVAILABLE, format!("service not available now: {e}")),
            StoreError::MessageTooLarge => HandlerError::new(response_code::MESSAGE_ILLEGAL, format!("{e}")),
            // The Java broker's answer to a put on a slave (PutMessageStatus.SERVICE_NOT_AVAILABLE).
            StoreError::ReadOnly => HandlerError::new(
                response_code::SERVICE_NOT_AVAILABLE,
                "service not available now. It may be caused by one of the following reasons: the broker's disk is full, messages are put to the slave, message store has been shut down, etc.",
            ),
            _ => HandlerError::system(format!("store error: {e}")),
        }
    }
}

pub type HandlerResult = Result<Reply, HandlerError>;

/// The one handler shape.
pub type HandlerFn = fn(&Core, &Conn, &RemotingCommand) -> HandlerResult;

/// The connection as handlers see it (made once per connection; the request's own `language`
/// and `version` say which client sent it).
pub struct Conn {
    pub handle: ConnHandle,
    /// Wall-clock milliseconds at which the request being handled was read, when the connection
    /// knows it (0: not known, read the clock): a send stores it as its timestamp without a
    /// clock read of its own.
    pub read_at_ms: std::cell::Cell<i64>,
}

impl Conn {
    pub fn new(handle: ConnHandle) -> Conn {
        Conn { handle, read_at_ms: std::cell::Cell::new(0) }
    }

    /// [`Self::read_at_ms`], or the clock's now when it is not known.
    pub fn now_ms(&self) -> i64 {
        match self.read_at_ms.get() {
            0 => crate::core::now_ms(),
            at => at,
        }
    }
}

/// A response with a code and remark.
pub fn answer(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(req, code, Some(remark.into()))
}

/// A plain SUCCESS.
pub fn success(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, response_code::SUCCESS, None)
}

/// Which role a listener serves.
#[derive(Clone)]
pub enum Service {
    Broker(Arc<Core>),
    Namesrv(Arc<NamesrvContext>),
}

impl Service {
    /// Route one request to its handler; a refusal becomes its response.
    pub fn handle(&self, conn: &Conn, req: &RemotingCommand) -> Reply {
        let result = match self {
            Service::Broker(core) => {
                let code = RequestCode::from_i32(req.code);
                let caller = match core.acl() {
                    None => None,
                    Some(setup) => match acl::gate(&setup.acl, conn.handle.peer.ip(), req) {
                        Ok(caller) => Some(caller),
                        Err(e) => {
                            tracing::info!(conn = conn.handle.id, peer = %conn.handle.peer, code = req.code, remark = %e.remark, "request refused by ACL");
                            return Reply::Now(e.response(req));
                        }
                    },
                };
                if mutating_admin(code) {
                    let access_key = caller.as_ref().map_or("-", |c| c.access_key());
                    tracing::info!(code = req.code, peer = %conn.handle.peer, access_key, "admin change requested");
                }
                match broker_handler(code) {
                    Some(h) => h(core, conn, req),
                    None => Ok(Reply::Now(not_supported(req))),
                }
            }
            Service::Namesrv(ns) => namesrv::handle(ns, conn.handle.id, req),
        };
        result.unwrap_or_else(|e| Reply::Now(e.response(req)))
    }

    /// A request was answered after `elapsed` (`oneway`: nothing was sent back): the broker's
    /// `rocketmq_rpc_latency` histogram.
    pub fn answered(&self, request_code: i32, response_code: i32, oneway: bool, elapsed: std::time::Duration) {
        if let Service::Broker(core) = self {
            core.stats.rpc(request_code, response_code, if oneway { "oneway" } else { "success" }, elapsed.as_millis() as u64);
        }
    }

    /// A connection closed: a broker forgets its clients; a name server drops the brokers that
    /// registered over it.
    pub fn closed(&self, conn_id: u64) {
        match self {
            Service::Broker(core) => core.connection_closed(conn_id),
            Service::Namesrv(ns) => {
                ns.routes.lock().unwrap_or_else(|e| e.into_inner()).connection_closed(conn_id);
            }
        }
    }
}

/// Admin codes that change the broker's state: logged with the caller's address and access key.
pub fn mutating_admin(code: RequestCode) -> bool {
    use RequestCode as C;
    matches!(
        code,
        C::UpdateAndCreateTopic
            | C::DeleteTopicInBroker
            | C::UpdateAndCreateSubscriptiongroup
            | C::DeleteSubscriptiongroup
            | C::UpdateBrokerConfig
            | C::CloneGroupOffset
            | C::InvokeBrokerToResetOffset
            | C::UpdateAndCreateAclConfig
            | C::DeleteAclConfig
            | C::UpdateGlobalWhiteAddrsConfig
            | C::SetMessageRequestMode
    )
}

/// The broker's handler for a request code (None: not supported).
pub fn broker_handler(code: RequestCode) -> Option<HandlerFn> {
    use RequestCode as C;
    Some(match code {
        C::SendMessage | C::SendMessageV2 | C::SendBatchMessage => send::handle,
        C::SendReplyMessage | C::SendReplyMessageV2 => reply::handle,
        C::PullMessage | C::LitePullMessage => pull::handle,
        C::QueryConsumerOffset => offsets::query_consumer_offset,
        C::UpdateConsumerOffset => offsets::update_consumer_offset,
        C::GetMaxOffset => offsets::max_offset,
        C::GetMinOffset => offsets::min_offset,
        C::GetEarliestMsgStoretime => offsets::earliest_store_time,
        C::SearchOffsetByTimestamp => offsets::search_by_time,
        C::ConsumerSendMsgBack => retry::send_back,
        C::EndTransaction => transaction::end_transaction,
        C::RecallMessage => recall::recall,
        C::HeartBeat => clients::heartbeat,
        C::UnregisterClient => clients::unregister,
        C::GetConsumerListByGroup => clients::consumer_list,
        C::LockBatchMq => clients::lock,
        C::UnlockBatchMq => clients::unlock,
        C::CheckClientConfig => clients::check_client_config,
        C::ViewMessageById => admin::view_message,
        C::QueryMessage => admin::query_message,
        C::UpdateAndCreateTopic => admin::create_topic,
        C::DeleteTopicInBroker => admin::delete_topic,
        C::GetAllTopicConfig => admin::all_topic_config,
        C::GetTopicConfig => admin::topic_config,
        C::UpdateAndCreateSubscriptiongroup => admin::create_group,
        C::DeleteSubscriptiongroup => admin::delete_group,
        C::GetAllSubscriptiongroupConfig => admin::all_groups,
        C::GetAllConsumerOffset => admin::all_consumer_offsets,
        C::GetAllDelayOffset => admin::all_delay_offsets,
        C::QueryTopicConsumeByWho => admin::who_consumes,
        C::GetTopicNameList => admin::topic_names,
        C::GetBrokerRuntimeInfo => admin::runtime_info,
        C::GetBrokerConfig => admin::get_config,
        C::UpdateBrokerConfig => admin::update_config,
        C::GetTopicStatsInfo => admin::topic_stats,
        C::GetConsumeStats => admin::consume_stats,
        C::GetBrokerConsumeStats => admin::broker_consume_stats,
        C::QueryConsumeTimeSpan => admin::consume_time_span,
        C::CloneGroupOffset => admin::clone_group_offset,
        C::GetConsumerConnectionList => admin::consumer_connections,
        C::GetProducerConnectionList => admin::producer_connections,
        C::GetConsumerRunningInfo => admin::consumer_running_info,
        C::ConsumeMessageDirectly => admin::consume_directly,
        C::InvokeBrokerToGetConsumerStatus => admin::consumer_status,
        C::InvokeBrokerToResetOffset => admin::reset_offset,
        C::GetAllProducerInfo => admin::all_producer_info,
        C::PopMessage => pop::pop,
        C::AckMessage => pop::ack,
        C::BatchAckMessage => pop::batch_ack,
        C::ChangeMessageInvisibletime => pop::change_invisible,
        C::Notification => pop::notification,
        C::PollingInfo => pop::polling_info,
        C::QueryAssignment => pop::query_assignment,
        C::SetMessageRequestMode => pop::set_request_mode,
        C::GetAllMessageRequestMode => pop::all_request_modes,
        C::UpdateAndCreateAclConfig => admin::acl::update_account,
        C::DeleteAclConfig => admin::acl::delete_account,
        C::GetBrokerClusterAclInfo => admin::acl::version,
        C::UpdateGlobalWhiteAddrsConfig => admin::acl::update_global_white,
        C::GetBrokerClusterAclConfig => admin::acl::config,
        _ => return None,
    })
}

/// REQUEST_CODE_NOT_SUPPORTED with the Java broker's remark; the connection stays open.
pub fn not_supported(req: &RemotingCommand) -> RemotingCommand {
    answer(req, response_code::REQUEST_CODE_NOT_SUPPORTED, format!(" request type {} not supported", req.code))
}
