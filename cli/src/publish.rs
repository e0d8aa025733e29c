//! A publish body checked against the catalog here, before it is sent: the same checks the worker
//! makes (`schema-wasm`, compiled natively), so a mistake is told with its path without a round trip.

use schema_wasm::parse_published;
use serde_json::value::RawValue;

use crate::failure::Failure;

/// The events of `body` (one event, or `{"events": [...]}`), or every problem with them.
pub fn check(body: &str) -> Result<usize, Failure> {
    #[derive(serde::Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    let events: Vec<&str> = match serde_json::from_str::<Batch<'_>>(body) {
        Ok(batch) => batch.events.into_iter().map(RawValue::get).collect(),
        Err(_) => vec![body],
    };
    let problems: Vec<String> = events
        .iter()
        .enumerate()
        .filter_map(|(index, event)| {
            parse_published(event).err().map(|e| {
                let at = if e.path.is_empty() { "the root".to_string() } else { e.path.clone() };
                format!("event {index} is invalid at {at}: {} ({})", e.message, e.code.as_str())
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(events.len())
    } else {
        Err(Failure::Invalid(format!("{}\nnothing was sent", problems.join("\n"))))
    }
}

/// `{"type", "data"}` from `--type` and `--data`, the data as written.
pub fn one_event(type_name: &str, data: &str) -> Result<String, Failure> {
    let data: Box<RawValue> = serde_json::from_str(data).map_err(|e| {
        Failure::Invalid(format!("--data is not JSON ({e}); quote it, e.g. --data '{{\"taskId\":\"t1\"}}'"))
    })?;
    let type_name =
        serde_json::to_string(type_name).map_err(|e| Failure::Usage(format!("cannot write the event: {e}")))?;
    Ok(format!(r#"{{"type":{type_name},"data":{}}}"#, data.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_checked_event_by_event() {
        let good = r#"{"type":"task.progress","data":{"taskId":"t","progress":0.5}}"#;
        assert_eq!(check(good).ok(), Some(1));
        assert_eq!(check(&format!(r#"{{"events":[{good},{good}]}}"#)).ok(), Some(2));
        let bad = good.replace("0.5", "2");
        let Err(Failure::Invalid(message)) = check(&format!(r#"{{"events":[{good},{bad}]}}"#)) else {
            panic!("a bad event is refused");
        };
        assert!(message.starts_with("event 1 is invalid at /data/progress"), "{message}");
        let Err(Failure::Invalid(message)) = check(r#"{"type":"task.progres","data":{}}"#) else {
            panic!("an unknown type is refused");
        };
        assert!(message.contains("is not an event type of the catalog"), "{message}");
    }

    #[test]
    fn one_event_from_flags() {
        let body = one_event("task.completed", r#"{"taskId":"t"}"#).ok();
        assert_eq!(body.as_deref(), Some(r#"{"type":"task.completed","data":{"taskId":"t"}}"#));
        assert!(matches!(one_event("task.completed", "{nope"), Err(Failure::Invalid(_))));
    }
}
