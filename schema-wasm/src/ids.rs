//! Event ids: one rule for the worker, the browser module and the generated TypeScript. An id is
//! a decimal number from 1 to 2^53 - 1 (exact in a JavaScript number), written without leading
//! zeros, as the server issues them. A position (`Last-Event-ID`, `lastEventId`, `after`) is an id
//! or `0`, "before the first event".

/// The largest id: ids stay exact in a JavaScript number.
pub const MAX_EVENT_ID: u64 = (1 << 53) - 1;
/// Digits of the largest id.
pub const MAX_EVENT_ID_DIGITS: usize = 16;
/// The id rule as a regular expression (JSON Schema `pattern`, TypeScript checks); the value bound
/// is `MAX_EVENT_ID`.
pub const EVENT_ID_PATTERN: &str = "^[1-9][0-9]{0,15}$";

/// `text` as an id, if it is one as the server writes them.
pub fn parse_event_id(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.len() <= MAX_EVENT_ID_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && !text.starts_with('0');
    canonical.then(|| text.parse().ok()).flatten().filter(|id| *id <= MAX_EVENT_ID)
}

/// `text` as a position: an id, or `0`.
pub fn parse_position(text: &str) -> Option<u64> {
    if text == "0" {
        return Some(0);
    }
    parse_event_id(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_a_decimal_from_1_to_2_pow_53_minus_1_without_leading_zeros() {
        assert_eq!(parse_event_id("1"), Some(1));
        assert_eq!(parse_event_id("9007199254740991"), Some(MAX_EVENT_ID));
        for not in ["", "0", "007", "-1", "1.0", "1e3", " 1", "9007199254740992", "99999999999999999", "１"] {
            assert_eq!(parse_event_id(not), None, "{not:?}");
        }
    }

    #[test]
    fn a_position_is_an_id_or_zero() {
        assert_eq!(parse_position("0"), Some(0));
        assert_eq!(parse_position("42"), Some(42));
        assert_eq!(parse_position("00"), None);
        assert_eq!(parse_position("042"), None);
    }

    #[test]
    fn the_pattern_says_what_the_parser_does_for_the_digits() {
        // The pattern allows 1 to 16 digits without a leading zero; the parser adds the bound.
        assert_eq!(EVENT_ID_PATTERN, format!("^[1-9][0-9]{{0,{}}}$", MAX_EVENT_ID_DIGITS - 1));
        assert_eq!(MAX_EVENT_ID.to_string().len(), MAX_EVENT_ID_DIGITS);
    }
}
