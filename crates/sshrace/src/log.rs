//! Logs through `tracing`, shown when `RUST_LOG` asks for them.

/// With `RUST_LOG` set, install a subscriber that writes through libtest's capture (shown for
/// failing tests, or with `--nocapture`) filtered by it; without it, or when the process
/// already has a subscriber (yours, or one from an earlier check), do nothing.
pub(crate) fn init() {
    if std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}
