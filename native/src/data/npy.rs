//! NumPy's `.npy` format: a magic string, a version, a Python dictionary
//! literal describing the array (dtype, memory order, shape), then the raw
//! array. Only the dictionary needs parsing; the data is read like any
//! other row-major block.

use std::fs::File;
use std::io::Read;

use super::{DataErrorKind, Format, Source, ValueType, Wanted, too_large_for_platform};

/// The longest `.npy` header accepted (NumPy itself refuses more than 10,000 bytes by default).
const MAX_NPY_HEADER: u64 = 1 << 20;

/// How deeply the Python literal in an `.npy` header may nest.
const MAX_NESTING: usize = 8;

/// Reads and checks the header of an `.npy` file: afterwards the array's
/// shape accounts for exactly the bytes after the header.
pub(super) fn open(mut file: File, len: u64, wanted: &Wanted) -> Result<Source, DataErrorKind> {
    let npy = read_header(&mut file, len, wanted)?;
    Ok(Source {
        file,
        format: Format::Npy,
        value_type: npy.value_type,
        len,
        rows: npy.rows,
        dim: npy.dim,
        data_offset: npy.data_offset,
        record: (npy.dim * npy.value_type.size()) as u64,
        remainder: 0,
    })
}

/// The parts of an `.npy` header that matter here.
struct NpyHeader {
    value_type: ValueType,
    rows: usize,
    dim: usize,
    data_offset: u64,
}

