//! Random values and the hex form of digests, written once: codes, tokens, ids and client-secret
//! hashes all come from here.

/// `N` bytes from the operating system's CSPRNG. A failing OS random source is not something the
/// server can serve through, so it stops rather than issue guessable values.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).expect("the OS random source failed");
    out
}

/// Lower-case hex, in one allocation (these run on every token request).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_and_complete() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
        assert_ne!(super::bytes::<16>(), super::bytes::<16>());
    }
}
