//! The ACL gate of the broker's remoting front end: what each request code needs ([`needs`]),
//! checked once in `Service::handle` before dispatch ([`gate`]). A refused request reaches no
//! handler, so it has no effect; it is answered NO_PERMISSION (16) with a remark naming the
//! missing permission.
//!
//! The table follows RocketMQ 4.9.7's `PlainAccessValidator` and 5.3.3's
//! `DefaultAuthorizationContextBuilder`, and protects more: every code that changes broker state
//! or reads other groups' data is admin-only (4.9.7 protects five). Codes not listed need a valid
//! signature and nothing more (every request must be signed).
use super::HandlerError;
use crate::codec::body::{BatchAckMessageRequestBody, HeartbeatData, LockBatchRequestBody, QueryAssignmentRequestBody, SetMessageRequestModeRequestBody};
use crate::codec::codes::{response_code, RequestCode};
use crate::codec::RemotingCommand;
use crate::config::acl::Perm;
use crate::core::acl::{Acl, Caller, Needs, RETRY_PREFIX};
use std::net::IpAddr;

fn field<'a>(req: &'a RemotingCommand, key: &str) -> &'a str {
    req.ext(key).unwrap_or("")
}

/// A send to `topic` by `group`: PUB on the topic, or SUB on the group for its retry topic.
fn send(topic: &str, group: &str) -> Needs {
    match topic.strip_prefix(RETRY_PREFIX) {
        Some(g) => Needs::default().group(if group.is_empty() { g } else { group }, Perm::SUB),
        None => Needs::default().topic(topic, Perm::PUB),
    }
}

/// A consumer's read of `topic` for `group`: SUB on both (a retry topic is the group's).
fn consume(topic: &str, group: &str) -> Needs {
    let n = Needs::default();
    let n = if topic.starts_with(RETRY_PREFIX) { n.group(topic, Perm::SUB) } else { n.topic(topic, Perm::SUB) };
    n.group(group, Perm::SUB)
}

fn bad_body(what: &str) -> HandlerError {
    HandlerError::new(response_code::NO_PERMISSION, format!("ACL: cannot read the {what} body to check its permissions"))
}

/// What request `req` needs, by its code.
pub fn needs(req: &RemotingCommand) -> Result<Needs, HandlerError> {
    use RequestCode as C;
    let f = |k| field(req, k);
    Ok(match RequestCode::from_i32(req.code) {
        C::SendMessage | C::SendReplyMessage => send(f("topic"), f("producerGroup")),
        C::SendMessageV2 | C::SendBatchMessage | C::SendReplyMessageV2 => send(f("b"), f("a")),
        C::EndTransaction if !f("topic").is_empty() => Needs::default().topic(f("topic"), Perm::PUB),
        // cancelling a scheduled message is the producer's: PUB on its topic (5.3's rule)
        C::RecallMessage => Needs::default().topic(f("topic"), Perm::PUB),
        C::ConsumerSendMsgBack => Needs::default().group(f("group"), Perm::SUB),
        C::PullMessage | C::LitePullMessage | C::QueryConsumerOffset | C::UpdateConsumerOffset => {
            consume(f("topic"), f("consumerGroup"))
        }
        C::PopMessage | C::AckMessage | C::ChangeMessageInvisibletime | C::Notification | C::PollingInfo => {
            consume(f("topic"), f("consumerGroup"))
        }
        C::QueryMessage | C::GetMaxOffset | C::GetMinOffset | C::GetEarliestMsgStoretime | C::SearchOffsetByTimestamp => {
            Needs::default().topic(f("topic"), Perm::SUB)
        }
        C::GetTopicStatsInfo | C::GetTopicConfig => Needs::default().topic(f("topic"), Perm::ANY),
        C::UnregisterClient if !f("consumerGroup").is_empty() => Needs::default().group(f("consumerGroup"), Perm::SUB),
        C::GetConsumerListByGroup => Needs::default().group(f("consumerGroup"), Perm::SUB),
        C::HeartBeat => {
            let hb = HeartbeatData::from_json(&req.body).map_err(|_| bad_body("heartbeat"))?;
            let mut n = Needs::default();
            for c in &hb.consumer_data_set {
                n = n.group(&c.group_name, Perm::SUB);
                for s in &c.subscription_data_set {
                    n = if s.topic.starts_with(RETRY_PREFIX) { n.group(&s.topic, Perm::SUB) } else { n.topic(&s.topic, Perm::SUB) };
                }
            }
            n
        }
        C::LockBatchMq | C::UnlockBatchMq => {
            let b = LockBatchRequestBody::from_json(&req.body).map_err(|_| bad_body("lock"))?;
            let mut n = Needs::default().group(&b.consumer_group, Perm::SUB);
            for q in &b.mq_set {
                n = if q.topic.starts_with(RETRY_PREFIX) { n.group(&q.topic, Perm::SUB) } else { n.topic(&q.topic, Perm::SUB) };
            }
            n
        }
        C::BatchAckMessage => {
            let b = BatchAckMessageRequestBody::from_json(&req.body).map_err(|_| bad_body("batch ack"))?;
            let mut n = Needs::default();
            for a in &b.acks {
                n.resources.extend(consume(&a.topic, &a.consumer_group).resources);
            }
            n
        }
        C::QueryAssignment => {
            let b = QueryAssignmentRequestBody::from_json(&req.body).map_err(|_| bad_body("query assignment"))?;
            consume(&b.topic, &b.consumer_group)
        }
        C::SetMessageRequestMode => {
            let b = SetMessageRequestModeRequestBody::from_json(&req.body).map_err(|_| bad_body("request mode"))?;
            consume(&b.topic, &b.consumer_group)
        }
        code if admin_only(code) => Needs::admin(),
        _ => Needs::default(),
    })
}

