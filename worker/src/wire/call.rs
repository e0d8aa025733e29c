//! One object's request to another, the way every call between the front worker, the hub and its
//! relays is made: a POST of a JSON body, and the answer's body read whole.

use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Method, Request, RequestInit, Response, ResponseBody, Stub};

/// POSTs `body` to `url` of the object behind `stub`.
pub(crate) async fn post(stub: &Stub, url: &str, body: String) -> Result<Response, String> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init(url, &init).map_err(|e| format!("building the request: {e}"))?;
    stub.fetch_with_request(req).await.map_err(|e| e.to_string())
}

/// The whole body of an answer, read by the runtime in one promise. (workers-rs's
/// `Response::bytes` and `text` read a streamed body chunk by chunk through wasm: the V8 profiler
/// put that at a third of the hub's time per hand-off, `npm run bench:roles`.)
pub(crate) async fn body(response: &Response) -> Result<Vec<u8>, String> {
    match response.body() {
        ResponseBody::Empty => Ok(Vec::new()),
        ResponseBody::Body(bytes) => Ok(bytes.clone()),
        ResponseBody::Stream(stream) => {
            let whole = web_sys::Response::new_with_opt_readable_stream(Some(stream)).map_err(why)?;
            let buffer = JsFuture::from(whole.array_buffer().map_err(why)?).await.map_err(why)?;
            Ok(js_sys::Uint8Array::new(&buffer).to_vec())
        }
    }
}

/// What the runtime said (a thrown string or `Error`), for the log; also the hub's and the relays'
/// socket calls' (`hub::runtime`).
pub(crate) fn why(e: JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| format!("{e:?}"))
}
