//! The fixture corpus on the host: tolerant envelope validation (what the browser runs) and strict
//! publish validation (what the worker runs) must both accept every valid case and refuse every
//! invalid one at the expected path with the expected code.

mod common;

use schema_wasm::{parse_published, validate_envelope, EVENT_TYPES};

#[test]
fn corpus_covers_every_type_with_enough_cases() {
    let (valid, invalid) = common::load();
    for t in EVENT_TYPES {
        assert!(valid.iter().filter(|c| c.type_name == *t).count() >= 5, "{t}: at least 5 valid cases");
        assert!(invalid.iter().filter(|c| c.type_name == *t).count() >= 5, "{t}: at least 5 invalid cases");
    }
}

#[test]
fn valid_cases_pass_both_ways() {
    let (valid, _) = common::load();
    for c in &valid {
        assert_eq!(
            validate_envelope(&c.envelope),
            Ok(EVENT_TYPES.iter().copied().find(|t| *t == c.type_name).unwrap()),
            "{}",
            c.envelope
        );
        let published = parse_published(&c.publish).unwrap_or_else(|e| panic!("{}: {e}", c.publish));
        assert_eq!(published.type_name, c.type_name);
    }
}

#[test]
fn invalid_cases_fail_at_the_expected_path_both_ways() {
    let (_, invalid) = common::load();
    let mut wrong = Vec::new();
    for c in &invalid {
        let runs = [
            ("envelope", validate_envelope(&c.envelope).map(|_| ())),
            ("publish", parse_published(&c.publish).map(|_| ())),
        ];
        for (way, result) in runs {
            match result {
                Ok(()) => wrong.push(format!("{} / {}: {way} accepted", c.type_name, c.name)),
                Err(e) if (e.path.as_str(), e.code.as_str()) != (c.path.as_str(), c.code.as_str()) => {
                    wrong.push(format!(
                        "{} / {}: {way} gave {} {} ({}), expected {} {}",
                        c.type_name, c.name, e.path, e.code, e.message, c.path, c.code
                    ))
                }
                Err(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{} mismatches:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn reading_tolerates_fields_added_later_but_publishing_does_not() {
    let envelope = r#"{"id":"1","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e","retryable":true},"newTopLevel":1}"#;
    assert_eq!(validate_envelope(envelope), Ok("task.failed"));
    let e =
        parse_published(r#"{"type":"task.failed","data":{"taskId":"t","error":"e","retryable":true}}"#).unwrap_err();
    assert_eq!(e.path, "/data/retryable");
}

#[test]
fn envelope_fields_are_checked() {
    for (bad, path) in [
        (r#"{"id":"01","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e"}}"#, "/id"),
        (r#"{"id":42,"type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e"}}"#, "/id"),
        (r#"{"id":"1","type":"task.failed","ts":"soon","data":{"taskId":"t","error":"e"}}"#, "/ts"),
        (r#"{"id":"1","type":"task.failed","ts":"2026-11-25T07:00:00Z"}"#, "/data"),
        (
            r#"{"id":"1","type":"task.failed","ts":"2026-11-25T07:00:00Z","data":{"taskId":"t","error":"e"},"target":{"requestId":""}}"#,
            "/target/requestId",
        ),
    ] {
        assert_eq!(validate_envelope(bad).unwrap_err().path, path, "{bad}");
    }
}