/// Codes that change the broker's state or read other groups' data: admin accounts only.
pub fn admin_only(code: RequestCode) -> bool {
    use RequestCode as C;
    matches!(
        code,
        C::UpdateAndCreateTopic
            | C::UpdateAndCreateTopicList
            | C::DeleteTopicInBroker
            | C::UpdateAndCreateSubscriptiongroup
            | C::UpdateAndCreateSubscriptiongroupList
            | C::DeleteSubscriptiongroup
            | C::UpdateBrokerConfig
            | C::GetBrokerConfig
            | C::CloneGroupOffset
            | C::InvokeBrokerToResetOffset
            | C::InvokeBrokerToGetConsumerStatus
            | C::ResetConsumerOffsetInBroker
            | C::ConsumeMessageDirectly
            | C::GetConsumerRunningInfo
            | C::GetConsumeStats
            | C::GetBrokerConsumeStats
            | C::GetConsumerConnectionList
            | C::GetProducerConnectionList
            | C::GetAllProducerInfo
            | C::GetAllSubscriptiongroupConfig
            | C::GetAllConsumerOffset
            | C::GetAllDelayOffset
            | C::QueryTopicConsumeByWho
            | C::QueryConsumeTimeSpan
            | C::ViewMessageById
            | C::GetAllMessageRequestMode
            | C::UpdateAndCreateAclConfig
            | C::DeleteAclConfig
            | C::GetBrokerClusterAclInfo
            | C::UpdateGlobalWhiteAddrsConfig
            | C::GetBrokerClusterAclConfig
            | C::WipeWritePermOfBroker
            | C::AddWritePermOfBroker
            | C::TriggerDeleteFiles
            | C::CleanExpiredConsumequeue
            | C::CleanUnusedTopic
            | C::DeleteExpiredCommitlog
    )
}

/// Check `req` from `peer` against the ACL; the refusal is the response the client gets.
pub fn gate(acl: &Acl, peer: IpAddr, req: &RemotingCommand) -> Result<Caller, HandlerError> {
    let needs = needs(req)?;
    acl.check(req, peer, &needs).map_err(|r| HandlerError::new(response_code::NO_PERMISSION, r.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::acl::Need;

    #[test]
    fn sends_to_a_retry_topic_need_the_group() {
        let req = RemotingCommand::request(310, 1).with_ext("b", "%RETRY%g1").with_ext("a", "g1");
        assert_eq!(needs(&req).unwrap().resources, vec![Need::Group("g1".into(), Perm::SUB)]);
        let req = RemotingCommand::request(10, 1).with_ext("topic", "T").with_ext("producerGroup", "p");
        assert_eq!(needs(&req).unwrap().resources, vec![Need::Topic("T".into(), Perm::PUB)]);
    }

    #[test]
    fn an_unreadable_body_is_refused() {
        let req = RemotingCommand::request(34, 1).with_body(&b"{not json"[..]);
        assert_eq!(needs(&req).unwrap_err().code, response_code::NO_PERMISSION);
    }
}
