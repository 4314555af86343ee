//! Small helpers between JS values and Rust: option objects, ids, the
//! global scope and yielding to the event loop.

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::errors::{invalid_argument, type_error};

/// The largest id JS numbers hold exactly (2^53 - 1).
pub(crate) const MAX_SAFE_ID: f64 = 9_007_199_254_740_991.0;

/// A property of an options object; `undefined` and `null` count as absent,
/// and so does every property when `options` itself is absent.
pub(crate) fn opt(options: &JsValue, key: &str) -> Result<Option<JsValue>, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(None);
    }
    if !options.is_object() {
        return Err(type_error(format!(
            "options must be an object, got {}",
            describe(options)
        )));
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
        None => Err(type_error(format!(
            "`{what}` must be a number, got {}",
            describe(v)
        ))),
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
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() => Ok(Some(x)),
            Some(_) => Err(invalid_argument(format!("`{key}` must be a finite number"))),
            None => Err(type_error(format!(
                "`{key}` must be a number, got {}",
                describe(&v)
            ))),
        },
    }
}

/// A boolean option.
pub(crate) fn opt_bool(options: &JsValue, key: &str) -> Result<Option<bool>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or_else(|| {
            type_error(format!(
                "`{key}` must be true or false, got {}",
                describe(&v)
            ))
        }),
    }
}

pub(crate) fn opt_string(options: &JsValue, key: &str) -> Result<Option<String>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v
            .as_string()
            .map(Some)
            .ok_or_else(|| type_error(format!("`{key}` must be a string, got {}", describe(&v)))),
    }
}

pub(crate) fn opt_function(options: &JsValue, key: &str) -> Result<Option<Function>, JsValue> {
    match opt(options, key)? {
        None => Ok(None),
        Some(v) => v
            .dyn_into::<Function>()
            .map(Some)
            .map_err(|v| type_error(format!("`{key}` must be a function, got {}", describe(&v)))),
    }
}

/// A user id: a JS number that is a non-negative integer up to 2^53 - 1,
/// or a BigInt that fits in 64 bits.
pub(crate) fn to_id(v: &JsValue, what: &str) -> Result<u64, JsValue> {
    if let Some(x) = v.as_f64() {
        if x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_ID {
            return Ok(x as u64);
        }
    } else if v.is_bigint() {
        if let Ok(x) = u64::try_from(v.clone()) {
            return Ok(x);
        }
    } else {
        return Err(type_error(format!(
            "`{what}` must be a number or a BigInt, got {}",
            describe(v)
        )));
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

/// Refuse option names `options` has beyond `known` (a misspelt option
/// would otherwise be ignored): a `TypeError` naming it, and the known
/// one it is closest to.
pub(crate) fn check_keys(options: &JsValue, call: &str, known: &[&str]) -> Result<(), JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(());
    }
    if !options.is_object() || options.is_function() || js_sys::Array::is_array(options) {
        return Err(type_error(format!(
            "{call}: options must be an object, got {}",
            describe(options)
        )));
    }
    for key in Object::keys(options.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if known.contains(&key.as_str()) {
            continue;
        }
        let near = known
            .iter()
            .map(|k| (edit_distance(&key, k), *k))
            .filter(|&(d, _)| d <= 2)
            .min();
        let hint = match near {
            Some((_, k)) => format!(" (did you mean `{k}`?)"),
            None => format!(" (it takes {})", list(known)),
        };
        return Err(type_error(format!("{call}: unknown option `{key}`{hint}")));
    }
    Ok(())
}

fn list(known: &[&str]) -> String {
    if known.is_empty() {
        return "no options".into();
    }
    known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Levenshtein distance of two short option names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != cb));
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[wasm_bindgen::prelude::wasm_bindgen(inline_js = r#"
export function firstNonNumber(a) {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== "number") return i;
  return -1;
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = firstNonNumber)]
    fn first_non_number(a: &js_sys::Array) -> i32;
}

/// Vector data JS passes: a `Float32Array` (copied as it is), another
/// numeric typed array or an array of numbers (converted). Anything else,
/// an array holding a string included, is a `TypeError` naming `what`.
pub(crate) fn to_f32s(v: &JsValue, what: &str) -> Result<Vec<f32>, JsValue> {
    if let Some(a) = v.dyn_ref::<js_sys::Float32Array>() {
        return Ok(a.to_vec());
    }
    if let Some(a) = v.dyn_ref::<js_sys::Array>() {
        let bad = first_non_number(a);
        if bad >= 0 {
            return Err(type_error(format!(
                "`{what}[{bad}]` must be a number, got {}",
                describe(&a.get(bad as u32))
            )));
        }
        return Ok(js_sys::Float32Array::new(v).to_vec());
    }
    let numeric = js_sys::ArrayBuffer::is_view(v)
        && !v.is_instance_of::<js_sys::DataView>()
        && !v.is_instance_of::<js_sys::BigInt64Array>()
        && !v.is_instance_of::<js_sys::BigUint64Array>();
    if numeric {
        return Ok(js_sys::Float32Array::new(v).to_vec());
    }
    Err(type_error(format!(
        "`{what}` must be a Float32Array or an array of numbers, got {}",
        describe(v)
    )))
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
