//! Any id, event name and data through the SSE frame encoder: a browser (the reference parser)
//! reads exactly one event back, with that id, the name without line breaks, and the data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orgstream_worker::wire::frame::Frame;
use orgstream_worker::wire::sse_reference::parse;

fuzz_target!(|input: (u64, String, String)| {
    let (id, event, data) = input;
    let frame = Frame::event(id, &event, &data);
    let text = std::str::from_utf8(frame.as_bytes()).unwrap();
    let parsed = parse(text);
    assert_eq!(parsed.len(), 1, "one frame, one event: {text:?}");
    let got = &parsed[0];
    assert_eq!(got.id.as_deref(), Some(id.to_string().as_str()));
    let name: String = event.chars().filter(|c| !matches!(c, '\r' | '\n' | '\0')).collect();
    assert_eq!(got.event, if name.is_empty() { "message".to_string() } else { name });
    assert_eq!(got.data, data.replace("\r\n", "\n").replace('\r', "\n"));
    // Frames never bleed into each other: two in a row are two events.
    let mut two = text.to_string();
    two.push_str(std::str::from_utf8(Frame::unnumbered("next", "x").as_bytes()).unwrap());
    assert_eq!(parse(&two).len(), 2);
});
