//! On-connect observers: run, in registration order, when a connection opens (after its replay).
//! Each may hand frames to the new connection. One that fails is logged and skipped; the
//! connection and the other observers carry on.

use schema_wasm::RequestId;

use crate::wire::frame::Frame;

/// What an observer knows about the connection that just opened.
pub struct Connected<'a> {
    pub request_id: Option<&'a RequestId>,
    /// The token's subject.
    pub sub: &'a str,
}

pub trait Observer {
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// Frames for the new connection, or why none could be made.
    fn on_connect(&self, connected: &Connected<'_>) -> Result<Vec<Frame>, String>;
}

/// Runs every observer; returns the frames to send, in order, and the failures as `(name, why)`.
pub fn run(observers: &[&dyn Observer], connected: &Connected<'_>) -> (Vec<Frame>, Vec<(&'static str, String)>) {
    let mut frames = Vec::new();
    let mut failures = Vec::new();
    for observer in observers {
        match observer.on_connect(connected) {
            Ok(more) => frames.extend(more),
            Err(why) => failures.push((observer.name(), why)),
        }
    }
    (frames, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Says(&'static str);
    impl Observer for Says {
        fn name(&self) -> &'static str {
            self.0
        }
        fn on_connect(&self, _: &Connected<'_>) -> Result<Vec<Frame>, String> {
            Ok(vec![Frame::unnumbered(self.0, "{}")])
        }
    }

    struct Fails;
    impl Observer for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        fn on_connect(&self, _: &Connected<'_>) -> Result<Vec<Frame>, String> {
            Err("storage unavailable".into())
        }
    }

    #[test]
    fn observers_run_in_order_and_a_failing_one_is_skipped() {
        let (a, b) = (Says("a"), Says("b"));
        let observers: [&dyn Observer; 3] = [&a, &Fails, &b];
        let (frames, failures) = run(&observers, &Connected { request_id: None, sub: "s" });
        let names: Vec<String> = frames
            .iter()
            .map(|f| String::from_utf8(f.as_bytes().to_vec()).unwrap().lines().next().unwrap().to_string())
            .collect();
        assert_eq!(names, vec!["event: a", "event: b"]);
        assert_eq!(failures, vec![("fails", "storage unavailable".to_string())]);
    }
}
