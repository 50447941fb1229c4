//! A progress bar on stderr, only when stderr is a terminal and the output is a table.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar for `total` runs, or a hidden one.
pub fn bar(total: usize, table: bool) -> ProgressBar {
    if !table || !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs, {elapsed} elapsed, eta {eta}")
            .expect("valid template"),
    );
    bar
}
