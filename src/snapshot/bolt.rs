//! bbolt's file format (go.etcd.io/bbolt 1.3.6, what etcd 3.4 stores its
//! backend in): a reader with bbolt's consistency check, and a writer of
//! whole files.
//!
//! A file is a sequence of pages (4096 bytes here; a file says its own size
//! in its meta pages). Every page starts with a 16-byte header:
//!
//! ```text
//! id u64 | flags u16 (branch 1, leaf 2, meta 4, freelist 0x10) | count u16 | overflow u32
//! ```
//!
//! `overflow` more pages follow a page whose elements do not fit in one.
//! Pages 0 and 1 are meta pages (magic, version, page size, the root
//! bucket's page, the freelist's page, the high-water page id, the
//! transaction id, an FNV-64a checksum of the fields before it); a reader
//! takes the valid one with the higher transaction id, so a writer can
//! replace the other one atomically.
//!
//! A bucket is a B+tree: branch pages hold `(pos u32, ksize u32, pgid u64)`
//! elements pointing at their children (keyed by each child's first key),
//! leaf pages `(flags u32, pos u32, ksize u32, vsize u32)` elements, where
//! `pos` is the distance from the element to its key (the value follows
//! the key). A leaf element with flag 1 is a nested bucket: its value is
//! the bucket's header `(root pgid u64, sequence u64)`, and a bucket whose
//! root is 0 is *inline*: a leaf page of its own follows the header in the
//! value. The top-level buckets are the elements of the root bucket the meta
//! page names.
//!
//! etcd runs bbolt with `NoFreelistSync`: the meta names no freelist page
//! (`u64::MAX`), and a reader counts every page it cannot reach as free.
//! The writer does the same.

use std::collections::{BTreeMap, HashSet};

/// The page size the writer uses (the OS page size etcd's files have).
pub const PAGE_BYTES: usize = 4096;
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
/// The meta's freelist page id when no freelist is stored.
const NO_FREELIST: u64 = u64::MAX;
const BRANCH: u16 = 0x01;
const LEAF: u16 = 0x02;
const META: u16 = 0x04;
const FREELIST: u16 = 0x10;
/// A leaf element that is a nested bucket.
const BUCKET_LEAF: u32 = 0x01;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
/// A bucket's header: its root page id and its sequence.
const BUCKET_HEADER: usize = 16;
/// The meta fields the checksum covers.
const META_SUMMED: usize = 56;
/// A freelist page whose count field holds this has its count in its
/// first id slot.
const COUNT_OVERFLOW: u16 = 0xFFFF;
/// Deeper than any tree of a file this size can be: a bound on walks over
/// a corrupt file whose pages point in cycles.
const DEPTH_MAX: usize = 64;

/// Top-level buckets by name, each its keys and values.
pub type Buckets = BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, Vec<u8>>>;

/// 64-bit FNV-1a, bbolt's meta page checksum.
fn fnv64a(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().expect("2 bytes"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A meta page's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub page_size: u32,
    /// The root bucket's page.
    pub root: u64,
    pub freelist: u64,
    /// The high-water mark: pages at and after it are not in use.
    pub pgid: u64,
    pub txid: u64,
}

impl Meta {
    /// Reads the meta in the page starting at `page` (bbolt's
    /// `meta.validate`: magic, then version, then checksum).
    fn read(page: &[u8]) -> Result<Meta, &'static str> {
        let m = &page[PAGE_HEADER..PAGE_HEADER + META_SUMMED + 8];
        if u32_at(m, 0) != MAGIC {
            return Err("invalid database");
        }
        if u32_at(m, 4) != VERSION {
            return Err("version mismatch");
        }
        if u64_at(m, META_SUMMED) != fnv64a(&m[..META_SUMMED]) {
            return Err("checksum error");
        }
        Ok(Meta {
            page_size: u32_at(m, 8),
            root: u64_at(m, 16),
            freelist: u64_at(m, 32),
            pgid: u64_at(m, 40),
            txid: u64_at(m, 48),
        })
    }

    /// The meta page `id` holding these fields.
    fn page(&self, id: u64) -> Vec<u8> {
        let mut p = vec![0u8; self.page_size as usize];
        page_header(&mut p, id, META, 0, 0);
        let mut m = Vec::with_capacity(META_SUMMED + 8);
        for v in [MAGIC, VERSION, self.page_size, 0] {
            m.extend_from_slice(&v.to_le_bytes());
        }
        // The root bucket: its page and a sequence of 0.
        for v in [self.root, 0, self.freelist, self.pgid, self.txid] {
            m.extend_from_slice(&v.to_le_bytes());
        }
        let sum = fnv64a(&m);
        m.extend_from_slice(&sum.to_le_bytes());
        p[PAGE_HEADER..PAGE_HEADER + m.len()].copy_from_slice(&m);
        p
    }
}

