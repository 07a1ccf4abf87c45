//! What travels from logging threads to the writer: records and control messages.

use crossbeam_channel::Sender;
use log_panel_core::Record;

/// One message on the bounded channel. Control messages ride the same queue
/// as records so that FIFO order gives `flush()` its guarantee: every record
/// sent before the flush message is written before the flush is acknowledged.
pub(crate) enum Msg {
    Record(Record),
    /// Write everything pending, then acknowledge.
    Flush(Sender<()>),
    /// Drain the queue, write everything, acknowledge, and exit.
    Shutdown(Sender<()>),
}
