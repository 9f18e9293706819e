//! Operations headers not declared elsewhere: broker consume stats (317).
use super::header;

header! {
    /// `GetConsumeStatsInBrokerHeader` (317).
    GetConsumeStatsInBrokerHeader { is_order: bool = "isOrder" }
}
