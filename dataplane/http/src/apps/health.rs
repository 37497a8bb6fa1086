//! `GET /health`: `200 ok`, with no allocation (static body, static content type).

use crate::request::Request;
use crate::response::Response;

/// The health handler.
pub fn health(_req: &mut Request<'_>) -> Response {
    Response::text(200, "ok")
}
