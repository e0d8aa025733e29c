//! SHA-256 in lower-case hex, of parts hashed one after another: what a keyed publish is compared
//! by (`front::once_key`) and the subject tag of a stream's socket (`hub::sockets::SubTag`).

use sha2::{Digest, Sha256};

pub fn sha256_hex(parts: &[&[u8]]) -> String {
    use std::fmt::Write;
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    let mut out = String::with_capacity(64);
    for byte in hash.finalize() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_hash_as_one_in_lower_case_hex() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(super::sha256_hex(&[b"abc"]), abc);
        assert_eq!(super::sha256_hex(&[b"a", b"", b"bc"]), abc);
    }
}
