//! Strategies and helpers shared by the facade's tests.
#![allow(dead_code)] // each test binary uses some of them

use std::sync::Arc;

use sshrace::{
    Connection, ConnectionPolicy, Env, ExecResult, Request, StrategySpec, TransportError,
};

/// Connect, run, close: a fresh connection per command (fails MaxStartups races).
struct OneShot(Env);

#[sshrace::async_trait]
impl ConnectionPolicy for OneShot {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self
            .0
            .transport
            .connect(&request.host, &request.options())
            .await?;
        let result = async { connection.exec(&request.command).await?.wait().await }.await;
        connection.close().await;
        result
    }

    async fn shutdown(&self) {}
}

/// `one-shot`: a fresh connection per command.
pub fn one_shot() -> StrategySpec {
    StrategySpec::custom("one-shot", |env| Arc::new(OneShot(env)))
}

/// Connect and run, keep every connection, never close one: all stay open after shutdown.
struct Leaky {
    env: Env,
    kept: std::sync::Mutex<Vec<Arc<dyn Connection>>>,
}

#[sshrace::async_trait]
impl ConnectionPolicy for Leaky {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self
            .env
            .transport
            .connect(&request.host, &request.options())
            .await?;
        self.kept.lock().unwrap().push(connection.clone());
        connection.exec(&request.command).await?.wait().await
    }

    async fn shutdown(&self) {}
}

/// `leaky`: never closes a connection.
pub fn leaky() -> StrategySpec {
    StrategySpec::custom("leaky", |env| {
        Arc::new(Leaky {
            env,
            kept: Default::default(),
        })
    })
}

/// The message of the panic `f` raises.
pub fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}
