//! What the front worker replies to a client: the org's hub's answer passed on as the runtime gave
//! it, or a response made here.

use worker::wasm_bindgen::JsValue;
use worker::{web_sys, Response};

pub(crate) enum Reply {
    /// The hub's answer, untouched: turning it into workers-rs's `Response` and back would make a
    /// new response that the runtime pumps the body into (`wire::call::post`).
    Hub(web_sys::Response),
    /// A response made by the front worker.
    Made(Response),
}

impl Reply {
    /// As the runtime's response, to reply with.
    pub(crate) fn into_raw(self) -> web_sys::Response {
        match self {
            Reply::Hub(raw) => raw,
            Reply::Made(response) => response.into(),
        }
    }

    /// As the runtime's response with `extra` headers set (a cross-origin reply); the body is
    /// the same stream. Built with the runtime's own calls, each of which returns its error
    /// (workers-rs's conversions unwrap them). A socket's `101` is replied as it is.
    pub(crate) fn with_headers(self, extra: &[(&'static str, String)]) -> Result<web_sys::Response, JsValue> {
        let raw = self.into_raw();
        if raw.status() == 101 {
            return Ok(raw);
        }
        let headers = web_sys::Headers::new_with_headers(&raw.headers())?;
        for (name, value) in extra {
            headers.set(name, value)?;
        }
        let init = web_sys::ResponseInit::new();
        init.set_status(raw.status());
        init.set_status_text(&raw.status_text());
        init.set_headers(&headers);
        web_sys::Response::new_with_opt_readable_stream_and_init(raw.body().as_ref(), &init)
    }
}
