//! serde's derived structs accept a JSON array of their fields, in order, as well as an object.
//! What the worker reads from callers (token headers and claims, client-error reports, publish
//! bodies) must be an object: this says whether text is one, before serde reads it.

/// Whether the first byte after JSON whitespace is `{`.
pub fn is_object(text: &[u8]) -> bool {
    text.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'{')
}

#[cfg(test)]
mod tests {
    use super::is_object;

    #[test]
    fn an_object_is_text_that_opens_with_a_brace() {
        assert!(is_object(br#"{"a":1}"#));
        assert!(is_object(b" \r\n\t{}"));
        assert!(!is_object(br#"["a",1]"#));
        assert!(!is_object(b""));
        assert!(!is_object(b"null"));
    }
}
