//! The router: method + path → [`Handler`]. Exact paths beat prefix mounts, longer prefixes
//! beat shorter ones. A path nobody serves is `404`; a served path with another method is
//! `405` with `Allow` (RFC 9110 §15.5.6). `HEAD` is answered by the `GET` handler with the body
//! left out (RFC 9110 §9.3.2).

use std::fmt;
use std::sync::Arc;

use crate::request::Request;
use crate::response::Response;

/// Something that answers requests. Closures `Fn(&mut Request) -> Response` are handlers.
///
/// Handlers run on the dataplane thread, inside `Connection::on_recv`: they must not block.
pub trait Handler: Send + Sync {
    /// Answers one request.
    fn handle(&self, req: &mut Request<'_>) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&mut Request<'_>) -> Response + Send + Sync,
{
    fn handle(&self, req: &mut Request<'_>) -> Response {
        self(req)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pattern {
    Exact,
    Prefix,
}

struct Route {
    method: String,
    path: String,
    pattern: Pattern,
    handler: Arc<dyn Handler>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.pattern)
    }
}

/// Routes, matched in a few comparisons (linear: a server has a handful).
#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    /// No routes: everything is `404`.
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves `method` on exactly `path` (compared before percent-decoding).
    pub fn route(
        &mut self,
        method: &str,
        path: &str,
        handler: impl Handler + 'static,
    ) -> &mut Router {
        self.add(method, path, Pattern::Exact, Arc::new(handler))
    }

    /// Serves `method` on every path starting with `prefix` (e.g. `/static/`, or `/` for
    /// everything that has no more specific route).
    pub fn mount(
        &mut self,
        method: &str,
        prefix: &str,
        handler: impl Handler + 'static,
    ) -> &mut Router {
        self.add(method, prefix, Pattern::Prefix, Arc::new(handler))
    }

    /// `route("GET", path, handler)`.
    pub fn get(&mut self, path: &str, handler: impl Handler + 'static) -> &mut Router {
        self.route("GET", path, handler)
    }

    /// `route("POST", path, handler)`.
    pub fn post(&mut self, path: &str, handler: impl Handler + 'static) -> &mut Router {
        self.route("POST", path, handler)
    }

    fn add(
        &mut self,
        method: &str,
        path: &str,
        pattern: Pattern,
        handler: Arc<dyn Handler>,
    ) -> &mut Router {
        self.routes.push(Route {
            method: method.to_string(),
            path: path.to_string(),
            pattern,
            handler,
        });
        self
    }

    /// Answers `req`: the matching handler's response, or `404` / `405`.
    #[inline(always)]
    pub fn dispatch(&self, req: &mut Request<'_>) -> Response {
        let path = req.path();
        let method = req.method();
        // Fast path: an exact route with this method always wins.
        for r in &self.routes {
            if r.pattern == Pattern::Exact
                && short_eq(r.path.as_bytes(), path.as_bytes())
                && short_eq(r.method.as_bytes(), method.as_bytes())
            {
                return r.handler.handle(req);
            }
        }
        self.dispatch_slow(req)
    }

    /// Everything but an exact route with the request's method: prefixes, 404, 405, HEAD.
    fn dispatch_slow(&self, req: &mut Request<'_>) -> Response {
        let path = req.path();
        let method = req.method();
        // The most specific pattern that matches: exact, else the longest prefix.
        let mut best: Option<(Pattern, &str)> = None;
        for r in &self.routes {
            let matches = match r.pattern {
                Pattern::Exact => r.path == path,
                Pattern::Prefix => path.starts_with(r.path.as_str()),
            };
            if !matches {
                continue;
            }
            let better = match best {
                None => true,
                Some((Pattern::Exact, _)) => false,
                Some((Pattern::Prefix, p)) => r.pattern == Pattern::Exact || r.path.len() > p.len(),
            };
            if better {
                best = Some((r.pattern, r.path.as_str()));
            }
        }
        let Some((pattern, pat_path)) = best else {
            return Response::text(404, "Not Found\n");
        };
        let same = |r: &&Route| r.pattern == pattern && r.path == pat_path;
        let found = self
            .routes
            .iter()
            .filter(same)
            .find(|r| r.method == method)
            .or_else(|| {
                // RFC 9110 §9.3.2: HEAD is GET without the content.
                (method == "HEAD")
                    .then(|| self.routes.iter().filter(same).find(|r| r.method == "GET"))
                    .flatten()
            });
        match found {
            Some(r) => r.handler.handle(req),
            None => {
                let mut allow: Vec<&str> = Vec::new();
                for r in self.routes.iter().filter(same) {
                    allow.push(&r.method);
                    if r.method == "GET" {
                        allow.push("HEAD");
                    }
                }
                allow.sort_unstable();
                allow.dedup();
                Response::text(405, "Method Not Allowed\n").with_header("Allow", allow.join(", "))
            }
        }
    }
}

/// `a == b`, for the short strings of routing (methods, paths) without a `memcmp` call: up to
/// 16 bytes compare as two overlapping words.
#[inline(always)]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    #[inline(always)]
    fn w4(s: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]])
    }
    #[inline(always)]
    fn w8(s: &[u8], i: usize) -> u64 {
        u64::from_le_bytes([
            s[i],
            s[i + 1],
            s[i + 2],
            s[i + 3],
            s[i + 4],
            s[i + 5],
            s[i + 6],
            s[i + 7],
        ])
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        9..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::short_eq;

    #[test]
    fn short_eq_is_eq() {
        let words: Vec<Vec<u8>> = (0..20)
            .flat_map(|n| {
                let base: Vec<u8> = (0..n).map(|i| b'a' + i as u8).collect();
                let mut v = vec![base.clone()];
                for i in 0..n {
                    let mut w = base.clone();
                    w[i] ^= 0x20;
                    v.push(w);
                }
                v
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(short_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
