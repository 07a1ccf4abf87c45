//! What the release drivers of this folder share: timing one read, and the
//! median, p95 and maximum of a read's times.

use std::time::Instant;

/// Median, p95 and maximum of `times` (ms), nearest rank.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
pub fn ms(mut times: Vec<f64>) -> (f64, f64, f64) {
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

/// `f`'s answer and how long it took, in ms.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let started = Instant::now();
    let v = f();
    (v, started.elapsed().as_secs_f64() * 1e3)
}
