//! A fixed-window rate limiter per key (client error reports, per token).

use std::collections::HashMap;

pub struct RateLimiter {
    window_ms: u64,
    max: u32,
    windows: HashMap<String, (u64, u32)>,
}

impl RateLimiter {
    pub fn new(window_ms: u64, max: u32) -> RateLimiter {
        RateLimiter { window_ms, max, windows: HashMap::new() }
    }

    /// Counts one request for `key` at `now_ms`: `Ok` if allowed, else the seconds until it is.
    pub fn check(&mut self, key: &str, now_ms: u64) -> Result<(), u64> {
        let window_ms = self.window_ms;
        // Forget finished windows, so the map holds only keys seen in the last window.
        self.windows.retain(|_, (start, _)| now_ms < start.saturating_add(window_ms));
        let (start, count) = self.windows.entry(key.to_string()).or_insert((now_ms, 0));
        if *count >= self.max {
            let left_ms = start.saturating_add(window_ms).saturating_sub(now_ms);
            return Err(left_ms.div_ceil(1000).max(1));
        }
        *count += 1;
        Ok(())
    }

    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_per_window_per_key() {
        let mut r = RateLimiter::new(60_000, 3);
        for _ in 0..3 {
            assert_eq!(r.check("a", 1_000), Ok(()));
        }
        assert_eq!(r.check("a", 2_000), Err(59));
        assert_eq!(r.check("b", 2_000), Ok(()), "keys are independent");
        assert_eq!(r.check("a", 61_000), Ok(()), "a new window");
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut r = RateLimiter::new(1_000, 1);
        for k in 0..100 {
            let _ = r.check(&k.to_string(), 0);
        }
        let _ = r.check("x", 5_000);
        assert_eq!(r.tracked(), 1);
    }
}
