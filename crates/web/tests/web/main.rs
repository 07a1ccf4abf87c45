//! The web panel's integration tests, one binary (no test here installs a
//! global): the pages over every store (`http`), the server's connection
//! limits (`serve`), pushed live tails on PostgreSQL (`tail_push`), trace
//! links (`trace`), the store reads run a few at a time (`turns`) and a real headless browser (`browser`), with the stores
//! and requests they share in `common`.

mod common;

mod browser;
mod estimate_shots;
mod http;
mod lag;
mod serve;
mod tail_push;
mod trace;
mod turns;
