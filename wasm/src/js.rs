//! Small helpers between JS values and Rust: option objects, ids, the
//! global scope and yielding to the event loop.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::errors::invalid_argument;

/// The largest id JS numbers hold exactly (2^53 - 1).
pub(crate) const MAX_SAFE_ID: f64 = 9_007_199_254_740_991.0;

/// A property of an options object; `undefined` and `null` count as absent,
/// and so does every property when `options` itself is absent.
pub(crate) fn opt(options: &JsValue, key: &str) -> Result<Option<JsValue>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(invalid_argument("options must be an object"));
    }
    let v = Reflect::get(options, &key.into())?;
    Ok((!v.is_undefined() && !v.is_null()).then_some(v))
}

/// A non-negative integer option.
pub(crate) fn opt_usize(options: &JsValue, key: &str) -> Result<Option<usize>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(to_usize(&v, key)?)),
    }
}

pub(crate) fn to_usize(v: &JsValue, what: &str) -> Result<usize, JsValue> {
    match v.as_f64() {
        Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_ID => Ok(x as usize),
        _ => Err(invalid_argument(format!(
            "`{what}` must be a non-negative integer, got {}",
            describe(v)
        ))),
    }
}

pub(crate) fn opt_u64(options: &JsValue, key: &str) -> Result<Option<u64>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(to_id(&v, key)?)),
    }
}

pub(crate) fn opt_f64(options: &JsValue, key: &str) -> Result<Option<f64>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| invalid_argument(format!("`{key}` must be a finite number"))),
    }
}

pub(crate) fn opt_string(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| invalid_argument(format!("`{key}` must be a string"))),
    }
}

pub(crate) fn opt_function(options: &JsValue, key: &str) -> Result<Option<Function>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|_| invalid_argument(format!("`{key}` must be a function"))),
    }
}

/// A user id: a JS number that is a non-negative integer up to 2^53 - 1,
/// or a BigInt that fits in 64 bits.
pub(crate) fn to_id(v: &JsValue, what: &str) -> Result<u64, JsValue> {
    if let Some(x) = v.as_f64() {
        if x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_ID {
            return Ok(x as u64);
        }
    } else if v.is_bigint()
        && let Ok(x) = u64::try_from(v.clone())
    {
        return Ok(x);
    }
    Err(invalid_argument(format!(
        "`{what}` must be an integer from 0 to 2^53 - 1 (or a BigInt below 2^64), got {}",
        describe(v)
    )))
}

/// The one type an index gives its ids back as, chosen when it is created
/// or opened (the `idType` option): JS numbers, which hold ids up to
/// 2^53 - 1 exactly, or BigInts, which hold every u64.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IdType {
    Number,
    BigInt,
}

impl IdType {
    /// The `idType` option ("number" or "bigint"; default "number").
    pub(crate) fn parse(options: &JsValue) -> Result<IdType, JsValue> {
        match opt_string(options, "idType")?.as_deref() {
            None | Some("number") => Ok(IdType::Number),
            Some("bigint") => Ok(IdType::BigInt),
            Some(other) => Err(invalid_argument(format!(
                "unknown idType \"{other}\": use \"number\" or \"bigint\""
            ))),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            IdType::Number => "number",
            IdType::BigInt => "bigint",
        }
    }

    /// An id as this index gives it back.
    pub(crate) fn value(self, id: u64) -> JsValue {
        match self {
            // Ids above 2^53 - 1 never get into a "number" index.
            IdType::Number => JsValue::from_f64(id as f64),
            IdType::BigInt => js_sys::BigInt::from(id).into(),
        }
    }

    /// Refuse an id this index could not give back exactly.
    pub(crate) fn admit(self, id: u64) -> Result<u64, JsValue> {
        if self == IdType::Number && id as f64 > MAX_SAFE_ID {
            return Err(invalid_argument(format!(
                "id {id} is above 2^53 - 1, which a JS number cannot hold: create or open the \
                 index with {{ idType: \"bigint\" }}"
            )));
        }
        Ok(id)
    }
}

/// A short description of a JS value for error messages.
pub(crate) fn describe(v: &JsValue) -> String {
    if let Some(s) = v.as_string() {
        let short: String = s.chars().take(40).collect();
        format!("the string \"{short}\"")
    } else if let Some(x) = v.as_f64() {
        // JS formats the number (Rust's float formatting would add size).
        js_sys::Number::from(x)
            .to_string_with_radix(10)
            .map(String::from)
            .unwrap_or_else(|_| "a number".into())
    } else if v.is_undefined() {
        "undefined".into()
    } else if v.is_null() {
        "null".into()
    } else {
        String::from(js_sys::JsString::from(v.js_typeof()))
    }
}

/// Set `key` on `obj` (a plain object we created, so this cannot fail).
pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &key.into(), &value.into());
}

/// The global object: `window`, a worker's `self`, or Node's `globalThis`.
pub(crate) fn global() -> Object {
    js_sys::global()
}

/// Whether the code runs in a dedicated worker (where OPFS sync access
/// handles exist).
pub(crate) fn in_dedicated_worker() -> bool {
    global().is_instance_of::<web_sys::DedicatedWorkerGlobalScope>()
}

/// Let the event loop run (timers, messages, an `AbortSignal`'s abort)
/// before going on: a macrotask turn through `setTimeout(0)`.
pub(crate) async fn yield_now() -> Result<(), JsValue> {
    let set_timeout: Function = Reflect::get(&global(), &"setTimeout".into())?.dyn_into()?;
    let promise = Promise::new(&mut |resolve, _reject| {
        let _ = set_timeout.call2(&JsValue::NULL, &resolve, &JsValue::from(0));
    });
    JsFuture::from(promise).await?;
    Ok(())
}

/// Milliseconds from `performance.now()` (fine-grained and monotonic), or
/// `Date.now()` where there is no `performance`.
pub(crate) fn now_ms() -> f64 {
    Reflect::get(&global(), &"performance".into())
        .ok()
        .filter(|p| p.is_object())
        .and_then(|p| call_method(&p, "now", &[]).ok())
        .and_then(|t| t.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}

/// Await a JS promise held as a value.
pub(crate) async fn await_value(v: JsValue) -> Result<JsValue, JsValue> {
    JsFuture::from(Promise::resolve(&v)).await
}

/// Call `obj[method](...args)`.
pub(crate) fn call_method(
    obj: &JsValue,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, JsValue> {
    let f: Function = Reflect::get(obj, &method.into())?
        .dyn_into()
        .map_err(|_| invalid_argument(format!("`{method}` is not a function here")))?;
    let arr = js_sys::Array::new();
    for a in args {
        arr.push(a);
    }
    f.apply(obj, &arr)
}
