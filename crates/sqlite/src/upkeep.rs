//! What the sink does while the writer is idle, and what a prune runs: the
//! message search index, the context-key side table, retention (deleting old
//! records and taking them off the aggregates), the size of each step, and
//! the WAL's checkpoints.

pub(crate) mod checkpoint;
pub(crate) mod context_index;
pub(crate) mod retention;
pub(crate) mod search;
pub(crate) mod steps;
