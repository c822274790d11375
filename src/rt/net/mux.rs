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

use super::{HttpHandler, HttpLayer, HttpRequest, HttpResponse};

impl<S> tower_layer::Layer<S> for HttpLayer {
    type Service = HttpMux<S>;

    fn layer(&self, inner: S) -> HttpMux<S> {
        HttpMux {
            inner,
            http: self.http.clone(),
            body_bytes_max: self.body_bytes_max,
        }
    }
}

#[derive(Clone)]
pub struct HttpMux<S> {
    inner: S,
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
        if is_grpc(&req) {
            return Box::pin(self.inner.call(req));
        }
        let http = self.http.clone();
        let limit = self.body_bytes_max;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, limit).collect().await {
                Ok(b) => b.to_bytes().to_vec(),
                Err(_) => {
                    return Ok(to_response(HttpResponse {
                        status: 413,
                        headers: vec![("content-type", "text/plain; charset=utf-8".into())],
                        body: b"http: request body too large\n".to_vec(),
                    }))
                }
            };
            let req = HttpRequest {
                method: parts.method.as_str().to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                origin: parts
                    .headers
                    .get(http::header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                body,
            };
            Ok(to_response(http.handle(req).await))
        })
    }
}

fn to_response(r: HttpResponse) -> Response<Body> {
    let mut b = Response::builder().status(r.status);
    for (name, value) in &r.headers {
        b = b.header(*name, value.as_str());
    }
    b.body(Body::new(Full::new(Bytes::from(r.body))))
        .unwrap_or_else(|_| {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            resp
        })
}
