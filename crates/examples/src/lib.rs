//! Nothing to use: this package holds log-panel's examples (`examples/*.rs`
//! at the repository's root), so that running one builds log-panel and the
//! few crates the examples use, and none of log-panel's test and benchmark
//! dependencies. See `Cargo.toml` for how to add an example.
