//! Damage to a valid file, driven by fuzzer bytes and aimed at its parts
//! (header fields, section table entries, words inside a section), before
//! every checksum is recomputed: so what is reached is the structural
//! validation behind the checksums, not the checksum check itself.

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Where the parts of a file are: its header and table, then each section
/// (offset and length) in table order.
pub struct Layout {
    /// `(offset, length)` of the header and table, then of each section.
    pub regions: Vec<(usize, usize)>,
    /// The header's slot count.
    pub count: u64,
}

impl Layout {
    /// The layout of a valid file.
    pub fn of(bytes: &[u8]) -> Layout {
        let n = u32_at(bytes, 56) as usize;
        let mut regions = vec![(0, 64 + 32 * n)];
        for i in 0..n {
            let at = 64 + 32 * i;
            regions.push((
                u64_at(bytes, at + 8) as usize,
                u64_at(bytes, at + 16) as usize,
            ));
        }
        Layout {
            regions,
            count: u64_at(bytes, 32),
        }
    }
}

/// Reads fuzzer bytes, giving zeros once they run out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | u16::from(self.u8()) << 8
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }

    /// Whether any byte is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A value that sits on some limit of the format, relative to the file's
/// own numbers.
fn edge_value(sel: u8, count: u64, raw: u32) -> u64 {
    match sel % 16 {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => count.wrapping_sub(1),
        4 => count,
        5 => count + 1,
        6 => u64::from(u32::MAX),
        7 => u64::from(u32::MAX - 1),
        8 => 1 << 31,
        9 => 24,
        10 => 25,
        11 => 4096,
        12 => u64::MAX,
        13 => 1 << 40,
        14 => u64::from(raw) & 0xff,
        _ => u64::from(raw),
    }
}

/// Header fields as (offset, width): kind, element, metric, dimension,
/// count, metadata length, file length, section count, header length.
const FIELDS: [(usize, usize); 9] = [
    (16, 4),
    (20, 4),
    (24, 4),
    (28, 4),
    (32, 8),
    (40, 8),
    (48, 8),
    (56, 4),
    (12, 4),
];

/// A large length: what a hostile header would claim.
fn claim(sel: u8, raw: u32) -> u64 {
    match sel % 8 {
        0 => 1 << 20,
        1 => 1 << 24,
        2 => 1 << 30,
        3 => 1 << 32,
        4 => 1 << 40,
        5 => (1 << 31) - 8,
        6 => u64::from(raw) * 8,
        _ => u64::from(raw) << 16,
    }
}

/// Make the header's lengths agree with its section table and count: the
/// vectors section holds `count` vectors and starts where the metadata ends
/// (after its last section, rounded up to 4096), and the file ends with it.
fn agree(bytes: &mut [u8]) {
    if bytes.len() < 64 {
        return;
    }
    let n = (u32_at(bytes, 56) as usize).min((bytes.len() - 64) / 32);
    let dim = u64::from(u32_at(bytes, 28));
    let esize = if u32_at(bytes, 20) == 2 { 1 } else { 4 };
    let count = u64_at(bytes, 32);
    let mut end = (64 + 32 * n) as u64;
    let mut vecs = None;
    for i in 0..n {
        let at = 64 + 32 * i;
        if bytes[at..at + 4] == *b"VECS" {
            vecs = Some(at);
        } else {
            end = end.max(u64_at(bytes, at + 8).saturating_add(u64_at(bytes, at + 16)));
        }
    }
    let meta = end.div_ceil(4096).saturating_mul(4096);
    let vec_len = count.saturating_mul(dim).saturating_mul(esize);
    put(bytes, 40, 8, meta);
    put(bytes, 48, 8, meta.saturating_add(vec_len));
    if let Some(at) = vecs {
        put(bytes, at + 8, 8, meta);
        put(bytes, at + 16, 8, vec_len);
    }
}

fn put(bytes: &mut [u8], at: usize, width: usize, v: u64) {
    if let Some(dst) = bytes.get_mut(at..at + width) {
        dst.copy_from_slice(&v.to_le_bytes()[..width]);
    }
}

