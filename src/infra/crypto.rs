//! Encryption at rest for integration API keys: AES-256-GCM under the master key from the
//! settings, a random 96-bit nonce per value, stored as base64(nonce || ciphertext).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::infra::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master_key must be 32 bytes encoded as base64 (generate one with `openssl rand -base64 32`); got {0} bytes")]
    BadKeyLength(usize),
    #[error("master_key is not valid base64 (generate one with `openssl rand -base64 32`)")]
    BadKeyEncoding,
    #[error("a stored API key could not be decrypted: the master key differs from the one it was encrypted with, or the value is corrupt")]
    Decrypt,
}

/// The master key, loaded once at start.
#[derive(Clone)]
pub struct MasterKey(Key<Aes256Gcm>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    pub fn from_base64(encoded: &Secret) -> Result<Self, CryptoError> {
        let bytes = STANDARD
            .decode(encoded.expose().trim())
            .map_err(|_| CryptoError::BadKeyEncoding)?;
        if bytes.len() != 32 {
            return Err(CryptoError::BadKeyLength(bytes.len()));
        }
        Ok(Self(*Key::<Aes256Gcm>::from_slice(&bytes)))
    }

    /// A fresh random key, base64-encoded (for `logwarden demo` and first-time setup).
    pub fn generate_base64() -> Secret {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Secret::new(STANDARD.encode(bytes))
    }

    pub fn encrypt(&self, plaintext: &Secret) -> String {
        let cipher = Aes256Gcm::new(&self.0);
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.expose().as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        STANDARD.encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> Result<Secret, CryptoError> {
        let bytes = STANDARD.decode(stored).map_err(|_| CryptoError::Decrypt)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plaintext = Aes256Gcm::new(&self.0)
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plaintext)
            .map(Secret::new)
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_key_round_trips_and_its_ciphertext_does_not_contain_it() {
        let key = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let api_key = Secret::new("sk-ant-api01-secret-value-1234");
        let stored = key.encrypt(&api_key);
        assert!(!stored.contains("secret-value"));
        assert_eq!(key.decrypt(&stored).unwrap(), api_key);
        assert_ne!(key.encrypt(&api_key), stored, "nonces must differ");
    }

    #[test]
    fn another_master_key_cannot_decrypt() {
        let a = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let b = MasterKey::from_base64(&MasterKey::generate_base64()).unwrap();
        let stored = a.encrypt(&Secret::new("sk-ant-api01-x"));
        assert!(matches!(b.decrypt(&stored), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn a_short_master_key_is_refused_with_its_length() {
        let err = MasterKey::from_base64(&Secret::new("AAAA")).unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
    }
}
