//! The order of cards "trouble first" when loggers have their own
//! thresholds (`[panel.loggers]`): by their last hour judged against each
//! logger's own normal, not by raw counts.
//!
//! The stores order by raw counts (most errors in the last hour, then
//! warnings, then activity: `CardSort::Trouble`). With per-logger
//! thresholds that order contradicts the badges: a noisy logger at its
//! normal 6 errors an hour ("Last hour: normal") came before a quiet one
//! with 2 errors ("Last hour: errors"). Here cards come by what the badge
//! says first (errors over the threshold, then warnings over theirs, then
//! the rest), then by errors as a multiple of the logger's threshold, then
//! warnings likewise, then the latest activity, then the name. Under the
//! default thresholds (every logger alike) this is the stores' order.

use log_panel_query::{Cards, CardsQuery, LoggerCard, HOUR};
use log_panel_query::{Store, StoreError};
use std::cmp::Ordering;

use crate::options::PanelOptions;

/// Cards ordered in memory at most: every logger up to this many; beyond
/// it the rest keep the stores' raw order (a panel has tens to hundreds).
pub(crate) const RELATIVE_CARDS: usize = 5_000;

/// The page of cards `query` asks for, trouble first relative to each
/// logger's thresholds when they are not all one error and one warning
/// (else as the store orders them, the same order).
pub(crate) fn cards(store: &dyn Store, query: &CardsQuery, options: &PanelOptions) -> Result<Cards, StoreError> {
    if query.sort != log_panel_query::CardSort::Trouble || !options.orders_relative() {
        return store.cards(query);
    }
    let mut all = query.clone();
    all.offset = 0;
    all.limit = RELATIVE_CARDS;
    let mut cards = store.cards(&all)?;
    arrange(options, &mut cards.cards);
    let page: Vec<LoggerCard> = cards.cards.into_iter().skip(query.offset).take(query.limit).collect();
    Ok(Cards { cards: page, matching: cards.matching })
}

/// Puts `cards` in the relative trouble order (see the module).
pub(crate) fn arrange(options: &PanelOptions, cards: &mut [LoggerCard]) {
    cards.sort_by(|a, b| compare(options, b, a).then_with(|| a.logger.cmp(&b.logger)));
}

/// How much trouble `a` is in beside `b` (greater: more).
fn compare(options: &PanelOptions, a: &LoggerCard, b: &LoggerCard) -> Ordering {
    let (ta, tb) = (options.thresholds_for(&a.logger, HOUR), options.thresholds_for(&b.logger, HOUR));
    // `x / tx` against `y / ty` without dividing: `x * ty` against `y * tx`.
    let ratio =
        |x: u64, tx: u64, y: u64, ty: u64| (u128::from(x) * u128::from(ty)).cmp(&(u128::from(y) * u128::from(tx)));
    ta.judge(&a.last_hour)
        .cmp(&tb.judge(&b.last_hour))
        .then_with(|| ratio(a.last_hour.error, ta.errors, b.last_hour.error, tb.errors))
        .then_with(|| ratio(a.last_hour.warn, ta.warnings, b.last_hour.warn, tb.warnings))
        .then_with(|| a.totals.last.cmp(&b.totals.last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use log_panel_core::Timestamp;
    use log_panel_query::CardSort;
    use log_panel_query::LevelCounts;

    fn card(logger: &str, error: u64, warn: u64, last_seen: i64) -> LoggerCard {
        let mut c = LoggerCard::new(
            logger.into(),
            log_panel_query::LoggerTotals::new(error + warn, error, warn, Timestamp(0), Timestamp(last_seen)),
        );
        c.last_hour = LevelCounts { error, warn, info: 1, ..LevelCounts::default() };
        c
    }

    fn names(cards: &[LoggerCard]) -> Vec<&str> {
        cards.iter().map(|c| c.logger.as_str()).collect()
    }

    /// Under the default thresholds the order is the stores' raw order.
    #[test]
    fn default_thresholds_keep_the_raw_order() {
        let mut cards = vec![
            card("a", 0, 0, 9),
            card("b", 2, 0, 1),
            card("c", 0, 7, 2),
            card("d", 5, 1, 0),
            card("e", 2, 3, 0),
            card("f", 0, 0, 3),
        ];
        let mut raw = cards.clone();
        CardSort::Trouble.arrange(&mut raw);
        arrange(&PanelOptions::default(), &mut cards);
        assert_eq!(names(&cards), names(&raw));
        assert_eq!(names(&cards), ["d", "e", "b", "c", "a", "f"]);
    }

    /// A noisy logger at its normal rate comes after a quiet one in trouble;
    /// over its own threshold, by how many times over.
    #[test]
    fn own_thresholds_order_by_multiples_of_each_loggers_normal() {
        let options = PanelOptions::default().logger_thresholds("api::http", 10, 100);
        let mut cards = vec![
            card("api::http::access", 6, 40, 9),
            card("billing", 2, 0, 1),
            card("api::http::router", 30, 0, 1),
            card("mail", 0, 1, 1),
            card("quiet", 0, 0, 5),
        ];
        arrange(&options, &mut cards);
        // router: 3 × its 10 an hour; billing: 2 × 1; mail: a warning over 1;
        // access: under both its thresholds, its normal; quiet: nothing.
        assert_eq!(names(&cards), ["api::http::router", "billing", "mail", "api::http::access", "quiet"]);
        let mut raw = cards.clone();
        CardSort::Trouble.arrange(&mut raw);
        assert_eq!(names(&raw)[..2], ["api::http::router", "api::http::access"], "raw counts put the noisy one second");
    }
}