fn page_header(b: &mut [u8], id: u64, flags: u16, count: u16, overflow: u32) {
    b[0..8].copy_from_slice(&id.to_le_bytes());
    b[8..10].copy_from_slice(&flags.to_le_bytes());
    b[10..12].copy_from_slice(&count.to_le_bytes());
    b[12..16].copy_from_slice(&overflow.to_le_bytes());
}

/// bbolt's name for a page's type (`page.typ`).
fn page_type(flags: u16) -> String {
    match flags {
        f if f & BRANCH != 0 => "branch".into(),
        f if f & LEAF != 0 => "leaf".into(),
        f if f & META != 0 => "meta".into(),
        f if f & FREELIST != 0 => "freelist".into(),
        f => format!("unknown<{f:02x}>"),
    }
}

/// Where a bucket's tree starts: a page, or a leaf page inline in its
/// parent's value.
#[derive(Clone, Copy, Debug)]
pub enum Root<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

/// One key of a bucket: a value, or a nested bucket (whose value is its
/// header, and which bbolt's `ForEach` reports with a nil value).
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub bucket: bool,
}

impl<'a> Entry<'a> {
    /// A nested bucket's root, if this is a well-formed bucket entry.
    pub fn bucket_root(&self) -> Option<Root<'a>> {
        if !self.bucket || self.value.len() < BUCKET_HEADER {
            return None;
        }
        Some(match u64_at(self.value, 0) {
            0 => Root::Inline(&self.value[BUCKET_HEADER..]),
            id => Root::Page(id),
        })
    }
}

