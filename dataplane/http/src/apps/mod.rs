//! The built-in applications: [`static_files`], [`echo`](echo::echo) and
//! [`health`](health::health), and [`install_builtin`] to register the last two. Further
//! handlers (such as `GET /metrics`) are registered by the caller on the same [`Router`].

pub mod echo;
pub mod health;
pub mod static_files;

use crate::router::Router;

/// Registers `GET /health` and `POST /echo`.
pub fn install_builtin(router: &mut Router) -> &mut Router {
    router
        .get("/health", health::health)
        .post("/echo", echo::echo)
}
