//! What the commands print: pretty JSON, and memory figures as JSON or text.

use serde_json::{Value, json};

use crate::mem::{self, MemoryUsage};

/// Prints `v` as indented JSON on stdout.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Memory figures as a JSON object, or `null` where they cannot be read.
pub fn mem_json(m: Option<MemoryUsage>) -> Value {
    match m {
        Some(m) => {
            json!({"rss_bytes": m.rss_bytes, "private_bytes": m.private_bytes, "file_bytes": m.file_bytes})
        }
        None => Value::Null,
    }
}

/// Memory figures as `"<rss> (<private> private)"`, or `n/a`.
pub fn mem_text(m: Option<MemoryUsage>) -> String {
    match m {
        Some(m) => format!(
            "{} ({} private)",
            mem::human(m.rss_bytes),
            mem::human(m.private_bytes)
        ),
        None => "n/a".into(),
    }
}
