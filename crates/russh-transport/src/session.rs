use std::sync::Arc;

use async_trait::async_trait;
use russh::client::Msg;
use russh::{Channel, ChannelMsg};
use sshrace_core::{Cause, Session, SessionEvent, TransportError};
use tokio::sync::watch;

use crate::connection::Inner;

/// A command running in a russh session channel.
pub(crate) struct RusshSession {
    channel: Option<Channel<Msg>>,
    connection: Arc<Inner>,
    cause: watch::Receiver<Option<Cause>>,
    finished: bool,
}

impl RusshSession {
    pub(crate) fn new(channel: Channel<Msg>, connection: Arc<Inner>) -> Self {
        let cause = connection.status.subscribe();
        Self {
            channel: Some(channel),
            connection,
            cause,
            finished: false,
        }
    }

    pub(crate) async fn start(&self, command: &str) -> Result<(), TransportError> {
        let channel = self.channel.as_ref().expect("channel present until drop");
        channel
            .exec(true, command)
            .await
            .map_err(|_| self.connection.status.error(&self.connection.host))
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.connection.session_finished();
        }
    }
}

#[async_trait]
impl Session for RusshSession {
    async fn next(&mut self) -> Option<Result<SessionEvent, TransportError>> {
        if self.finished {
            return None;
        }
        let channel = self.channel.as_mut().expect("channel present until drop");
        let event = loop {
            let message = tokio::select! {
                biased;
                _ = self.cause.wait_for(|c| *c == Some(Cause::ClosedLocally)) => None,
                message = channel.wait() => message,
            };
            match message {
                Some(ChannelMsg::Data { data }) => {
                    return Some(Ok(SessionEvent::Stdout(data.len() as u64)));
                }
                Some(ChannelMsg::ExtendedData { data, .. }) => {
                    return Some(Ok(SessionEvent::Stderr(data.len() as u64)));
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    break Ok(SessionEvent::Exit(exit_status));
                }
                Some(_) => continue,
                None => break Err(self.connection.status.error(&self.connection.host)),
            }
        };
        self.finish();
        Some(event)
    }
}

impl Drop for RusshSession {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Abandoned mid-command (a client-side timeout): close the channel, as killing an
        // `ssh` client does, so the server sees it and hangs up the command.
        self.finish();
        if let (Some(channel), Ok(runtime)) =
            (self.channel.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = channel.close().await;
            });
        }
    }
}
