//! The writer tag: the low 16 bits of every record id a sink assigns (see
//! [`crate::sink`]), made unique among the writers running at once by a
//! claim on the first shard, so that two writers' ids never collide.
//!
//! A random tag alone collides with probability 1 in 65 536 per pair of
//! writers: about 7 % for a fleet of a hundred. So each sink claims its
//! tag in `log_panel_writer_tags` on shard 0, and every [`HEARTBEAT`]
//! says it still holds it:
//!
//! 1. insert `(tag, writer, since, seen)`, `since` the server's time of
//!    the first claim, `seen` now;
//! 2. read the rows of that tag seen within [`HELD_FOR`];
//! 3. if another writer's row has a `since` at or before ours, the tag is
//!    theirs: draw another and start again. Otherwise it is ours.
//!
//! Each claimant inserts before it reads, so of two writers claiming one
//! tag at once at least one sees the other; the rule gives the tag to the
//! earlier claim, and both yield when they claimed in the same second. A
//! writer that held its tag long ago keeps it against a newcomer, whose
//! `since` is later. What remains: ids a sink wrote before its first claim
//! reached shard 0 (shard 0 down when it started: it writes with its random
//! tag and claims when shard 0 answers), and a writer cut off from shard 0
//! for longer than [`HELD_FOR`] whose tag a newcomer took meanwhile (the
//! newcomer yields at its next heartbeat).
//!
//! Both statements are sent again after a silence the shard answers `/ping`
//! to (`Resend::Safe` in the `http` module). A claim row sent twice is our
//! row twice, `since` the server's time when each copy ran (the first may
//! land or not). The read takes each writer's earliest `since`, so our own
//! read decides as for one claim made when the first copy ran (if it is
//! visible) or the second; another writer that also sees a later copy of
//! ours can only yield where it would not have, never take a tag. So a
//! claim sent twice gives no outcome the rule cannot give a claim sent once.

use std::time::Duration;

use crate::error::RequestError;
use crate::http::{Http, Resend};

/// The claims table, on every shard (only shard 0's is used).
pub const TABLE: &str = "log_panel_writer_tags";

/// The claims table's DDL. Partitioned by day, so that `prune` drops old claims.
pub const DDL: &str = "CREATE TABLE IF NOT EXISTS log_panel_writer_tags (\
    tag UInt16, writer UInt64, since DateTime('UTC'), seen DateTime('UTC')\
    ) ENGINE = MergeTree PARTITION BY toYYYYMMDD(seen) ORDER BY (tag, since, writer)";

/// How often a sink renews its claim.
pub const HEARTBEAT: Duration = Duration::from_secs(30 * 60);
/// How long a claim holds without a heartbeat: four heartbeats.
pub const HELD_FOR: Duration = Duration::from_secs(2 * 60 * 60);
/// How many tags a claim tries before it gives up (and keeps the last one, unclaimed).
const TRIES: usize = 16;

/// A tag held, and when it was first claimed (the server's seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) tag: u16,
    pub(crate) since: u32,
}

/// Claims `tag` for `writer` on shard 0, or renews the claim `held`, or
/// moves to another tag (drawn by `draw`) when an earlier writer holds it.
/// `None`: every tag tried was held (or our claims were not visible); the
/// caller keeps its tag unclaimed and tries again later.
pub(crate) fn claim(
    http: &Http,
    writer: u64,
    held: Option<Held>,
    mut tag: u16,
    mut draw: impl FnMut() -> u16,
) -> Result<Option<Held>, RequestError> {
    if let Some(h) = held {
        tag = h.tag;
    }
    let mut since = held.map(|h| h.since);
    for _ in 0..TRIES {
        let since_sql = since.map_or_else(|| "now()".to_owned(), |s| format!("toDateTime({s}, 'UTC')"));
        http.query(
            0,
            Resend::Safe,
            &format!("INSERT INTO {TABLE} (tag, writer, since, seen) SELECT {tag}, {writer}, {since_sql}, now()"),
            &[],
        )?;
        let rows = http.query(
            0,
            Resend::Safe,
            &format!(
                "SELECT writer, toUInt32(min(since)) FROM {TABLE} WHERE tag = {tag} \
                 AND seen > now() - {} GROUP BY writer FORMAT TSV",
                HELD_FOR.as_secs()
            ),
            &[],
        )?;
        let claims: Vec<(u64, u32)> = rows
            .lines()
            .filter_map(|l| {
                let (w, s) = l.split_once('\t')?;
                Some((w.parse().ok()?, s.parse().ok()?))
            })
            .collect();
        let Some(mine) = claims.iter().find(|(w, _)| *w == writer).map(|&(_, s)| s) else {
            // Our own insert is not visible: the server is not the one we wrote to. Try again.
            continue;
        };
        if claims.iter().all(|&(w, s)| w == writer || s > mine) {
            return Ok(Some(Held { tag, since: mine }));
        }
        tag = draw();
        since = None;
    }
    Ok(None)
}
