use std::path::Path;

use sshrace_scenario::Scenario;

use crate::Error;

/// Every `*.toml` scenario file directly in `dir`, sorted by path: your own race timelines,
/// in the format of sshrace's `scenarios/`. A relative `dir` is relative to the current
/// directory, which `cargo test` sets to your package's root.
///
/// One file is [`Scenario::load`]. Errors point at `path:line:column` of the problem.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("sshrace-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # let text = r#"
/// # description = "a deploy while the target reboots"
/// # strategies = ["pool"]
/// # [sim]
/// # duration_ms = 600000
/// # [[host]]
/// # name = "target"
/// # [[workload]]
/// # name = "deploy"
/// # host = "target"
/// # every_ms = 60000
/// # duration_ms = 5000
/// # [[timeline]]
/// # at_ms = 300000
/// # fault = "crash"
/// # host = "target"
/// # "#;
/// # std::fs::write(dir.join("my-race.toml"), text).unwrap();
/// let scenarios = sshrace::scenarios_in(&dir)?;
/// assert_eq!(scenarios[0].name, "my-race");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), sshrace::Error>(())
/// ```
pub fn scenarios_in(dir: impl AsRef<Path>) -> Result<Vec<Scenario>, Error> {
    let dir = dir.as_ref();
    let unreadable = |error: std::io::Error| Error::ScenarioDirectory {
        path: dir.display().to_string(),
        message: error.to_string(),
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .iter()
        .map(|path| Scenario::load(path).map_err(Error::from))
        .collect()
}
