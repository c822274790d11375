//! Counts the gRPC calls a port serves for a [`GrpcObserver`] (the
//! `grpc_server_*` family of `/metrics`, as go-grpc-prometheus counts it):
//! a call starts when its request arrives and is handled when its response
//! ends, with the status from the trailers (or the headers, for an error
//! before any message). Messages are counted from the gRPC framing of the
//! bodies as they pass (a 5-byte prefix, then the message), so nothing is
//! decoded twice. A response dropped before its end (the client went away)
//! is handled as `Canceled`.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::http::HeaderMap;

use super::{GrpcCallStats, GrpcObserver};

/// gRPC's `CANCELLED`.
const CANCELLED: i32 = 1;
/// gRPC's `UNKNOWN`: a response that ended without a status.
const UNKNOWN: i32 = 2;

/// One call being served.
pub(super) struct Call {
    path: String,
    observer: Arc<dyn GrpcObserver>,
    started: tokio::time::Instant,
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
    /// The status once known; taken when reported, so it is reported once.
    code: Mutex<Option<Option<i32>>>,
}

impl Call {
    pub(super) fn start(path: &str, observer: Arc<dyn GrpcObserver>) -> Arc<Call> {
        observer.started(path);
        Arc::new(Call {
            path: path.to_string(),
            observer,
            started: crate::rt::time::now(),
            msgs_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            code: Mutex::new(Some(None)),
        })
    }

    /// Notes the status a header map carries, if any.
    fn status_from(&self, headers: &HeaderMap) {
        let code = headers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i32>().ok());
        if let (Some(code), Some(slot)) = (code, self.code.lock().expect("call").as_mut()) {
            *slot = Some(code);
        }
    }

    /// Reports the call handled, once; `fallback` when no status was seen.
    fn finish(&self, fallback: i32) {
        let Some(code) = self.code.lock().expect("call").take() else {
            return;
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.observer.handled(
            &self.path,
            &GrpcCallStats {
                code: code.unwrap_or(fallback),
                took: self.started.elapsed(),
                msgs_in: load(&self.msgs_in),
                msgs_out: load(&self.msgs_out),
                bytes_in: load(&self.bytes_in),
                bytes_out: load(&self.bytes_out),
            },
        );
    }
}

/// Finds message boundaries in a gRPC byte stream.
#[derive(Default)]
struct Framing {
    /// Bytes of the current message still to come.
    rest: u64,
    header: [u8; 5],
    header_len: usize,
}

impl Framing {
    /// Feeds `chunk`; returns how many messages began in it.
    fn feed(&mut self, mut chunk: &[u8]) -> u64 {
        let mut begun = 0;
        while !chunk.is_empty() {
            if self.rest > 0 {
                let take = self.rest.min(chunk.len() as u64) as usize;
                self.rest -= take as u64;
                chunk = &chunk[take..];
                continue;
            }
            let take = (5 - self.header_len).min(chunk.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&chunk[..take]);
            self.header_len += take;
            chunk = &chunk[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                self.rest = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as u64;
                begun += 1;
            }
        }
        begun
    }
}

/// Which way a counted body flows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Request,
    Response,
}

/// A body whose messages (and, for a response, its end) count toward a
/// [`Call`].
pub(super) struct Counted {
    inner: Body,
    call: Arc<Call>,
    side: Side,
    framing: Framing,
}

impl Counted {
    pub(super) fn new(inner: Body, call: Arc<Call>, side: Side) -> Counted {
        Counted {
            inner,
            call,
            side,
            framing: Framing::default(),
        }
    }

    /// For a response: notes a status its headers already carry.
    pub(super) fn response(headers: &HeaderMap, inner: Body, call: Arc<Call>) -> Counted {
        call.status_from(headers);
        Counted::new(inner, call, Side::Response)
    }
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<bytes::Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let msgs = this.framing.feed(data.chunk());
                    let (m, b) = match this.side {
                        Side::Request => (&this.call.msgs_in, &this.call.bytes_in),
                        Side::Response => (&this.call.msgs_out, &this.call.bytes_out),
                    };
                    m.fetch_add(msgs, Ordering::Relaxed);
                    b.fetch_add(data.remaining() as u64, Ordering::Relaxed);
                } else if let Some(trailers) = frame.trailers_ref() {
                    if this.side == Side::Response {
                        this.call.status_from(trailers);
                        this.call.finish(UNKNOWN);
                    }
                }
            }
            Poll::Ready(None) if this.side == Side::Response => this.call.finish(UNKNOWN),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.side == Side::Response {
            self.call.finish(CANCELLED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_counts_messages_split_anywhere() {
        let mut stream = Vec::new();
        for len in [0u32, 3, 70000] {
            stream.push(0);
            stream.extend_from_slice(&len.to_be_bytes());
            stream.extend(std::iter::repeat_n(7u8, len as usize));
        }
        for cut in [1, 2, 5, 6, 7, 4096] {
            let mut f = Framing::default();
            let n: u64 = stream.chunks(cut).map(|c| f.feed(c)).sum();
            assert_eq!(n, 3, "chunks of {cut}");
            assert_eq!((f.rest, f.header_len), (0, 0));
        }
    }
}
