//! Content digests (`algorithm:hex`): the accepted forms and computing the
//! `sha256:` digest of bytes. Pure; the verifying reader and the cache's
//! blob paths build on it in `linuxkit-oci`.

use sha2::{Digest as _, Sha256};

/// The hex part of a `sha256:<64 lower-case hex>` digest, or `None` when the
/// string has another form. A `Some` result is also a safe single path
/// component (the cache names blob files by it).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if is_lower_hex(hex, 64) => Some(hex),
        _ => None,
    }
}

/// Whether a reference may carry this digest: `sha256:` with 64, or
/// `sha512:` with 128, lower-case hex digits.
pub fn is_reference_digest(digest: &str) -> bool {
    match digest.split_once(':') {
        Some(("sha256", hex)) => is_lower_hex(hex, 64),
        Some(("sha512", hex)) => is_lower_hex(hex, 128),
        _ => false,
    }
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_forms() {
        let good = format!("sha256:{}", "0a".repeat(32));
        assert_eq!(sha256_hex(&good), Some(&good[7..]));
        assert_eq!(sha256_hex(&good.to_uppercase()), None);
        assert_eq!(sha256_hex(&good[..good.len() - 1]), None);
        assert_eq!(sha256_hex(&format!("sha512:{}", "0a".repeat(32))), None);
        assert_eq!(sha256_hex(&format!("sha256:../{}", "a".repeat(61))), None);
        assert_eq!(sha256_hex("sha256"), None);
    }

    #[test]
    fn reference_digests_allow_sha512() {
        assert!(is_reference_digest(&format!("sha256:{}", "f".repeat(64))));
        assert!(is_reference_digest(&format!("sha512:{}", "f".repeat(128))));
        assert!(!is_reference_digest(&format!("sha512:{}", "f".repeat(64))));
        assert!(!is_reference_digest(&format!("md5:{}", "f".repeat(32))));
    }

    #[test]
    fn digest_of_bytes() {
        // The SHA-256 of the empty string, as `sha256sum` prints it.
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(sha256_hex(&sha256_digest(b"x")).is_some());
    }
}
