//! Time as the contract writes it: RFC 3339 UTC with milliseconds.

/// Formats milliseconds since the epoch as `2026-11-25T07:00:00.123Z`.
pub fn format_ts(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    match chrono::DateTime::from_timestamp_millis(ms) {
        // Not `format` with a pattern: that parses the pattern at every call (each publish).
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_string(),
    }
}

/// Now, in milliseconds since the epoch (the runtime's clock; on the host, the system clock).
pub fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        worker::Date::now().as_millis()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_precision_utc() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ts(1_795_590_000_123), "2026-11-25T07:00:00.123Z");
        assert_eq!(format_ts(1_795_590_000_000), "2026-11-25T07:00:00.000Z");
        assert_eq!(format_ts(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
    }
}
