//! Background upkeep shared by the sink's idle steps and the store: bringing
//! the message search index up to date ([`search`]), and deleting old records
//! while keeping the aggregates right ([`retention`]).

pub(crate) mod retention;
pub(crate) mod search;
