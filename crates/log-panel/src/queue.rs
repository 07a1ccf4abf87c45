//! What travels from logging threads to the writer: records and control messages.

use std::time::Instant;

use crossbeam_channel::Sender;
use log_panel_core::Record;

use crate::clock::Tick;

/// One message on the bounded channel. Control messages ride the same queue
/// as records so that FIFO order gives `flush()` its guarantee: every record
/// sent before the flush message is resolved before the flush is acknowledged.
pub(crate) enum Msg {
    /// A record and when it was made; the writer sets `timestamp` from the tick.
    Record(Record, Tick),
    /// Acknowledge once every record received so far is committed.
    Flush(Sender<()>),
    /// Drain the queue, write (or spool, once `deadline` passes) everything,
    /// acknowledge, and exit.
    Shutdown { ack: Sender<()>, deadline: Instant },
}
