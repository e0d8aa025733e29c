//! Where a relay is in the org's ids, and what a hand-off does to it (pure).

/// What a relay does with a hand-off that follows id `after`.
#[derive(Debug, PartialEq, Eq)]
pub struct Taking {
    /// Close every stream first (they resume from the hub's log): the relay missed events (the
    /// hand-off follows an id past where it is: `restart` says the hub knows, the log no longer
    /// holding them), or it just woke and the hub says events may be missing.
    pub restart_streams: bool,
    /// Send only the events after this id.
    pub base: u64,
}

/// `at`: the relay's position (`None`: it just woke and knows nothing; it takes the hub's word).
/// A relay at `after` or past it missed nothing, whatever `restart` says (the hub does not know
/// each relay's position after it restarted, and marks every hand-off past a gap).
pub fn take(at: Option<u64>, after: u64, restart: bool) -> Taking {
    match at {
        Some(at) if after <= at => Taking { restart_streams: false, base: at },
        Some(_) => Taking { restart_streams: true, base: after },
        None => Taking { restart_streams: restart, base: after },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_off_is_sent_past_the_position_only() {
        assert_eq!(take(Some(5), 5, false), Taking { restart_streams: false, base: 5 }, "the next one");
        assert_eq!(
            take(Some(9), 5, false),
            Taking { restart_streams: false, base: 9 },
            "handed again: 6..=9 not resent"
        );
    }

    #[test]
    fn a_missed_hand_off_or_the_hubs_word_restarts_the_streams() {
        assert_eq!(take(Some(5), 7, false), Taking { restart_streams: true, base: 7 }, "6 and 7 were missed");
        assert_eq!(take(Some(5), 7, true), Taking { restart_streams: true, base: 7 });
        assert_eq!(take(None, 7, true), Taking { restart_streams: true, base: 7 });
    }

    #[test]
    fn a_relay_at_or_past_the_gap_the_hub_marks_goes_on() {
        assert_eq!(take(Some(7), 7, true), Taking { restart_streams: false, base: 7 }, "it has 7");
        assert_eq!(take(Some(9), 7, true), Taking { restart_streams: false, base: 9 });
    }

    #[test]
    fn a_relay_that_just_woke_takes_the_hubs_word() {
        assert_eq!(take(None, 7, false), Taking { restart_streams: false, base: 7 });
    }
}