/// A page's parsed elements: leaf entries, or branch children.
enum Node<'a> {
    Leaf(Vec<Entry<'a>>),
    Branch(Vec<(&'a [u8], u64)>),
}

/// An open bbolt file (read only).
pub struct Db<'a> {
    bytes: &'a [u8],
    meta: Meta,
}

impl<'a> Db<'a> {
    /// Opens a file as bbolt's read-only `Open` does, with its errors: a
    /// file shorter than a page is `invalid database`; the page size comes
    /// from meta page 0 (the OS's, 4096, when page 0 is not valid); a file
    /// shorter than two pages is `file size too small`; when neither meta
    /// page is valid, page 0's error.
    pub fn open(bytes: &'a [u8]) -> Result<Db<'a>, String> {
        if bytes.len() < PAGE_BYTES {
            return Err("invalid database".into());
        }
        let page_size = match Meta::read(bytes) {
            Ok(m) if m.page_size as usize >= PAGE_HEADER + META_SUMMED + 8 => m.page_size as usize,
            _ => PAGE_BYTES,
        };
        if bytes.len() < 2 * page_size {
            return Err("file size too small".into());
        }
        let m0 = Meta::read(bytes);
        let m1 = Meta::read(&bytes[page_size..]);
        // bbolt's `db.meta()`: the higher transaction id first, if valid.
        let meta = match (m0, m1) {
            (Ok(a), Ok(b)) => Ok(if b.txid > a.txid { b } else { a }),
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
            (Err(e), Err(_)) => Err(e.to_string()),
        }?;
        if meta.page_size as usize != page_size {
            return Err("invalid database".into());
        }
        Ok(Db { bytes, meta })
    }

    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// bbolt's `tx.Size`: the high-water page id times the page size.
    pub fn size(&self) -> u64 {
        self.meta
            .pgid
            .saturating_mul(u64::from(self.meta.page_size))
    }

    /// The bytes of page `id` and its overflow pages, if they are in the
    /// file.
    fn page(&self, id: u64) -> Result<&'a [u8], String> {
        // In u128: a corrupt id or overflow count must not wrap around.
        let (ps, len) = (u128::from(self.meta.page_size), self.bytes.len() as u128);
        let out_of_bounds = || format!("page {id}: out of bounds: {}", self.meta.pgid);
        let start = u128::from(id) * ps;
        if id >= self.meta.pgid || start + ps > len {
            return Err(out_of_bounds());
        }
        let overflow = u32_at(self.bytes, start as usize + 12);
        let end = start + (u128::from(overflow) + 1) * ps;
        if u128::from(id) + u128::from(overflow) >= u128::from(self.meta.pgid) || end > len {
            return Err(out_of_bounds());
        }
        Ok(&self.bytes[start as usize..end as usize])
    }

    /// The root bucket, whose entries are the top-level buckets.
    pub fn root(&self) -> Root<'a> {
        Root::Page(self.meta.root)
    }

    /// Every entry of the bucket at `root`, in key order.
    pub fn entries(&self, root: Root<'a>) -> Result<Vec<Entry<'a>>, String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        match root {
            Root::Inline(p) => match parse(p, 0)? {
                Node::Leaf(es) => out = es,
                Node::Branch(_) => return Err("inline bucket: not a leaf page".into()),
            },
            Root::Page(id) => self.collect(id, 0, &mut seen, &mut out)?,
        }
        Ok(out)
    }

    fn collect(
        &self,
        id: u64,
        depth: usize,
        seen: &mut HashSet<u64>,
        out: &mut Vec<Entry<'a>>,
    ) -> Result<(), String> {
        if depth > DEPTH_MAX || !seen.insert(id) {
            return Err(format!("page {id}: multiple references"));
        }
        match parse(self.page(id)?, id)? {
            Node::Leaf(es) => out.extend(es),
            Node::Branch(children) => {
                for (_, child) in children {
                    self.collect(child, depth + 1, seen, out)?;
                }
            }
        }
        Ok(())
    }

    /// The top-level buckets with their keys and values (a nested bucket
    /// inside one is listed with an empty value).
    pub fn buckets(&self) -> Result<Buckets, String> {
        let mut out = Buckets::new();
        for b in self.entries(self.root())? {
            let root = b.bucket_root().ok_or_else(|| not_a_bucket(b.key))?;
            let pairs = self
                .entries(root)?
                .into_iter()
                .map(|e| {
                    let v = if e.bucket { &[][..] } else { e.value };
                    (e.key.to_vec(), v.to_vec())
                })
                .collect();
            out.insert(b.key.to_vec(), pairs);
        }
        Ok(out)
    }

    /// bbolt's `tx.Check`, with bbolt 1.3.7's key order checks: every page
    /// a bucket reaches is in bounds, reached once, a branch or leaf page
    /// whose keys ascend within the range its parent gives it; freed pages
    /// (the freelist's) are not reachable, and with a freelist every page
    /// below the high-water mark is reachable or free. The errors, one per
    /// line, in bbolt's words.
    pub fn check(&self) -> Vec<String> {
        let mut c = Checker {
            db: self,
            reachable: HashSet::from([0, 1]),
            freed: HashSet::new(),
            errors: Vec::new(),
        };
        if self.meta.freelist != NO_FREELIST {
            c.read_freelist();
        }
        c.bucket(self.root(), 0);
        if self.meta.freelist != NO_FREELIST {
            for id in 0..self.meta.pgid {
                if !c.reachable.contains(&id) && !c.freed.contains(&id) {
                    c.errors.push(format!("page {id}: unreachable unfreed"));
                }
            }
        }
        c.errors
    }
}

