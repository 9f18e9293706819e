//! Answers as the SDKs read them: a `Status` with a `Code` and a message in every response.
use super::pb::{Code, Status};
use crate::core::consume::ConsumeRefusal;
use crate::core::pop::PopError;

pub fn ok() -> Status {
    Status { code: Code::Ok as i32, message: "OK".into() }
}

pub fn of(code: Code, message: impl Into<String>) -> Status {
    Status { code: code as i32, message: message.into() }
}

pub fn not_implemented(rpc: &str) -> Status {
    of(Code::NotImplemented, format!("{rpc} is not implemented by ferrocket yet"))
}

pub fn consume(e: &ConsumeRefusal) -> Status {
    let code = match e {
        ConsumeRefusal::GroupName(..) => Code::IllegalConsumerGroup,
        ConsumeRefusal::GroupNotFound(_) => Code::ConsumerGroupNotFound,
        ConsumeRefusal::GroupDisabled(_) | ConsumeRefusal::NotReadable(_) => Code::Forbidden,
        ConsumeRefusal::TopicNotFound(_) => Code::TopicNotFound,
        ConsumeRefusal::BadQueue { .. } => Code::BadRequest,
        ConsumeRefusal::SqlDisabled => Code::Unsupported,
        ConsumeRefusal::BadFilter(..) => Code::IllegalFilterExpression,
    };
    of(code, e.to_string())
}

pub fn pop(e: &PopError) -> Status {
    match e {
        PopError::BadReceipt(_) => of(Code::InvalidReceiptHandle, e.to_string()),
        _ => of(Code::InternalServerError, e.to_string()),
    }
}
