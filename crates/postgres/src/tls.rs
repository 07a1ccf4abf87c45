//! TLS for connections whose URL says `sslmode=require` (feature `tls`).
//!
//! rustls with the ring provider: no system OpenSSL needed to build. The
//! server's certificate chain *and* host name are always verified (libpq's
//! `verify-full`), against the file named by `sslrootcert=` in the URL when
//! given, else the system's trusted roots.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Builds the connector: roots from `ca_file`, or the system's.
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<MakeRustlsConnect, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert `{}`: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("bad certificate in `{}`: {e}", path.display()))?;
                roots.add(cert).map_err(|e| format!("unusable certificate in `{}`: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system store may hold certificates rustls cannot use; skip those.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(match ca_file {
            Some(p) => format!("no certificate found in sslrootcert `{}`", p.display()),
            None => "no trusted root certificates found on this system; give sslrootcert=<file>".to_owned(),
        });
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
