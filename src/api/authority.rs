//! grpc-go clients (etcdctl 3.4's `endpoint status` among them) may send an
//! HTTP/2 `:authority` of `http://host:port` — the whole endpoint URL. etcd's
//! grpc-go server accepts it; the Rust `h2` server resets such a stream as
//! malformed. This shim sits between the socket and tonic and rewrites that
//! pseudo-header to `host:port`.
//!
//! HPACK is stateful per connection, so every header block from the client is
//! decoded (tracking the client's dynamic table). Blocks pass through byte for
//! byte until one needs rewriting; from then on every block is re-encoded as
//! literals without indexing, so the server's table is never referenced again
//! and both sides stay consistent.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_HEADERS: u8 = 0x1;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which tonic's server keeps.
const FRAME_BYTES_MAX: usize = 16_384;
/// Largest frame payload accepted from a client (2^24 - 1 is the protocol cap).
const PAYLOAD_BYTES_MAX: usize = (1 << 24) - 1;
/// Largest header block (all its frames) accepted.
const HEADER_BLOCK_BYTES_MAX: usize = 1 << 20;

/// HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn encode_int(out: &mut Vec<u8>, first: u8, n: u32, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

/// A header block of "literal header field without indexing — new name"
/// representations only (RFC 7541 §6.2.2), no Huffman coding.
pub fn encode_literal_block(headers: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.push(0x00);
        encode_int(&mut out, 0, 7, name.len());
        out.extend_from_slice(name);
        encode_int(&mut out, 0, 7, value.len());
        out.extend_from_slice(value);
    }
    out
}

/// `http://host:port/…` → `host:port`; `None` when nothing needs changing.
pub fn fixed_authority(v: &[u8]) -> Option<Vec<u8>> {
    let s = std::str::from_utf8(v).ok()?;
    let (_, rest) = s.split_once("://")?;
    Some(rest.split('/').next().unwrap_or("").as_bytes().to_vec())
}

fn frame_header(len: usize, kind: u8, flags: u8, stream: u32) -> [u8; 9] {
    let l = (len as u32).to_be_bytes();
    let s = stream.to_be_bytes();
    [l[1], l[2], l[3], kind, flags, s[0], s[1], s[2], s[3]]
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Copies client → server, rewriting header blocks as described above.
pub async fn client_to_server<R, W>(mut r: R, mut w: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut preface = [0u8; 24];
    r.read_exact(&mut preface).await?;
    if preface != PREFACE {
        return Err(bad("not an HTTP/2 connection preface"));
    }
    w.write_all(&preface).await?;
    let mut decoder = hpack::Decoder::new();
    let mut rewriting = false;
    loop {
        let mut h = [0u8; 9];
        if let Err(e) = r.read_exact(&mut h).await {
            return if e.kind() == io::ErrorKind::UnexpectedEof {
                w.shutdown().await
            } else {
                Err(e)
            };
        }
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        if len > PAYLOAD_BYTES_MAX {
            return Err(bad("frame too large"));
        }
        let (kind, flags) = (h[3], h[4]);
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).await?;
        if kind != FRAME_HEADERS {
            w.write_all(&h).await?;
            w.write_all(&payload).await?;
            continue;
        }
        // Collect the whole header block (HEADERS + CONTINUATIONs).
        let mut raw = vec![(h, payload.clone())];
        let mut body = payload.as_slice();
        let mut pad = 0usize;
        if flags & FLAG_PADDED != 0 {
            pad = *body.first().ok_or_else(|| bad("short HEADERS"))? as usize;
            body = &body[1..];
        }
        let mut priority = None;
        if flags & FLAG_PRIORITY != 0 {
            if body.len() < 5 {
                return Err(bad("short HEADERS"));
            }
            priority = Some(body[..5].to_vec());
            body = &body[5..];
        }
        if body.len() < pad {
            return Err(bad("bad padding"));
        }
        let mut block = body[..body.len() - pad].to_vec();
        let mut end_headers = flags & FLAG_END_HEADERS != 0;
        while !end_headers {
            let mut ch = [0u8; 9];
            r.read_exact(&mut ch).await?;
            let clen = u32::from_be_bytes([0, ch[0], ch[1], ch[2]]) as usize;
            if ch[3] != FRAME_CONTINUATION || block.len() + clen > HEADER_BLOCK_BYTES_MAX {
                return Err(bad("bad CONTINUATION"));
            }
            let mut cp = vec![0u8; clen];
            r.read_exact(&mut cp).await?;
            block.extend_from_slice(&cp);
            end_headers = ch[4] & FLAG_END_HEADERS != 0;
            raw.push((ch, cp));
        }
        let mut headers = decoder
            .decode(&block)
            .map_err(|e| bad(&format!("hpack: {e:?}")))?;
        for (name, value) in headers.iter_mut() {
            if name.as_slice() == b":authority" {
                if let Some(v) = fixed_authority(value) {
                    *value = v;
                    rewriting = true;
                }
            }
        }
        if !rewriting {
            for (fh, p) in raw {
                w.write_all(&fh).await?;
                w.write_all(&p).await?;
            }
            continue;
        }
        let encoded = encode_literal_block(&headers);
        let mut first = Vec::new();
        let mut first_flags = flags & FLAG_END_STREAM;
        if let Some(p) = &priority {
            first.extend_from_slice(p);
            first_flags |= FLAG_PRIORITY;
        }
        let room = FRAME_BYTES_MAX - first.len();
        let (head, mut rest) = encoded.split_at(encoded.len().min(room));
        first.extend_from_slice(head);
        if rest.is_empty() {
            first_flags |= FLAG_END_HEADERS;
        }
        w.write_all(&frame_header(
            first.len(),
            FRAME_HEADERS,
            first_flags,
            stream,
        ))
        .await?;
        w.write_all(&first).await?;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(FRAME_BYTES_MAX));
            let f = if tail.is_empty() { FLAG_END_HEADERS } else { 0 };
            w.write_all(&frame_header(chunk.len(), FRAME_CONTINUATION, f, stream))
                .await?;
            w.write_all(chunk).await?;
            rest = tail;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_blocks_decode() {
        let hs = vec![
            (b":authority".to_vec(), b"127.0.0.1:2379".to_vec()),
            (b"x".to_vec(), vec![b'y'; 300]),
        ];
        let block = encode_literal_block(&hs);
        assert_eq!(hpack::Decoder::new().decode(&block).unwrap(), hs);
    }

    #[test]
    fn authority_fix() {
        assert_eq!(
            fixed_authority(b"http://127.0.0.1:2379"),
            Some(b"127.0.0.1:2379".to_vec())
        );
        assert_eq!(fixed_authority(b"127.0.0.1:2379"), None);
    }
}
