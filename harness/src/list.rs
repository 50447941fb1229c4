//! `sshrace list`: the built-in scenarios and strategies.

use std::io::Write as _;
use std::process::ExitCode;

use sshrace_strategy::BUILTIN;

/// Print the built-in scenarios (with their strategies) and strategies.
pub fn run() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Scenarios (sshrace run NAME, or a path to a .toml file):"
    )?;
    for builtin in sshrace_runner::builtin_scenarios() {
        let scenario = builtin.parse()?;
        writeln!(
            out,
            "  {:<28} {}  [{}]",
            scenario.name,
            scenario.description,
            scenario.strategies.join(", ")
        )?;
    }
    writeln!(out, "\nStrategies (--strategy NAME):")?;
    for (name, description) in BUILTIN {
        writeln!(out, "  {name:<20} {description}")?;
    }
    Ok(ExitCode::SUCCESS)
}
