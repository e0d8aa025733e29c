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

/// Who may see a targeted event (or a request id's pending version), once it is known to be for
/// the reader's request id: anyone reading as that id's owner, unless the event names a subject,
/// then only that subject. Live fan-out compares subjects as sockets are tagged (`SubTag`),
/// history and replay compare them in SQL (`may_see_sql!`, the same rule over a row's
/// `target_sub` and the reader's subject).
pub fn may_see<S: PartialEq + ?Sized>(named: Option<&S>, reader: &S) -> bool {
    named.is_none_or(|named| named == reader)
}

/// `may_see` in SQL: true for a row whose `target_sub` is `NULL` or the reader's subject (the one
/// parameter). A macro, so that queries can `concat!` it.
macro_rules! may_see_sql {
    () => {
        "(target_sub IS NULL OR target_sub = ?)"
    };
}
pub(crate) use may_see_sql;

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
    fn a_targeted_event_is_seen_by_the_subject_it_names_or_by_any_reader_of_its_id() {
        assert!(may_see(Some("ann"), "ann"));
        assert!(!may_see(Some("ann"), "bob"));
        assert!(may_see(None, "bob"), "names nobody: whoever reads as the id's owner");
        assert_eq!(may_see_sql!(), "(target_sub IS NULL OR target_sub = ?)");
    }

    #[test]
    fn a_targeted_event_is_for_the_named_subject_or_the_owner() {
        assert_eq!(target_subject(Some("ann"), Some("bob")), Some("ann"), "the publisher's word wins");
        assert_eq!(target_subject(None, Some("bob")), Some("bob"));
        assert_eq!(target_subject(None, None), None);
    }
}
