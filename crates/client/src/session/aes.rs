//! AES-128-CBC segment decryption (C-KEY-01), with the RustCrypto `aes` + `cbc` crates.

use aes::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use bytes::{Bytes, BytesMut};

type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The IV for a segment: the tag's IV if given, else the media sequence number as a
/// big-endian 128-bit integer (C-KEY-01).
pub(crate) fn iv_for(explicit: Option<[u8; 16]>, msn: u64) -> [u8; 16] {
    explicit.unwrap_or_else(|| {
        let mut iv = [0u8; 16];
        iv[8..].copy_from_slice(&msn.to_be_bytes());
        iv
    })
}

/// Decrypt a whole segment (PKCS7 padding removed). `None` if the key is not 16
/// bytes, or the data is not a whole number of blocks, or the padding is bad.
///
/// Copies at most once: `BytesMut::from(Bytes)` reuses the allocation when the
/// `Bytes` is unique (the usual case for a freshly received body).
pub(crate) fn decrypt_segment(key: &[u8], iv: [u8; 16], data: Bytes) -> Option<Bytes> {
    let key: [u8; 16] = key.try_into().ok()?;
    if !data.len().is_multiple_of(16) || data.is_empty() {
        return None;
    }
    let mut buf = BytesMut::from(data);
    let n = Aes128CbcDec::new(&key.into(), &iv.into())
        .decrypt_padded::<Pkcs7>(&mut buf)
        .ok()?
        .len();
    buf.truncate(n);
    Some(buf.freeze())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aes::cipher::BlockModeEncrypt;

    /// Encrypt for tests (and the scripted AES server).
    pub fn encrypt(key: [u8; 16], iv: [u8; 16], plain: &[u8]) -> Vec<u8> {
        cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plain)
    }

    #[test]
    fn round_trip_with_msn_iv() {
        // checklist C-KEY-01: IV from the MSN, big-endian, zero-padded.
        let iv = iv_for(None, 0x0102);
        assert_eq!(iv[14..], [1, 2]);
        assert!(iv[..14].iter().all(|&b| b == 0));
        let key = [7u8; 16];
        let ct = encrypt(key, iv, b"audio payload of some length");
        let pt = decrypt_segment(&key, iv, Bytes::from(ct.clone())).expect("decrypts");
        assert_eq!(&pt[..], b"audio payload of some length");
        // Wrong IV: either bad padding or garbage, never the plaintext.
        let wrong = decrypt_segment(&key, iv_for(None, 1), Bytes::from(ct));
        assert_ne!(wrong.as_deref(), Some(&b"audio payload of some length"[..]));
        assert!(decrypt_segment(&key[..8], iv, Bytes::from_static(&[0; 16])).is_none());
        assert!(decrypt_segment(&key, iv, Bytes::from_static(&[0; 15])).is_none());
    }
}
