//! Logs through `tracing`, shown when `RUST_LOG` asks for them.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// With `RUST_LOG` set, install a subscriber that writes through libtest's capture (shown for
/// failing tests, or with `--nocapture`) filtered by it; without it, or when the process
/// already has a subscriber (yours, or one from an earlier check), do nothing.
///
/// `RUST_LOG` is a list of `target=level` directives and an optional default level
/// (`debug`, `warn,sshrace_sim=trace`), as `tracing_subscriber`'s `Targets` reads it; span and
/// field filters are not supported (they would pull in a regex engine for every user).
pub(crate) fn init() {
    let Some(value) = std::env::var_os("RUST_LOG") else {
        return;
    };
    let filter = match value.to_string_lossy().parse::<Targets>() {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!(
                "sshrace: RUST_LOG ignored ({error}): use target=level directives, e.g. warn,sshrace_sim=debug"
            );
            return;
        }
    };
    let output = tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .try_init();
}
