//! Signing of generic webhook bodies: HMAC-SHA256 with the folder's `webhooks.secret`, sent in
//! [`SIGNATURE_HEADER`] so a receiver can check the sender.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is set.
pub const SIGNATURE_HEADER: &str = "X-Supersonic-Signature";

/// Returns the signature header value of `body`: `sha256=<hex HMAC-SHA256 with secret>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any size");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
