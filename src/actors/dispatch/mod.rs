//! Dispatch: one readable `match` from request code to handler.
//!
//! Every handler has the same shape: decode the header, validate, ask the owner (store, tables,
//! actors), build the response. Handlers run on the connection's own thread.
pub mod admin;
pub mod clients;
pub mod namesrv;
pub mod offsets;
pub mod pull;
pub mod reply;
pub mod retry;
pub mod send;

use super::connection::Role;
use super::context::BrokerContext;
use super::ConnHandle;
use crate::codec::codes::{response_code, RequestCode};
use crate::codec::header::CommandHeader;
use crate::codec::{CodecError, RemotingCommand};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What the connection should do after a request.
pub enum Reply {
    /// Answer now.
    Now(RemotingCommand),
    /// Nothing to write now (oneway, or a pull parked with the queue actor that answers later).
    Nothing,
    /// Answer when the future completes (sync flush, a relay to a client).
    Later(Pin<Box<dyn Future<Output = Option<RemotingCommand>>>>),
}

/// The connection as handlers see it.
pub struct ConnInfo {
    pub handle: ConnHandle,
    pub language: String,
    pub version: i32,
}

/// A response with a code and remark.
pub fn answer(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> RemotingCommand {
    RemotingCommand::response_to(req, code, Some(remark.into()))
}

/// A plain SUCCESS.
pub fn success(req: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(req, response_code::SUCCESS, None)
}

/// Decode a header, or produce the SYSTEM_ERROR answer naming the field.
pub fn header<T: CommandHeader>(req: &RemotingCommand) -> Result<T, RemotingCommand> {
    req.decode_header::<T>().map_err(|e| bad_request(req, &e))
}

pub fn bad_request(req: &RemotingCommand, e: &CodecError) -> RemotingCommand {
    answer(req, response_code::SYSTEM_ERROR, format!("bad request: {e}"))
}

/// Unwrap a handler step that produced either a value or a finished answer.
#[macro_export]
macro_rules! try_reply {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(resp) => return $crate::actors::dispatch::Reply::Now(resp),
        }
    };
}

/// Route one request to its handler.
pub fn handle(role: &Role, conn: &ConnInfo, req: RemotingCommand) -> Reply {
    match role {
        Role::Broker(ctx) => broker(ctx, conn, req),
        Role::Namesrv(ctx) => Reply::Now(namesrv::handle(ctx, &req)),
    }
}

fn broker(ctx: &Arc<BrokerContext>, conn: &ConnInfo, req: RemotingCommand) -> Reply {
    use RequestCode as C;
    match RequestCode::from_i32(req.code) {
        C::SendMessage | C::SendMessageV2 | C::SendBatchMessage => send::handle(ctx, conn, req),
        C::SendReplyMessage | C::SendReplyMessageV2 => reply::handle(ctx, conn, req),
        C::PullMessage | C::LitePullMessage => pull::handle(ctx, conn, req),
        C::QueryConsumerOffset => Reply::Now(offsets::query_consumer_offset(ctx, &req)),
        C::UpdateConsumerOffset => Reply::Now(offsets::update_consumer_offset(ctx, &req)),
        C::GetMaxOffset => Reply::Now(offsets::max_offset(ctx, &req)),
        C::GetMinOffset => Reply::Now(offsets::min_offset(ctx, &req)),
        C::GetEarliestMsgStoretime => Reply::Now(offsets::earliest_store_time(ctx, &req)),
        C::SearchOffsetByTimestamp => Reply::Now(offsets::search_by_time(ctx, &req)),
        C::ConsumerSendMsgBack => Reply::Now(retry::send_back(ctx, &req)),
        C::EndTransaction => Reply::Now(end_transaction(ctx, &req)),
        C::HeartBeat => Reply::Now(clients::heartbeat(ctx, conn, &req)),
        C::UnregisterClient => Reply::Now(clients::unregister(ctx, conn, &req)),
        C::GetConsumerListByGroup => Reply::Now(clients::consumer_list(ctx, &req)),
        C::LockBatchMq => Reply::Now(clients::lock(ctx, &req)),
        C::UnlockBatchMq => Reply::Now(clients::unlock(ctx, &req)),
        C::CheckClientConfig => Reply::Now(clients::check_client_config(ctx, &req)),
        C::ViewMessageById => Reply::Now(admin::view_message(ctx, &req)),
        C::QueryMessage => Reply::Now(admin::query_message(ctx, &req)),
        C::UpdateAndCreateTopic => Reply::Now(admin::create_topic(ctx, conn, &req)),
        C::DeleteTopicInBroker => Reply::Now(admin::delete_topic(ctx, conn, &req)),
        C::GetAllTopicConfig => Reply::Now(admin::all_topic_config(ctx, &req)),
        C::GetTopicConfig => Reply::Now(admin::topic_config(ctx, &req)),
        C::UpdateAndCreateSubscriptiongroup => Reply::Now(admin::create_group(ctx, conn, &req)),
        C::DeleteSubscriptiongroup => Reply::Now(admin::delete_group(ctx, conn, &req)),
        C::GetAllSubscriptiongroupConfig => Reply::Now(admin::all_groups(ctx, &req)),
        C::QueryTopicConsumeByWho => Reply::Now(admin::who_consumes(ctx, &req)),
        C::GetTopicNameList => Reply::Now(admin::topic_names(ctx, &req)),
        _ => Reply::Now(not_supported(&req)),
    }
}

/// REQUEST_CODE_NOT_SUPPORTED with the Java broker's remark; the connection stays open.
pub fn not_supported(req: &RemotingCommand) -> RemotingCommand {
    answer(
        req,
        response_code::REQUEST_CODE_NOT_SUPPORTED,
        format!(" request type {} not supported", req.code),
    )
}

/// END_TRANSACTION (37): usually oneway, so errors are logged; a two-way request gets them.
fn end_transaction(ctx: &BrokerContext, req: &RemotingCommand) -> RemotingCommand {
    let h: crate::codec::header::EndTransactionRequestHeader = match header(req) {
        Ok(h) => h,
        Err(r) => return r,
    };
    match crate::actors::transaction::end_transaction(ctx, &h) {
        Ok(()) => success(req),
        Err(e) => {
            tracing::warn!(group = %h.producer_group, offset = h.commit_log_offset, error = %e, "END_TRANSACTION refused");
            answer(req, response_code::SYSTEM_ERROR, e)
        }
    }
}
