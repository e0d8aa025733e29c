//! The response body of a stream: the runtime's own byte pipe (`IdentityTransformStream`), held
//! by its writing end. What is written is streamed to the client by the runtime, with no Rust
//! future or JS stream callback per chunk; the pipe tells how many bytes the client has not read.

use worker::wasm_bindgen::closure::Closure;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen::{self, prelude::wasm_bindgen, JsValue};
use worker::{js_sys, web_sys};

#[wasm_bindgen]
extern "C" {
    /// The runtime's byte pipe: what is written to `writable` is what the client reads from
    /// `readable`, streamed by the runtime itself.
    #[wasm_bindgen(extends = js_sys::Object)]
    type IdentityTransformStream;
    #[wasm_bindgen(constructor, catch)]
    fn new(strategy: &JsValue) -> Result<IdentityTransformStream, JsValue>;
    #[wasm_bindgen(method, getter)]
    fn readable(this: &IdentityTransformStream) -> web_sys::ReadableStream;
    #[wasm_bindgen(method, getter)]
    fn writable(this: &IdentityTransformStream) -> web_sys::WritableStream;

    type Writer;
    #[wasm_bindgen(method, catch)]
    fn write(this: &Writer, chunk: &JsValue) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch)]
    fn close(this: &Writer) -> Result<js_sys::Promise, JsValue>;
    /// `null` once the pipe has failed (the client left).
    #[wasm_bindgen(method, catch, getter, js_name = desiredSize)]
    fn desired_size(this: &Writer) -> Result<Option<f64>, JsValue>;
}

/// The pipe's high-water mark: far above any unread bound, so that `desiredSize` is
/// `HIGH_WATER_MARK` minus the bytes written and not read yet.
const HIGH_WATER_MARK: f64 = (1u64 << 30) as f64;

/// The response body's pipe, held by its writing end.
pub struct Pipe {
    writer: Writer,
    pub readable: web_sys::ReadableStream,
    /// Settles every write's promise (a write fails when the client has left; nothing else is
    /// to be done about it, and an unsettled failure would be logged as uncaught).
    settle: Closure<dyn FnMut(JsValue)>,
}

impl Pipe {
    pub fn new() -> Result<Pipe, String> {
        let strategy = js_sys::Object::new();
        js_sys::Reflect::set(&strategy, &"highWaterMark".into(), &HIGH_WATER_MARK.into())
            .map_err(|e| format!("{e:?}"))?;
        let pipe = IdentityTransformStream::new(&strategy).map_err(|e| format!("{e:?}"))?;
        let writer = pipe.writable().get_writer().map_err(|e| format!("{e:?}"))?;
        Ok(Pipe { writer: writer.unchecked_into(), readable: pipe.readable(), settle: Closure::new(|_| {}) })
    }

    /// Writes a chunk; returns the write, which settles once the client has read it.
    pub fn write(&self, chunk: &JsValue) -> Option<js_sys::Promise> {
        let written = self.writer.write(chunk).ok()?;
        Some(written.catch(&self.settle))
    }

    /// Ends the body after everything written.
    pub fn close(&self) {
        if let Ok(closed) = self.writer.close() {
            let _ = closed.catch(&self.settle);
        }
    }

    /// Bytes written that the client has not read; `None` once the client cannot read any more.
    /// When the client leaves, the runtime errors the pipe (`desiredSize` is `null`) or, when it
    /// drops the response first, closes it (`desiredSize` is 0, which an open pipe never reaches:
    /// the unread bounds are far below the high-water mark).
    pub fn unread(&self) -> Option<usize> {
        match self.writer.desired_size() {
            Ok(Some(desired)) if desired > 0.0 => Some((HIGH_WATER_MARK - desired) as usize),
            Ok(_) => None,
            Err(e) => {
                worker::console_error!("reading a stream's pipe failed: {e:?}");
                None
            }
        }
    }
}
