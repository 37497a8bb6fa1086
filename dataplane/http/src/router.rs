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
    pub fn dispatch(&self, req: &mut Request<'_>) -> Response {
        let path = req.path();
        let method = req.method();
        // Fast path: an exact route with this method always wins.
        for r in &self.routes {
            if r.pattern == Pattern::Exact && r.path == path && r.method == method {
                return r.handler.handle(req);
            }
        }
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
