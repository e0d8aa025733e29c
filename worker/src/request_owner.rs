//! Whose a request id is. A connection's `requestId` belongs to the token subject (`sub`) that
//! used it first: only that subject may open a stream with it (replacing its own stream), read
//! its targeted history, or receive what is targeted at it. Another subject is refused, and
//! nothing changes: its stream is not replaced, its targeted events are not read.
//!
//! Ownership lasts while the request id is used, and ends once it went unused for as long as
//! events are kept (nothing targeted at it is left then).

/// Another subject owns the request id.
#[derive(Debug, PartialEq, Eq)]
pub struct Taken;

/// Whether `sub` may use a request id that `owner` owns (`None`: nobody yet; the first use claims).
pub fn claim(owner: Option<&str>, sub: &str) -> Result<(), Taken> {
    match owner {
        Some(owner) if owner != sub => Err(Taken),
        _ => Ok(()),
    }
}

/// The subject a targeted event is stored for: the one the publisher named, else the request
/// id's owner at publish time, else none (then whoever owns the request id when it reads).
pub fn target_subject<'a>(named: Option<&'a str>, owner: Option<&'a str>) -> Option<&'a str> {
    named.or(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_subject_to_use_a_request_id_owns_it() {
        assert_eq!(claim(None, "ann"), Ok(()), "nobody owns it yet");
        assert_eq!(claim(Some("ann"), "ann"), Ok(()), "its owner, again (a reconnect, a replacement)");
        assert_eq!(claim(Some("ann"), "bob"), Err(Taken), "another subject");
    }

    #[test]
    fn a_targeted_event_is_for_the_named_subject_or_the_owner() {
        assert_eq!(target_subject(Some("ann"), Some("bob")), Some("ann"), "the publisher's word wins");
        assert_eq!(target_subject(None, Some("bob")), Some("bob"));
        assert_eq!(target_subject(None, None), None);
    }
}