/// What `snapshot status` says of a top-level key that is not a bucket.
pub fn not_a_bucket(name: &[u8]) -> String {
    format!(
        "cannot get hash of bucket {}",
        String::from_utf8_lossy(name)
    )
}

/// The elements of a branch or leaf page (`p`: the page and its overflow,
/// or an inline page), bounds-checked.
fn parse(p: &[u8], id: u64) -> Result<Node<'_>, String> {
    if p.len() < PAGE_HEADER {
        return Err(format!("page {id}: truncated"));
    }
    let flags = u16_at(p, 8);
    let count = usize::from(u16_at(p, 10));
    let bad = |i: usize| format!("page {id}: element {i} out of bounds");
    let field = |at: usize, i: usize| -> Result<&[u8], String> {
        p.get(at..at + ELEMENT).ok_or_else(|| bad(i))
    };
    let span = |at: usize, pos: u32, len: usize, i: usize| -> Result<&[u8], String> {
        let start = at.checked_add(pos as usize).ok_or_else(|| bad(i))?;
        let end = start.checked_add(len).ok_or_else(|| bad(i))?;
        p.get(start..end).ok_or_else(|| bad(i))
    };
    if flags & BRANCH != 0 {
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let at = PAGE_HEADER + i * ELEMENT;
            let e = field(at, i)?;
            let key = span(at, u32_at(e, 0), u32_at(e, 4) as usize, i)?;
            out.push((key, u64_at(e, 8)));
        }
        Ok(Node::Branch(out))
    } else if flags & LEAF != 0 {
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let at = PAGE_HEADER + i * ELEMENT;
            let e = field(at, i)?;
            let (ksize, vsize) = (u32_at(e, 8) as usize, u32_at(e, 12) as usize);
            let kv = span(at, u32_at(e, 4), ksize + vsize, i)?;
            out.push(Entry {
                key: &kv[..ksize],
                value: &kv[ksize..],
                bucket: u32_at(e, 0) & BUCKET_LEAF != 0,
            });
        }
        Ok(Node::Leaf(out))
    } else {
        Err(format!("page {id}: invalid type: {}", page_type(flags)))
    }
}

struct Checker<'d, 'a> {
    db: &'d Db<'a>,
    reachable: HashSet<u64>,
    freed: HashSet<u64>,
    errors: Vec<String>,
}