fn read_header(file: &mut File, len: u64, wanted: &Wanted) -> Result<NpyHeader, DataErrorKind> {
    let bad = |m: String| DataErrorKind::InvalidNpyHeader(m);
    if len < 10 {
        return Err(bad(format!("the file is only {len} bytes long")));
    }
    let mut lead = [0u8; 8];
    file.read_exact(&mut lead)?;
    if &lead[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic; not an .npy file".into()));
    }
    let (major, minor) = (lead[6], lead[7]);
    let (header_len, prefix) = match major {
        1 => {
            let mut b = [0u8; 2];
            file.read_exact(&mut b)?;
            (u64::from(u16::from_le_bytes(b)), 10u64)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            file.read_exact(&mut b)?;
            (u64::from(u32::from_le_bytes(b)), 12u64)
        }
        _ => return Err(bad(format!("unsupported format version {major}.{minor}"))),
    };
    if prefix + header_len > len {
        return Err(bad(format!(
            "header length {header_len} runs past the end of the {len}-byte file"
        )));
    }
    if header_len > MAX_NPY_HEADER {
        return Err(bad(format!(
            "header length {header_len} is over the {MAX_NPY_HEADER}-byte limit"
        )));
    }
    let mut text = vec![0u8; header_len as usize];
    file.read_exact(&mut text)?;
    let text = std::str::from_utf8(&text).map_err(|_| bad("not valid text".into()))?;
    let fields = parse_npy_dict(text).map_err(bad)?;

    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| bad(format!("missing '{name}'")))
    };
    let descr = field("descr")?;
    let fortran_order = field("fortran_order")?;
    let shape = field("shape")?;

    let dtype = match descr {
        Py::Str(s) => s.clone(),
        _ => {
            return Err(DataErrorKind::UnsupportedDtype {
                found: "of a structured array".into(),
                expected: wanted.expected_dtype,
            });
        }
    };
    let value_type = match dtype.as_str() {
        "<f4" => Some(ValueType::F32),
        "<i4" => Some(ValueType::I32),
        "|u1" | "<u1" | ">u1" => Some(ValueType::U8),
        _ => None,
    }
    .filter(|t| wanted.accepts.contains(t))
    .ok_or_else(|| DataErrorKind::UnsupportedDtype {
        found: format!("'{dtype}'"),
        expected: wanted.expected_dtype,
    })?;

    match fortran_order {
        Py::Bool(false) => {}
        Py::Bool(true) => {
            return Err(DataErrorKind::UnsupportedArray(
                "Fortran-order array (save a C-order copy: np.ascontiguousarray)".into(),
            ));
        }
        _ => return Err(bad("'fortran_order' is not True or False".into())),
    }

    let Py::Seq(items) = shape else {
        return Err(bad("'shape' is not a tuple".into()));
    };
    let mut extents = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Py::Int(v) if *v >= 0 => extents.push(*v as u128),
            _ => return Err(bad("'shape' holds something other than a size".into())),
        }
    }
    let shape_text = match extents.as_slice() {
        [one] => format!("({one},)"),
        many => format!(
            "({})",
            many.iter()
                .map(u128::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let (rows, dim) = match extents.as_slice() {
        [d] => (1, *d),
        [n, d] => (*n, *d),
        other => {
            return Err(DataErrorKind::UnsupportedArray(format!(
                "{}-dimensional array of shape {shape_text} (expected 2-D, or 1-D for one vector)",
                other.len()
            )));
        }
    };
    if dim == 0 {
        return Err(DataErrorKind::UnsupportedArray(format!(
            "shape {shape_text} has vectors of dimension 0"
        )));
    }
    let data_offset = prefix + header_len;
    let available = len - data_offset;
    let needed = rows
        .checked_mul(dim)
        .and_then(|v| v.checked_mul(value_type.size() as u128))
        .ok_or_else(|| {
            DataErrorKind::UnsupportedArray(format!("shape {shape_text} is impossibly large"))
        })?;
    // Checked before anything is allocated; afterwards the shape describes
    // exactly the bytes on disk.
    if needed != u128::from(available) {
        return Err(DataErrorKind::SizeMismatch {
            shape: shape_text,
            dtype,
            needed,
            available,
        });
    }
    let rows = usize::try_from(rows).map_err(|_| too_large_for_platform())?;
    let dim = usize::try_from(dim).map_err(|_| too_large_for_platform())?;
    Ok(NpyHeader {
        value_type,
        rows,
        dim,
        data_offset,
    })
}

/// A Python literal as found in an `.npy` header.
#[derive(Debug, PartialEq)]
enum Py {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    /// A tuple or a list.
    Seq(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

/// Parses the header's dictionary literal into its key/value pairs.
fn parse_npy_dict(text: &str) -> Result<Vec<(String, Py)>, String> {
    let mut parser = PyParser {
        s: text.as_bytes(),
        i: 0,
    };
    parser.skip_ws();
    if parser.peek() != Some(b'{') {
        return Err("does not start with a dictionary".into());
    }
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.i != parser.s.len() {
        return Err(format!(
            "unexpected text after the dictionary at byte {}",
            parser.i
        ));
    }
    match value {
        Py::Dict(fields) => Ok(fields),
        _ => Err("does not start with a dictionary".into()),
    }
}

struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl PyParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn expected(&self, what: &str) -> String {
        match self.peek() {
            Some(c) => format!("expected {what} at byte {}, found {:?}", self.i, c as char),
            None => format!("expected {what}, found the end of the header"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Py, String> {
        if depth > MAX_NESTING {
            return Err("nested too deeply".into());
        }
        self.skip_ws();
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q).map(Py::Str),
            Some(b'(') => self.seq(b')', depth).map(Py::Seq),
            Some(b'[') => self.seq(b']', depth).map(Py::Seq),
            Some(b'{') => self.dict(depth),
            Some(b'-' | b'+' | b'0'..=b'9') => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Ok(Py::Bool(true)),
                    b"False" => Ok(Py::Bool(false)),
                    b"None" => Ok(Py::None),
                    word => Err(format!(
                        "unexpected word '{}' at byte {start}",
                        String::from_utf8_lossy(word)
                    )),
                }
            }
            _ => Err(self.expected("a value")),
        }
    }

    fn string(&mut self, quote: u8) -> Result<String, String> {
        let start = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unterminated string starting at byte {start}")),
                Some(c) if c == quote => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => out.push(c),
                        None => {
                            return Err(format!("unterminated string starting at byte {start}"));
                        }
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| format!("string at byte {start} is not valid text"))
    }

    fn int(&mut self) -> Result<Py, String> {
        let start = self.i;
        let negative = match self.peek() {
            Some(b'-') => {
                self.i += 1;
                true
            }
            Some(b'+') => {
                self.i += 1;
                false
            }
            _ => false,
        };
        let digits_start = self.i;
        let mut v: i128 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| format!("integer at byte {start} is too large"))?;
            self.i += 1;
        }
        if self.i == digits_start {
            return Err(self.expected("a digit"));
        }
        // Python 2 wrote long integers with an `L` suffix.
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.i += 1;
        }
        Ok(Py::Int(if negative { -v } else { v }))
    }

    /// Items up to `close`, comma-separated, a trailing comma allowed.
    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Py>, String> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {}
                _ => return Err(self.expected(&format!("',' or '{}'", close as char))),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Py, String> {
        self.i += 1;
        let mut fields: Vec<(String, Py)> = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Py::Dict(fields));
                }
                Some(q @ (b'\'' | b'"')) => {
                    let key = self.string(q)?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(self.expected("':'"));
                    }
                    self.i += 1;
                    let value = self.value(depth + 1)?;
                    if fields.iter().any(|(k, _)| *k == key) {
                        return Err(format!("key '{key}' appears twice"));
                    }
                    fields.push((key, value));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(self.expected("',' or '}'")),
                    }
                }
                _ => return Err(self.expected("a quoted key or '}'")),
            }
        }
    }
}
