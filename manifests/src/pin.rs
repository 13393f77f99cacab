//! Trust for agent endpoints by pinned certificate. An agent serves its node API (logs, the
//! service proxy's node-to-node channel) with a self-signed certificate and publishes the
//! certificate's SHA-256 on its Node under [`SERVING_CERT_ANNOTATION`]. Whoever reaches the
//! agent (the API server, another agent) read that Node over the authenticated API, so it
//! trusts exactly the certificates published there, with no CA to distribute to agents.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest as _, Sha256};

/// The Node annotation holding the agent's serving certificate fingerprint.
pub const SERVING_CERT_ANNOTATION: &str = "shoal.dev/serving-cert-sha256";

/// The fingerprint of a DER certificate: its SHA-256 as lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The set of fingerprints a client trusts; shared, so it follows the Nodes as they change.
#[derive(Clone, Default)]
pub struct Pins {
    inner: Arc<RwLock<HashSet<String>>>,
}

impl fmt::Debug for Pins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pins")
            .field("count", &self.read().len())
            .finish()
    }
}

impl Pins {
    /// Replaces the trusted fingerprints.
    pub fn set(&self, pins: impl IntoIterator<Item = String>) {
        let next: HashSet<String> = pins.into_iter().map(|p| p.to_ascii_lowercase()).collect();
        *self
            .inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }

    /// Trusts one more fingerprint.
    pub fn add(&self, pin: &str) {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(pin.to_ascii_lowercase());
    }

    /// Whether `pin` is trusted.
    pub fn contains(&self, pin: &str) -> bool {
        self.read().contains(pin)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashSet<String>> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A TLS client configuration trusting exactly these pins (HTTP/1.1).
    ///
    /// # Errors
    /// The crypto provider supports none of the default protocol versions.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = PinnedVerifier {
            pins: self.clone(),
            algorithms: provider.signature_verification_algorithms,
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// Accepts a server whose end-entity certificate is pinned; the handshake signature is still
/// checked, so only the holder of the pinned certificate's key passes.
#[derive(Debug)]
struct PinnedVerifier {
    pins: Pins,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.contains(&fingerprint(end_entity)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the agent's certificate is not the one its Node publishes".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_lowercase_hex_sha256() {
        let pin = fingerprint(b"abc");
        assert_eq!(
            pin,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let pins = Pins::default();
        assert!(!pins.contains(&pin));
        pins.add(&pin.to_ascii_uppercase());
        assert!(pins.contains(&pin));
        pins.set(Vec::new());
        assert!(!pins.contains(&pin));
    }
}
