//! `orgstream tail`: follows an org's stream and prints each event, resuming by id after every
//! drop (a restart of the worker, a network cut, `stream.overflow`), with a fresh token when the
//! stream's expires (`stream.expired`), and saying so when the org's log no longer holds what came
//! after the last id (`stream.reset`).

use std::collections::HashSet;
use std::io::{Read, Write};

use std::time::Duration;

use schema_wasm::{validate_envelope, ResyncInfo, ServerFrame};
use sse_parse::{Event, SseParser};

use crate::api::Api;
use crate::failure::{emit, Failure};

/// How `tail` prints and when it stops.
pub struct Tail {
    /// Resume after this id (`--since`); none: live.
    pub since: Option<String>,
    /// Print each envelope as JSON, one per line; else `<id> <type> <data>`.
    pub json: bool,
    /// Stop after this many events (none: follow until stopped).
    pub count: Option<u64>,
}

/// What one event of the stream means for the follower.
enum Step {
    Print(String, String),
    Skip,
    Resync(ResyncInfo),
    Reconnect,
}

fn step(event: &Event) -> Step {
    match event.event.as_str() {
        name if name == ServerFrame::Heartbeat.name() => Step::Skip,
        name if name == ServerFrame::Reset.name() => match serde_json::from_str::<ResyncInfo>(&event.data) {
            Ok(info) => Step::Resync(info),
            Err(_) => Step::Reconnect,
        },
        // stream.expired, stream.replaced, stream.overflow: connect again from the last id.
        name if name.starts_with("stream.") => Step::Reconnect,
        _ => Step::Print(event.id.clone(), event.data.clone()),
    }
}

/// Follows the stream; `api` gives a client with a fresh token for each connection.
pub fn follow(api: &dyn Fn() -> Result<Api, Failure>, tail: &Tail, out: &mut dyn Write) -> Result<(), Failure> {
    let mut last = tail.since.clone();
    let mut printed = 0u64;
    // Connections in a row that delivered no event: the wait before the next grows with them.
    let mut idle = 0u32;
    // Notices without an id (the pending version, sent on every connect): printed once each.
    let mut notices = HashSet::new();
    loop {
        if idle > 0 {
            std::thread::sleep(Duration::from_millis(250 * u64::from(idle.min(40))));
        }
        idle += 1;
        let reader = match api().and_then(|api| api.stream(last.as_deref())) {
            Ok(reader) => reader,
            Err(Failure::Unavailable(why)) => {
                eprintln!("orgstream tail: {why}; trying again");
                continue;
            }
            Err(Failure::Refused { status: 429, message, .. }) => {
                eprintln!("orgstream tail: {message}; waiting before connecting again");
                std::thread::sleep(Duration::from_secs(5));
                continue;
            }
            Err(other) => return Err(other),
        };
        let mut parser = SseParser::new();
        let mut chunks = std::io::BufReader::new(reader).bytes();
        let mut buffer = Vec::with_capacity(4096);
        // A line at a time from the buffered reader; a read error or the end: connect again.
        'read: while let Some(Ok(byte)) = chunks.next() {
            buffer.push(byte);
            if byte != b'\n' {
                continue;
            }
            parser.feed(&buffer);
            buffer.clear();
            while let Some(event) = parser.next_event() {
                match step(&event) {
                    Step::Skip => {}
                    Step::Reconnect => break 'read,
                    Step::Resync(info) => {
                        eprintln!(
                            "orgstream tail: the org's log no longer holds what came after {} ({}); going on from {}",
                            last.as_deref().unwrap_or("the start"),
                            serde_json::to_string(&info.reason).unwrap_or_default(),
                            info.latest_id.as_deref().unwrap_or("the start")
                        );
                        last = info.latest_id;
                    }
                    Step::Print(id, data) => {
                        if let Err(e) = validate_envelope(&data) {
                            eprintln!(
                                "orgstream tail: event {id:?} does not fit the catalog ({e}); printed as it came"
                            );
                        }
                        // A notice without an id moves nothing and is not counted; once is enough.
                        if id.is_empty() && !notices.insert(data.clone()) {
                            continue;
                        }
                        emit(out, &if tail.json { data } else { summary(&data) })?;
                        if id.is_empty() {
                            continue;
                        }
                        last = Some(id);
                        idle = 0;
                        printed += 1;
                        if tail.count.is_some_and(|n| printed >= n) {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// An envelope as a line: `<id> <type> <data as sent>`.
pub fn summary(envelope: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        type_name: &'a str,
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    match serde_json::from_str::<Envelope<'_>>(envelope) {
        Ok(e) => format!("{} {} {}", e.id, e.type_name, e.data.get()),
        Err(_) => envelope.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, id: &str, data: &str) -> Event {
        let mut parser = SseParser::new();
        parser.feed(format!("id: {id}\nevent: {name}\ndata: {data}\n\n").as_bytes());
        parser.next_event().unwrap_or_else(|| Event {
            event: String::new(),
            data: String::new(),
            id: String::new(),
            retry: None,
        })
    }

    #[test]
    fn frames_mean_what_the_protocol_says() {
        assert!(matches!(step(&event("heartbeat", "", "{}")), Step::Skip));
        assert!(matches!(step(&event("stream.expired", "", "{}")), Step::Reconnect));
        assert!(matches!(step(&event("stream.overflow", "", "{}")), Step::Reconnect));
        let reset = r#"{"reason":"history_gap","earliestId":"5","latestId":"9"}"#;
        assert!(
            matches!(step(&event("stream.reset", "", reset)), Step::Resync(ResyncInfo { latest_id: Some(ref l), .. }) if l == "9")
        );
        assert!(matches!(step(&event("task.progress", "3", "{}")), Step::Print(ref id, _) if id == "3"));
    }

    #[test]
    fn a_line_per_event() {
        let envelope = r#"{"id":"3","type":"task.completed","ts":"2026-12-03T00:00:00Z","data":{"taskId":"t"}}"#;
        assert_eq!(summary(envelope), r#"3 task.completed {"taskId":"t"}"#);
    }
}