impl<'a> Checker<'_, 'a> {
    fn read_freelist(&mut self) {
        let id = self.db.meta.freelist;
        let p = match self.db.page(id) {
            Ok(p) => p,
            Err(e) => return self.errors.push(e),
        };
        let overflow = u64::from(u32_at(p, 12));
        for i in 0..=overflow {
            self.reachable.insert(id + i);
        }
        let (count, first) = match u16_at(p, 10) {
            COUNT_OVERFLOW => (u64_at(p, PAGE_HEADER) as usize, PAGE_HEADER + 8),
            n => (usize::from(n), PAGE_HEADER),
        };
        let ids = (0..count).map(|i| first + 8 * i);
        for at in ids {
            let Some(b) = p.get(at..at + 8) else {
                self.errors
                    .push(format!("page {id}: freelist out of bounds"));
                return;
            };
            let free = u64_at(b, 0);
            if !self.freed.insert(free) {
                self.errors.push(format!("page {free}: already freed"));
            }
        }
    }

    /// A bucket's pages, then its nested buckets.
    fn bucket(&mut self, root: Root<'a>, depth: usize) {
        if depth > DEPTH_MAX {
            self.errors.push("buckets nested too deep".into());
            return;
        }
        let entries = match root {
            Root::Inline(p) => match parse(p, 0) {
                Ok(Node::Leaf(es)) => {
                    self.ordered(0, es.iter().map(|e| e.key), None, None);
                    es
                }
                Ok(Node::Branch(_)) => {
                    return self.errors.push("inline bucket: not a leaf page".into())
                }
                Err(e) => return self.errors.push(e),
            },
            Root::Page(id) => {
                let mut es = Vec::new();
                self.page(id, None, None, 0, &mut es);
                es
            }
        };
        for e in entries {
            if let Some(child) = e.bucket_root() {
                self.bucket(child, depth + 1);
            }
        }
    }

    /// Page `id` of a bucket's tree, whose keys must lie in `[lo, hi)`;
    /// its leaf entries go to `out`.
    fn page(
        &mut self,
        id: u64,
        lo: Option<&'a [u8]>,
        hi: Option<&'a [u8]>,
        depth: usize,
        out: &mut Vec<Entry<'a>>,
    ) {
        let p = match self.db.page(id) {
            Ok(p) => p,
            Err(e) => return self.errors.push(e),
        };
        let overflow = u64::from(u32_at(p, 12));
        let mut again = false;
        for i in 0..=overflow {
            if !self.reachable.insert(id + i) {
                self.errors
                    .push(format!("page {}: multiple references", id + i));
                again = true;
            }
        }
        if self.freed.contains(&id) {
            self.errors.push(format!("page {id}: reachable freed"));
        }
        let header_id = u64_at(p, 0);
        if header_id != id {
            self.errors
                .push(format!("page {id}: header names page {header_id}"));
        }
        // A page reached twice was walked already (or is a cycle).
        if again || depth > DEPTH_MAX {
            return;
        }
        match parse(p, id) {
            Err(e) => self.errors.push(e),
            Ok(Node::Leaf(es)) => {
                self.ordered(id, es.iter().map(|e| e.key), lo, hi);
                out.extend(es);
            }
            Ok(Node::Branch(children)) => {
                self.ordered(id, children.iter().map(|c| c.0), lo, hi);
                for (i, &(key, child)) in children.iter().enumerate() {
                    let next = children.get(i + 1).map(|c| c.0).or(hi);
                    self.page(child, Some(key), next, depth + 1, out);
                }
            }
        }
    }

    /// Keys ascend strictly and lie in `[lo, hi)`.
    fn ordered<'k>(
        &mut self,
        id: u64,
        keys: impl Iterator<Item = &'k [u8]>,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
    ) {
        let mut prev: Option<&[u8]> = None;
        for (i, k) in keys.enumerate() {
            if prev.is_some_and(|p| p >= k) {
                self.errors
                    .push(format!("page {id}: key order violation at element {i}"));
            }
            if lo.is_some_and(|lo| k < lo) || hi.is_some_and(|hi| k >= hi) {
                self.errors.push(format!(
                    "page {id}: key at element {i} outside the range its parent gives"
                ));
            }
            prev = Some(k);
        }
    }
}

/// Reads the top-level buckets of a file, after [`Db::check`] passes.
pub fn read(bytes: &[u8]) -> Result<Buckets, String> {
    let db = Db::open(bytes)?;
    let errors = db.check();
    if !errors.is_empty() {
        return Err(integrity_error(&errors));
    }
    db.buckets()
}

/// etcd's `snapshot status` text for a file that fails the check.
pub fn integrity_error(errors: &[String]) -> String {
    format!(
        "snapshot file integrity check failed. {} errors found.\n{}",
        errors.len(),
        errors.join("\n")
    )
}

/// A leaf or branch element to lay out: flags (leaf) or child page
/// (branch), key, value (empty for a branch).
struct Element<'a> {
    flags: u32,
    key: &'a [u8],
    value: &'a [u8],
    child: u64,
}

/// The pages written so far; page ids are allocated in order.
struct Writer {
    out: Vec<u8>,
}

impl Writer {
    fn next_id(&self) -> u64 {
        (self.out.len() / PAGE_BYTES) as u64
    }

