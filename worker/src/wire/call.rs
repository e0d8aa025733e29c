//! One object's request to another, the way every call between the front worker, the hub and its
//! relays is made: a POST of a JSON body, and the answer's body read whole.

use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, web_sys, Stub};

/// POSTs `body` to `url` of the object behind `stub`; the answer is the runtime's own response,
/// for the caller to pass on untouched or read (`body`). Built and read as the runtime's own:
/// workers-rs's `Request` reads the request's `cf` object when it wraps one, and turning its
/// `Response` back into the runtime's makes a new response that the runtime pumps the body into
/// (together about 0.15 ms of a publish to 10 subscribers, `npm run bench:roles`).
pub(crate) async fn post(stub: Stub, url: &str, body: &str) -> Result<web_sys::Response, String> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body_opt_str(Some(body));
    let req =
        web_sys::Request::new_with_str_and_init(url, &init).map_err(|e| format!("building the request: {}", why(e)))?;
    let object: worker::worker_sys::DurableObject = stub.into_rpc();
    let answer = JsFuture::from(object.fetch_with_request(&req).map_err(why)?).await.map_err(why)?;
    answer.dyn_into::<web_sys::Response>().map_err(why)
}

/// The whole body of an answer, read by the runtime in one promise. (workers-rs's
/// `Response::bytes` and `text` read a streamed body chunk by chunk through wasm: the V8 profiler
/// put that at a third of the hub's time per hand-off, `npm run bench:roles`.)
pub(crate) async fn body(response: &web_sys::Response) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(response.array_buffer().map_err(why)?).await.map_err(why)?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// What the runtime said (a thrown string or `Error`), for the log; also the hub's and the relays'
/// socket calls' (`hub::runtime`).
pub(crate) fn why(e: JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| format!("{e:?}"))
}