/// Apply the patches `input` describes to `bytes` (a valid file whose
/// layout is `layout`). Each patch is an opcode byte and its arguments.
pub fn apply(bytes: &mut Vec<u8>, layout: &Layout, input: &[u8]) {
    let mut r = Bytes(input);
    let regions = &layout.regions;
    let mut patches = 0;
    while !r.is_empty() && patches < 64 {
        patches += 1;
        let op = r.u8();
        // A region and a position inside it, rounded down to `align`.
        let pick = |r: &mut Bytes, align: usize| -> usize {
            let (off, len) = regions[usize::from(r.u8()) % regions.len()];
            let within = usize::from(r.u16()) % len.max(1);
            off + within / align * align
        };
        match op % 10 {
            // One byte anywhere in a region.
            0 => {
                let at = pick(&mut r, 1);
                let v = r.u8();
                put(bytes, at, 1, u64::from(v));
            }
            // An aligned u32 word set to a limit value.
            1 => {
                let at = pick(&mut r, 4);
                let (sel, raw) = (r.u8(), r.u32());
                put(bytes, at, 4, edge_value(sel, layout.count, raw));
            }
            // An aligned u64 word set to a limit value.
            2 => {
                let at = pick(&mut r, 8);
                let (sel, raw) = (r.u8(), r.u32());
                put(bytes, at, 8, edge_value(sel, layout.count, raw));
            }
            // A header field.
            3 => {
                let (at, width) = FIELDS[usize::from(r.u8()) % FIELDS.len()];
                let (sel, raw) = (r.u8(), r.u32());
                put(bytes, at, width, edge_value(sel, layout.count, raw));
            }
            // A section table entry's tag, offset or length, moved by a
            // small step or set to another entry's.
            4 => {
                let n = regions.len() - 1;
                let e = 64 + 32 * (usize::from(r.u8()) % n.max(1));
                let other = 64 + 32 * (usize::from(r.u8()) % n.max(1));
                let field = [0, 8, 16][usize::from(r.u8()) % 3];
                let step = i64::from(r.u8() as i8);
                if e.max(other) + 32 > bytes.len() {
                    continue;
                }
                match (field, step & 1) {
                    (0, _) => {
                        let tag: [u8; 4] = bytes[other..other + 4].try_into().unwrap();
                        bytes[e..e + 4].copy_from_slice(&tag);
                    }
                    (_, 0) => {
                        let v = u64_at(bytes, e + field).wrapping_add_signed(step * 4);
                        put(bytes, e + field, 8, v);
                    }
                    _ => {
                        let v = u64_at(bytes, other + field);
                        put(bytes, e + field, 8, v);
                    }
                }
            }
            // Two aligned words swapped (neighbours, ids, lists).
            5 => {
                let a = pick(&mut r, 4);
                let b = pick(&mut r, 4);
                if a + 4 <= bytes.len() && b + 4 <= bytes.len() {
                    for i in 0..4 {
                        bytes.swap(a + i, b + i);
                    }
                }
            }
            // A word copied over another (a repeated neighbour or id).
            6 => {
                let a = pick(&mut r, 4);
                let b = pick(&mut r, 4);
                if a + 4 <= bytes.len() && b + 4 <= bytes.len() {
                    let w = u32_at(bytes, a);
                    put(bytes, b, 4, u64::from(w));
                }
            }
            // A section claims another length (a huge one, typically), and
            // the header is made to agree: the metadata's end, the vectors'
            // offset and the file's length all follow the claim, so the
            // header parses while the bytes are not there.
            8 => {
                let n = regions.len() - 1;
                let e = 64 + 32 * (usize::from(r.u8()) % n.max(1));
                let (sel, raw) = (r.u8(), r.u32());
                if e + 32 <= bytes.len() {
                    put(bytes, e + 16, 8, claim(sel, raw));
                    agree(bytes);
                }
            }
            // The header claims another point count, and the vectors
            // section's length and the file's length follow it.
            9 => {
                let (sel, raw) = (r.u8(), r.u32());
                if bytes.len() >= 64 {
                    put(bytes, 32, 8, claim(sel, raw) / 8);
                    agree(bytes);
                }
            }
            // The file made longer or shorter, its length field following.
            _ => {
                let delta = i64::from(r.u16() as i16);
                let len = (bytes.len() as i64 + delta).clamp(0, 1 << 20) as usize;
                bytes.resize(len, 0);
                if r.u8() & 1 == 0 {
                    put(bytes, 48, 8, len as u64);
                }
            }
        }
    }
}
