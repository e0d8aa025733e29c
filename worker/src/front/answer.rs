//! What the front worker answers a client: the org's hub's answer passed on as the runtime gave
//! it, or one made here.

use worker::{web_sys, Response};

pub(crate) enum Answer {
    /// The hub's answer, untouched: turning it into workers-rs's `Response` and back would make a
    /// new response that the runtime pumps the body into (`wire::call::post`).
    Hub(web_sys::Response),
    /// An answer made by the front worker.
    Made(Response),
}

impl From<Response> for Answer {
    fn from(response: Response) -> Answer {
        Answer::Made(response)
    }
}

impl Answer {
    /// As workers-rs's `Response`, to change (a cross-origin answer's headers).
    pub(crate) fn into_response(self) -> Response {
        match self {
            Answer::Hub(raw) => Response::from(raw),
            Answer::Made(response) => response,
        }
    }

    /// As the runtime's response, to answer with.
    pub(crate) fn into_raw(self) -> web_sys::Response {
        match self {
            Answer::Hub(raw) => raw,
            Answer::Made(response) => response.into(),
        }
    }
}
