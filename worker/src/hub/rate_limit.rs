//! A fixed-window rate limit per key (a kind of request and a token subject: connects, history,
//! publishes, client error reports; and the org's client error reports), as a pure rule over the
//! key's current window. The hub stores windows in SQLite, so a limit holds across the hub
//! sleeping between requests.

/// One key's window: when it started and how many requests it let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub start_ms: u64,
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub window_ms: u64,
    pub max: u32,
}

impl Limit {
    /// Counts one request at `now_ms` against the key's `current` window: the window to store,
    /// or the seconds until a request is allowed again.
    pub fn admit(&self, current: Option<Window>, now_ms: u64) -> Result<Window, u64> {
        let window = match current {
            Some(w) if now_ms < w.start_ms.saturating_add(self.window_ms) => w,
            _ => Window { start_ms: now_ms, count: 0 },
        };
        if window.count >= self.max {
            let left_ms = window.start_ms.saturating_add(self.window_ms).saturating_sub(now_ms);
            return Err(left_ms.div_ceil(1000).max(1));
        }
        Ok(Window { count: window.count + 1, ..window })
    }

    /// Windows that started before this are over and can be forgotten.
    pub fn forget_before(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.window_ms)
    }
}

/// How often at most the windows that are over are forgotten. Forgetting looks at every window,
/// so it is not done at every new window: with a subject of its own for every user, each user's
/// first connect opens one, and 5000 users connecting made that quadratic.
pub const FORGET_EVERY_MS: u64 = 10_000;

/// Whether to forget the windows that started before `forget_before_ms` now, when those before
/// `last` were forgotten last (`None`: not yet).
pub fn forget_due(last: Option<u64>, forget_before_ms: u64) -> bool {
    last.is_none_or(|last| forget_before_ms >= last.saturating_add(FORGET_EVERY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_forgotten_at_the_first_new_window_then_at_most_every_forget_every_ms() {
        assert!(forget_due(None, 0), "the first new window since the hub woke");
        assert!(forget_due(None, 5_000));
        assert!(!forget_due(Some(5_000), 5_000));
        assert!(!forget_due(Some(5_000), 5_000 + FORGET_EVERY_MS - 1));
        assert!(forget_due(Some(5_000), 5_000 + FORGET_EVERY_MS));
        assert!(!forget_due(Some(u64::MAX - 1), u64::MAX - 1), "no overflow");
    }

    const LIMIT: Limit = Limit { window_ms: 60_000, max: 3 };

    #[test]
    fn allows_max_per_window() {
        let mut w = None;
        for _ in 0..3 {
            w = Some(LIMIT.admit(w, 1_000).unwrap());
        }
        assert_eq!(LIMIT.admit(w, 2_000), Err(59));
        assert_eq!(LIMIT.admit(w, 61_000), Ok(Window { start_ms: 61_000, count: 1 }), "a new window");
        assert_eq!(LIMIT.admit(None, 2_000), Ok(Window { start_ms: 2_000, count: 1 }), "another key starts afresh");
    }

    #[test]
    fn the_wait_is_at_least_a_second() {
        let full = Some(Window { start_ms: 0, count: 3 });
        assert_eq!(LIMIT.admit(full, 59_999), Err(1));
    }

    #[test]
    fn finished_windows_can_be_forgotten() {
        assert_eq!(LIMIT.forget_before(100_000), 40_000);
        assert_eq!(LIMIT.forget_before(10), 0);
    }
}
