//! TLS (feature `tls`): `sslmode=require` connects over TLS and verifies the
//! server's certificate; plain stays plain.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use log_panel_core::{Batch, Level, Origin, Record, Sink};
use log_panel_postgres::{Error, PgSink};
use log_panel_testing::postgres::TestServer;
use postgres::{Client, NoTls};

#[test]
fn sslmode_require_uses_tls_and_verifies_the_certificate() {
    let Some(server) = TestServer::start_tls() else { return };
    let ca = server.ca_file().unwrap();
    // The role is refused on plain connections (pg_hba `hostnossl … reject`).
    let (url, base) = server.create_tls_database();

    let plain = PgSink::connect(&base).unwrap_err();
    assert!(matches!(plain, Error::Connect { .. }), "{plain:?}");
    assert!(plain.to_string().contains("no encryption"), "{plain}");

    // The throwaway CA is not among the system's roots: verification fails.
    let unverified = PgSink::connect(&format!("{base}?sslmode=require")).unwrap_err();
    assert!(matches!(unverified, Error::Connect { .. }), "{unverified:?}");
    assert!(unverified.to_string().to_lowercase().contains("certificate"), "{unverified}");

    // With the CA: connects over TLS, migrates and writes.
    for mode in ["require", "verify-full"] {
        let tls_url = format!("{base}?sslmode={mode}&sslrootcert={}", ca.display());
        let mut sink = PgSink::connect(&tls_url).unwrap();
        let origin = Origin::new("tls", "h", 1);
        sink.write(&Batch::new(&origin, &[Record::new(Level::Info, "tls", mode)])).unwrap();
    }
    let stored: Vec<String> = Client::connect(&url, NoTls)
        .unwrap()
        .query("SELECT message FROM log_records ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, vec!["require", "verify-full"]);
}

#[test]
fn a_missing_ca_file_is_a_clear_error() {
    let err = PgSink::connect("postgres://u:Pw-Secret@127.0.0.1:1/db?sslmode=require&sslrootcert=/nonexistent/ca.pem")
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains("/nonexistent/ca.pem"), "{text}");
    assert!(!text.contains("Pw-Secret"), "{text}");
}
