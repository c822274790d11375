//! gRPC and plain HTTP on one port, told apart per request as etcd's
//! `grpcHandlerFunc` does: HTTP/2 with a `content-type` of
//! `application/grpc…` goes to the gRPC services, everything else (HTTP/1.x,
//! or HTTP/2 without that content type) to the port's [`HttpHandler`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tonic::body::Body;
use tonic::codegen::http::{self, Request, Response};
use tonic::codegen::Service;
use tower::util::BoxCloneSyncService;

use super::{
    observe, GrpcLoopback, GrpcObserver, GrpcReplies, HttpHandler, HttpLayer, HttpRequest,
    HttpResponse,
};

impl<S> tower_layer::Layer<S> for HttpLayer {
    type Service = HttpMux<S>;

    fn layer(&self, inner: S) -> HttpMux<S> {
        HttpMux {
            inner: Observed {
                inner,
                observer: self.observer.clone(),
            },
            http: self.http.clone(),
            body_bytes_max: self.body_bytes_max,
        }
    }
}

#[derive(Clone)]
pub struct HttpMux<S> {
    /// The gRPC services, observed (also what the gateway's loopback calls).
    inner: Observed<S>,
    http: Arc<dyn HttpHandler>,
    body_bytes_max: usize,
}

fn is_grpc(req: &Request<Body>) -> bool {
    req.version() == http::Version::HTTP_2
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/grpc"))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for HttpMux<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if is_grpc(&req) {
            return self.inner.call(req);
        }
        let http = self.http.clone();
        let limit = self.body_bytes_max;
        // The gateway's calls are observed as a client's are (etcd's gateway
        // dials its own port, so its calls count in grpc_server_*).
        let grpc = GrpcLoopback {
            svc: Loopback(BoxCloneSyncService::new(self.inner.clone())),
        };
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, limit).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => {
                    return Ok(to_response(HttpResponse::new(
                        413,
                        vec![("content-type", "text/plain; charset=utf-8".into())],
                        b"http: request body too large\n".to_vec(),
                    )))
                }
            };
            let req = HttpRequest {
                method: parts.method.as_str().to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                origin: header(&parts.headers, http::header::ORIGIN),
                authorization: header(&parts.headers, http::header::AUTHORIZATION),
                content_type: header(&parts.headers, http::header::CONTENT_TYPE),
                body,
                grpc: Some(grpc),
            };
            Ok(to_response(http.handle(req).await))
        })
    }
}

/// A header's value, when it is text.
fn header(headers: &http::HeaderMap, name: http::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The gRPC services, with every call told to the port's observer.
#[derive(Clone)]
struct Observed<S> {
    inner: S,
    observer: Option<Arc<dyn GrpcObserver>>,
}

impl<S> Service<Request<Body>> for Observed<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let Some(observer) = self.observer.clone() else {
            return Box::pin(self.inner.call(req));
        };
        let call = observe::Call::start(req.uri().path(), observer);
        let req = req.map(|b| {
            Body::new(observe::Counted::new(
                b,
                call.clone(),
                observe::Side::Request,
            ))
        });
        let resp = self.inner.call(req);
        Box::pin(async move {
            let (parts, body) = resp.await?.into_parts();
            let body = observe::Counted::response(&parts.headers, body, call);
            Ok(Response::from_parts(parts, Body::new(body)))
        })
    }
}

fn to_response(r: HttpResponse) -> Response<Body> {
    let mut b = Response::builder().status(r.status);
    for (name, value) in &r.headers {
        b = b.header(*name, value.as_str());
    }
    let body = match r.stream {
        None => Body::new(Full::new(Bytes::from(r.body))),
        Some(rest) => {
            use futures::StreamExt;
            let first = futures::stream::iter((!r.body.is_empty()).then_some(r.body));
            let frames = first
                .chain(rest)
                .map(|chunk| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(chunk))));
            Body::new(http_body_util::StreamBody::new(frames))
        }
    };
    b.body(body).unwrap_or_else(|_| {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

type BoxedRoutes = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The services behind the mux, for [`GrpcLoopback`].
#[derive(Clone)]
pub(super) struct Loopback(BoxedRoutes);

impl Loopback {
    pub(super) async fn call(
        &self,
        path: &str,
        metadata: Vec<(&'static str, String)>,
        requests: Vec<Vec<u8>>,
    ) -> Result<GrpcReplies, tonic::Status> {
        use futures::StreamExt;
        let path = http::uri::PathAndQuery::try_from(path)
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let mut grpc = tonic::client::Grpc::with_origin(
            self.0.clone(),
            http::Uri::from_static("http://loopback"),
        );
        grpc.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut req = tonic::Request::new(futures::stream::iter(requests));
        for (key, value) in metadata {
            let value = value
                .parse()
                .map_err(|_| tonic::Status::invalid_argument("invalid header value"))?;
            req.metadata_mut().insert(key, value);
        }
        let replies = grpc.streaming(req, path, RawCodec).await?.into_inner();
        Ok(replies.boxed())
    }
}

/// Messages passed through already encoded (the gateway transcodes them).
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n).to_vec()))
    }
}