    /// One page (with overflow pages when its elements need them); its id.
    fn node(&mut self, leaf: bool, elems: &[Element<'_>]) -> u64 {
        let id = self.next_id();
        let node = node_bytes(leaf, elems, id);
        let pages = node.len().div_ceil(PAGE_BYTES).max(1);
        let start = self.out.len();
        self.out.resize(start + pages * PAGE_BYTES, 0);
        self.out[start..start + node.len()].copy_from_slice(&node);
        self.out[start + 12..start + 16].copy_from_slice(&(pages as u32 - 1).to_le_bytes());
        id
    }

    /// A bucket's B+tree, bottom up: leaves filled in key order, then
    /// branch levels over them until one page is the root; its id.
    fn tree(&mut self, elems: &[Element<'_>]) -> u64 {
        let mut level: Vec<(Vec<u8>, u64)> = Vec::new();
        for group in fill(elems, true) {
            let id = self.node(true, group);
            level.push((group.first().map_or(vec![], |e| e.key.to_vec()), id));
        }
        if level.is_empty() {
            return self.node(true, &[]);
        }
        while level.len() > 1 {
            let branch: Vec<Element<'_>> = level
                .iter()
                .map(|(k, id)| Element {
                    flags: 0,
                    key: k,
                    value: &[],
                    child: *id,
                })
                .collect();
            let mut up = Vec::new();
            for group in fill(&branch, false) {
                let id = self.node(false, group);
                up.push((group[0].key.to_vec(), id));
            }
            level = up;
        }
        level[0].1
    }
}

/// The bytes of a node laid out as bbolt's `node.write` does: header,
/// elements, then each element's key (and value).
fn node_bytes(leaf: bool, elems: &[Element<'_>], id: u64) -> Vec<u8> {
    let count = u16::try_from(elems.len()).expect("fill keeps a page's count in a u16");
    let mut b = vec![0u8; PAGE_HEADER + elems.len() * ELEMENT];
    page_header(&mut b, id, if leaf { LEAF } else { BRANCH }, count, 0);
    for (i, e) in elems.iter().enumerate() {
        let at = PAGE_HEADER + i * ELEMENT;
        let pos = (b.len() - at) as u32;
        let el = &mut b[at..at + ELEMENT];
        if leaf {
            el[0..4].copy_from_slice(&e.flags.to_le_bytes());
            el[4..8].copy_from_slice(&pos.to_le_bytes());
            el[8..12].copy_from_slice(&(e.key.len() as u32).to_le_bytes());
            el[12..16].copy_from_slice(&(e.value.len() as u32).to_le_bytes());
        } else {
            el[0..4].copy_from_slice(&pos.to_le_bytes());
            el[4..8].copy_from_slice(&(e.key.len() as u32).to_le_bytes());
            el[8..16].copy_from_slice(&e.child.to_le_bytes());
        }
        b.extend_from_slice(e.key);
        b.extend_from_slice(e.value);
    }
    b
}

fn element_bytes(leaf: bool, e: &Element<'_>) -> usize {
    ELEMENT + e.key.len() + if leaf { e.value.len() } else { 0 }
}

/// Elements cut into pages greedily: each page as full as fits, at least
/// one element (a bigger one overflows into more pages).
fn fill<'e, 'a>(elems: &'e [Element<'a>], leaf: bool) -> Vec<&'e [Element<'a>]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, PAGE_HEADER);
    for (i, e) in elems.iter().enumerate() {
        let n = element_bytes(leaf, e);
        if i > start && size + n > PAGE_BYTES {
            out.push(&elems[start..i]);
            (start, size) = (i, PAGE_HEADER);
        }
        size += n;
    }
    if start < elems.len() {
        out.push(&elems[start..]);
    }
    out
}

