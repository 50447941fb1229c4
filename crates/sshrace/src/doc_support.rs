//! Strategies the documentation's examples use where the example is not about writing one.
//! Not part of the API: it may change in any release.

use std::sync::Arc;

use crate::{ConnectionPolicy, Env, ExecResult, Request, StrategySpec, TransportError};

/// Connect, run, close: a fresh connection per command.
struct OneShot(Env);

#[async_trait::async_trait]
impl ConnectionPolicy for OneShot {
    async fn run(&self, request: &Request) -> Result<ExecResult, TransportError> {
        let connection = self
            .0
            .transport
            .connect(&request.host, &request.options())
            .await?;
        let result = connection.exec(&request.command).await?.wait().await;
        connection.close().await;
        result
    }

    async fn shutdown(&self) {}
}

/// `one-shot`: a fresh connection per command (fails under a MaxStartups flood).
pub fn one_shot() -> StrategySpec {
    StrategySpec::custom("one-shot", |env| Arc::new(OneShot(env)))
}
