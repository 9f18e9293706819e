//! END_TRANSACTION (37): usually oneway, so a refusal is logged; a two-way request gets it.
use super::{success, Conn, HandlerError, HandlerResult};
use crate::codec::header::EndTransactionRequestHeader;
use crate::codec::RemotingCommand;
use crate::core::{transaction, Core};

pub fn end_transaction(core: &Core, _conn: &Conn, req: &RemotingCommand) -> HandlerResult {
    let h: EndTransactionRequestHeader = req.decode_header()?;
    if core.replication.is_slave() {
        // As the Java slave: SLAVE_NOT_AVAILABLE, the decision belongs to the master.
        return Err(HandlerError::new(
            crate::codec::codes::response_code::SLAVE_NOT_AVAILABLE,
            "Message store is slave mode, so end transaction is forbidden.",
        ));
    }
    transaction::end_transaction(core, &h).map_err(|e| {
        tracing::warn!(group = %h.producer_group, offset = h.commit_log_offset, error = %e, "END_TRANSACTION refused");
        HandlerError::system(e.to_string())
    })?;
    Ok(success(req).into())
}