/// A bucket's value in its parent: inline when it fits in a quarter page
/// (bbolt's `inlineable`), else its header naming its own tree.
fn bucket_value(w: &mut Writer, pairs: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<u8> {
    let elems: Vec<Element<'_>> = pairs
        .iter()
        .map(|(k, v)| Element {
            flags: 0,
            key: k,
            value: v,
            child: 0,
        })
        .collect();
    let size: usize = PAGE_HEADER + elems.iter().map(|e| element_bytes(true, e)).sum::<usize>();
    let mut value = vec![0u8; BUCKET_HEADER];
    if size <= PAGE_BYTES / 4 {
        value.extend(node_bytes(true, &elems, 0));
    } else {
        let root = w.tree(&elems);
        value[0..8].copy_from_slice(&root.to_le_bytes());
    }
    value
}

/// A bbolt file holding `buckets` as top-level buckets (names and keys
/// must not be empty, as bbolt requires), as bbolt with `NoFreelistSync`
/// would leave it: both meta pages valid (page 0 with the higher
/// transaction id), no freelist page, no free pages.
pub fn write(buckets: &Buckets) -> Vec<u8> {
    let mut w = Writer {
        out: vec![0u8; 2 * PAGE_BYTES],
    };
    let values: Vec<(&[u8], Vec<u8>)> = buckets
        .iter()
        .map(|(name, pairs)| {
            assert!(!name.is_empty(), "bbolt: bucket name required");
            assert!(pairs.keys().all(|k| !k.is_empty()), "bbolt: key required");
            (&name[..], bucket_value(&mut w, pairs))
        })
        .collect();
    let root_elems: Vec<Element<'_>> = values
        .iter()
        .map(|(name, v)| Element {
            flags: BUCKET_LEAF,
            key: name,
            value: v,
            child: 0,
        })
        .collect();
    let root = w.tree(&root_elems);
    let meta = Meta {
        page_size: PAGE_BYTES as u32,
        root,
        freelist: NO_FREELIST,
        pgid: w.next_id(),
        txid: 2,
    };
    w.out[..PAGE_BYTES].copy_from_slice(&meta.page(0));
    let older = Meta { txid: 1, ..meta };
    w.out[PAGE_BYTES..2 * PAGE_BYTES].copy_from_slice(&older.page(1));
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn buckets(spec: &[(&str, &[(&str, &str)])]) -> Buckets {
        spec.iter()
            .map(|(n, kvs)| {
                let kvs = kvs
                    .iter()
                    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                    .collect();
                (n.as_bytes().to_vec(), kvs)
            })
            .collect()
    }

    #[test]
    fn a_small_file_is_all_inline() {
        let b = buckets(&[("key", &[("a", "1"), ("b", "2")]), ("meta", &[])]);
        let file = write(&b);
        // Two meta pages and the root page: every bucket fits inline.
        assert_eq!(file.len(), 3 * PAGE_BYTES);
        let db = Db::open(&file).unwrap();
        assert_eq!(db.size(), 3 * PAGE_BYTES as u64);
        assert_eq!(db.meta().txid, 2);
        assert_eq!(db.check(), Vec::<String>::new());
        assert_eq!(db.buckets().unwrap(), b);
    }

    #[test]
    fn big_buckets_split_into_leaves_branches_and_overflow() {
        let mut b = Buckets::new();
        let key: BTreeMap<_, _> = (0..5000u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![b'v'; (i % 90) as usize]))
            .collect();
        b.insert(b"key".to_vec(), key);
        b.insert(
            b"big".to_vec(),
            BTreeMap::from([(b"x".to_vec(), vec![7u8; 3 * PAGE_BYTES + 5])]),
        );
        let file = write(&b);
        let db = Db::open(&file).unwrap();
        assert_eq!(db.check(), Vec::<String>::new());
        assert_eq!(db.buckets().unwrap(), b);
        assert_eq!(read(&file).unwrap(), b);
    }

    #[test]
    fn the_valid_meta_with_the_higher_txid_wins() {
        let b = buckets(&[("k", &[("a", "1")])]);
        let mut file = write(&b);
        // Break meta 0's checksum: meta 1 (txid 1) serves.
        file[PAGE_HEADER + 20] ^= 1;
        let db = Db::open(&file).unwrap();
        assert_eq!(db.meta().txid, 1);
        assert_eq!(db.buckets().unwrap(), b);
        file[PAGE_BYTES + PAGE_HEADER + 20] ^= 1;
        assert_eq!(Db::open(&file).err().unwrap(), "checksum error");
        assert_eq!(Db::open(&file[..100]).err().unwrap(), "invalid database");
        assert_eq!(
            Db::open(&vec![0u8; 2 * PAGE_BYTES]).err().unwrap(),
            "invalid database"
        );
        let mut v = write(&b);
        v[PAGE_HEADER + 4] = 9;
        v[PAGE_BYTES + PAGE_HEADER + 4] = 9;
        assert_eq!(Db::open(&v).err().unwrap(), "version mismatch");
    }

    #[test]
    fn check_finds_bad_pages() {
        let mut b = Buckets::new();
        let key: BTreeMap<_, _> = (0..400u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![1u8; 40]))
            .collect();
        b.insert(b"key".to_vec(), key);
        let good = write(&b);
        let db = Db::open(&good).unwrap();
        let leaves = db.meta().root - 1;
        // The bucket's root is a branch page, just before the root bucket's
        // page: point its second child at its first.
        let mut twice = good.clone();
        let at = leaves as usize * PAGE_BYTES + PAGE_HEADER + ELEMENT + 8;
        let first = u64_at(&twice, at - ELEMENT);
        twice[at..at + 8].copy_from_slice(&first.to_le_bytes());
        let errs = Db::open(&twice).unwrap().check();
        assert!(
            errs.iter().any(|e| e.contains("multiple references")),
            "{errs:?}"
        );
        // A child beyond the high-water mark.
        let mut far = good.clone();
        far[at..at + 8].copy_from_slice(&999u64.to_le_bytes());
        let errs = Db::open(&far).unwrap().check();
        assert_eq!(
            errs,
            vec!["page 999: out of bounds: ".to_string() + &db.meta().pgid.to_string()]
        );
        // Keys out of order within a leaf.
        let mut unordered = good;
        let leaf = 2 * PAGE_BYTES;
        let key0 = leaf + PAGE_HEADER + u32_at(&unordered, leaf + PAGE_HEADER + 4) as usize;
        unordered[key0] = 0xff;
        let errs = Db::open(&unordered).unwrap().check();
        assert!(
            errs.iter().any(|e| e.contains("key order violation")),
            "{errs:?}"
        );
    }

    fn arb_buckets() -> impl Strategy<Value = Buckets> {
        let value = prop_oneof![
            8 => proptest::collection::vec(any::<u8>(), 0..64),
            1 => proptest::collection::vec(any::<u8>(), 0..9000),
        ];
        let pairs = proptest::collection::btree_map(
            proptest::collection::vec(any::<u8>(), 1..24),
            value,
            0..300,
        );
        proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 1..12), pairs, 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn write_then_read_round_trips(b in arb_buckets()) {
            let file = write(&b);
            prop_assert_eq!(file.len() % PAGE_BYTES, 0);
            let db = Db::open(&file).unwrap();
            prop_assert_eq!(db.check(), Vec::<String>::new());
            prop_assert_eq!(db.size(), file.len() as u64);
            prop_assert_eq!(db.buckets().unwrap(), b);
        }

        /// Whatever the bytes, reading and checking return, never panic.
        #[test]
        fn corrupt_files_are_errors_not_panics(
            b in arb_buckets(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let mut file = write(&b);
            for (at, x) in flips {
                let i = at.index(file.len());
                file[i] ^= x;
            }
            if let Ok(db) = Db::open(&file) {
                let _ = db.check();
                let _ = db.buckets();
            }
        }
    }
}
