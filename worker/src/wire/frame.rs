//! Server-Sent Events frames, encoded once and shared by every connection.
//!
//! No input can add a field or split a frame: `data` is written one `data:` line per line of the
//! value (the browser joins them back with `\n`), and `id`/`event`/comment text lose any CR, LF or
//! NUL (our ids are digits and our names come from the catalog, so this never changes a real value).

use std::rc::Rc;

/// One or more complete SSE frames, ready to write to the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(Rc<[u8]>);

impl Frame {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An event with an id: `id:`, `event:`, `data:`, blank line.
    pub fn event(id: u64, event: &str, data: &str) -> Frame {
        let mut out = String::with_capacity(data.len() + event.len() + 32);
        push_field(&mut out, "id", &id.to_string());
        push_field(&mut out, "event", event);
        push_data(&mut out, data);
        out.push('\n');
        Frame(Rc::from(out.into_bytes()))
    }

    /// An event without an id (it does not move the client's Last-Event-ID).
    pub fn unnumbered(event: &str, data: &str) -> Frame {
        let mut out = String::with_capacity(data.len() + event.len() + 16);
        push_field(&mut out, "event", event);
        push_data(&mut out, data);
        out.push('\n');
        Frame(Rc::from(out.into_bytes()))
    }

    /// A frame the hub built, handed to one of its relays as text (`relay_api::Delivered`).
    pub fn handed(text: String) -> Frame {
        Frame(Rc::from(text.into_bytes()))
    }

    /// The start of every stream: the reconnection hint and a comment, so the client sees bytes at once.
    pub fn opening(retry_ms: u64) -> Frame {
        Frame(Rc::from(format!("retry: {retry_ms}\n:ok\n\n").into_bytes()))
    }

    /// A heartbeat: the `:heartbeat` comment, then a `heartbeat` event native EventSource can see.
    pub fn heartbeat(ts: &str) -> Frame {
        let mut out = String::from(":heartbeat\n\n");
        let data = serde_json::json!({ "ts": ts }).to_string();
        push_field(&mut out, "event", schema_wasm::ServerFrame::Heartbeat.name());
        push_data(&mut out, &data);
        out.push('\n');
        Frame(Rc::from(out.into_bytes()))
    }
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.extend(value.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')));
    out.push('\n');
}

fn push_data(out: &mut String, data: &str) {
    // Split on CRLF, CR and LF alike: the three line ends of the SSE grammar.
    let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::sse_reference::parse;
    use proptest::prelude::*;

    fn text(f: &Frame) -> String {
        String::from_utf8(f.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn event_frame_layout() {
        let f = Frame::event(42, "change.detected", r#"{"a":1}"#);
        assert_eq!(text(&f), "id: 42\nevent: change.detected\ndata: {\"a\":1}\n\n");
    }

    #[test]
    fn opening_and_heartbeat() {
        assert_eq!(text(&Frame::opening(1000)), "retry: 1000\n:ok\n\n");
        let hb = text(&Frame::heartbeat("2026-11-25T07:00:00.000Z"));
        assert!(hb.starts_with(":heartbeat\n\n"));
        let parsed = parse(&hb);
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].event, "heartbeat");
        assert_eq!(parsed[0].id, None);
        assert_eq!(parsed[0].data, r#"{"ts":"2026-11-25T07:00:00.000Z"}"#);
    }

    #[test]
    fn newlines_in_data_cannot_start_a_field() {
        let f = Frame::event(1, "x", "a\n\nid: 999\nevent: evil\r\ndata: b\rc");
        let parsed = parse(&text(&f));
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].id.as_deref(), Some("1"));
        assert_eq!(parsed[0].event, "x");
        assert_eq!(parsed[0].data, "a\n\nid: 999\nevent: evil\ndata: b\nc");
    }

    proptest! {
        #[test]
        fn any_input_is_exactly_one_event(event in "[^\r\n\0]{1,20}|.{0,20}", data in ".{0,200}", id in any::<u64>()) {
            let f = Frame::event(id, &event, &data);
            let parsed = parse(&text(&f));
            prop_assert_eq!(parsed.len(), 1);
            let want_data = data.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(&parsed[0].data, &want_data);
            prop_assert_eq!(parsed[0].id.clone(), Some(id.to_string()));
            let want_event: String = event.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect();
            let want_event = if want_event.is_empty() { "message".to_string() } else { want_event };
            prop_assert_eq!(&parsed[0].event, &want_event);
        }

        #[test]
        fn frames_concatenate_without_bleeding(a in ".{0,50}", b in ".{0,50}") {
            let mut wire = text(&Frame::event(1, "a", &a));
            wire.push_str(&text(&Frame::unnumbered("b", &b)));
            let parsed = parse(&wire);
            prop_assert_eq!(parsed.len(), 2);
            prop_assert_eq!(parsed[1].id.clone(), Some("1".to_string()), "an unnumbered frame keeps the last id");
            prop_assert_eq!(&parsed[1].event, "b");
        }
    }
}
