//! A channel's receiving end as a stream: what a gRPC streaming call sends
//! (keep-alives, watch requests) or answers with, fed by another task.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// `rx` as a `Stream`; it ends when every sender is gone.
pub struct ReceiverStream<T>(pub mpsc::Receiver<T>);

impl<T> futures::Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
