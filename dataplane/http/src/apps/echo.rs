//! `POST /echo`: answers `200` with the request body, byte for byte (after chunked decoding the
//! response is framed by `Content-Length`). The body is moved, not copied.

use crate::request::Request;
use crate::response::Response;

/// The echo handler.
pub fn echo(req: &mut Request<'_>) -> Response {
    Response::new(200)
        .with_content_type("application/octet-stream")
        .with_body(req.take_body())
}
