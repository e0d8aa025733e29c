//! A reference SSE parser, written from the WHATWG "event stream interpretation" rules, to check
//! what `frame` encodes: used by the unit tests and the fuzz targets (`fuzz/`), never by the worker.

/// One dispatched event.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// The events a browser would dispatch for `stream`.
pub fn parse(stream: &str) -> Vec<Parsed> {
    let mut events = Vec::new();
    let (mut id, mut event, mut data, mut has_data) = (None, String::new(), String::new(), false);
    let normalized = stream.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.is_empty() {
            if has_data {
                if data.ends_with('\n') {
                    data.pop();
                }
                let ev = if event.is_empty() { "message".to_string() } else { event.clone() };
                events.push(Parsed { id: id.clone(), event: ev, data: std::mem::take(&mut data) });
            }
            event.clear();
            data.clear();
            has_data = false;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "event" => event = value.to_string(),
            "data" => {
                data.push_str(value);
                data.push('\n');
                has_data = true;
            }
            "id" if !value.contains('\0') => id = Some(value.to_string()),
            _ => {}
        }
    }
    events
}
