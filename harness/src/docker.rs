//! `--backend docker`: the preflight, the images, the time scale per scenario, and running
//! cells on containers; `sshrace image build` and `sshrace clean`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use sshrace_docker::{Client, DockerRun, OpenSshProfile, Refusal, plan_docker};
use sshrace_scenario::Scenario;

use crate::cli::{BackendArg, BackendArgs, ImageAction};

/// The container settings of a run or matrix, checked before anything runs. The OpenSSH
/// version of a scenario's containers is its profile (after `--openssh`).
#[derive(Debug, Clone)]
pub struct Containers {
    /// `None`: automatic per scenario.
    pub time_scale: Option<f64>,
    pub client: Client,
    /// `--client-cmd`: the user's client program.
    pub program: Option<String>,
}

impl Containers {
    /// The settings `--backend ...` asks for (`None` for the simulation).
    pub fn from_args(args: &BackendArgs) -> anyhow::Result<Option<Containers>> {
        let time_scale = parse_time_scale(&args.time_scale)?;
        if args.backend == BackendArg::Sim && args.client_cmd.is_some() {
            bail!(
                "--client-cmd runs your program in real time, which cannot join the simulation's virtual time: add --backend docker"
            );
        }
        if args.backend == BackendArg::Sim {
            if time_scale.is_some() {
                bail!(
                    "--time-scale applies to --backend docker only (the simulation runs on virtual time)"
                );
            }
            return Ok(None);
        }
        Ok(Some(Containers {
            time_scale,
            client: args.client,
            program: match args.client_cmd.as_deref().map(str::trim) {
                Some("") => bail!("--client-cmd: give the command that starts your program"),
                other => other.map(str::to_owned),
            },
        }))
    }

    /// Docker answers and the target images of `versions` exist (built now if missing,
    /// progress on stderr).
    pub fn prepare(&self, versions: &[OpenSshProfile]) -> anyhow::Result<()> {
        sshrace_docker::preflight::docker_available()?;
        for version in versions {
            let report = sshrace_docker::image::ensure_image(*version, &mut |line| {
                eprintln!("sshrace: image: {line}")
            })?;
            if report.base_built || report.target_built {
                eprintln!(
                    "sshrace: image sshrace-target for OpenSSH {} built (base {:.1} s, target {:.1} s)",
                    version.version(),
                    report.base_time.as_secs_f64(),
                    report.target_time.as_secs_f64()
                );
            }
        }
        prepare_client(self.client)
    }

    /// The time scale `scenario` runs at, or why it cannot run on containers.
    pub fn scale_for(&self, scenario: &Scenario) -> Result<f64, Refusal> {
        plan_docker(scenario, self.time_scale)
    }

    /// The run settings for `scenario` at `time_scale`.
    pub fn run(&self, scenario: &Scenario, time_scale: f64) -> DockerRun {
        DockerRun {
            openssh: scenario.profile,
            time_scale,
            client: self.client,
        }
    }

    /// The backend that runs `cells`, each scenario at its cell's time scale.
    pub fn backend(&self, cells: &[crate::plan::Cell]) -> sshrace_docker::Containers {
        cells
            .iter()
            .filter_map(|cell| Some((&cell.scenario.name, cell.time_scale?)))
            .fold(
                sshrace_docker::Containers::new(self.client),
                |b, (name, scale)| b.with_scale(name, scale),
            )
    }
}

/// An OpenSSH client of a given version exists (extracted from its image now if missing,
/// progress on stderr), and which build it is; nothing to do for the host's `ssh` or russh.
fn prepare_client(client: Client) -> anyhow::Result<()> {
    if let Client::OpenSshVersion(version) = client {
        let extracted = sshrace_docker::ensure_client(version, &mut |line| {
            eprintln!("sshrace: client: {line}")
        })?;
        eprintln!(
            "sshrace: client {}: {} ({})",
            client.name(),
            extracted.banner,
            extracted.dir.display()
        );
    }
    Ok(())
}

/// `--openssh`: make every host of `scenario` behave like that release (both backends).
pub fn apply_profile(scenario: &mut Scenario, openssh: Option<&str>) -> anyhow::Result<()> {
    if let Some(text) = openssh {
        scenario.with_profile(parse_openssh(text)?);
    }
    Ok(())
}

fn parse_openssh(text: &str) -> anyhow::Result<OpenSshProfile> {
    OpenSshProfile::from_name(text.trim()).with_context(|| {
        format!("--openssh {text:?}: use 9.2 (Debian bookworm) or 10.0 (Debian trixie)")
    })
}

/// `auto`, `1/N` or a decimal in (0, 1].
pub fn parse_time_scale(text: &str) -> anyhow::Result<Option<f64>> {
    if text == "auto" {
        return Ok(None);
    }
    let value = match text.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a.trim().parse().ok().context("numerator")?;
            let b: f64 = b.trim().parse().ok().context("denominator")?;
            a / b
        }
        None => text.trim().parse().ok().context("number")?,
    };
    if !(value > 0.0 && value <= 1.0) {
        bail!(
            "--time-scale {text}: give auto, 1/N or a number in (0, 1] (1/60: a scenario minute takes a real second)"
        );
    }
    Ok(Some(value))
}

/// `sshrace image build`.
pub fn image(action: ImageAction) -> anyhow::Result<ExitCode> {
    let ImageAction::Build { openssh } = action;
    let versions = match openssh {
        Some(text) => vec![parse_openssh(&text)?],
        None => OpenSshProfile::ALL.to_vec(),
    };
    sshrace_docker::preflight::docker_available()?;
    for version in versions {
        let start = std::time::Instant::now();
        let report = sshrace_docker::image::ensure_image(version, &mut |line| {
            eprintln!("sshrace: image: {line}")
        })?;
        let (name, tag) = sshrace_docker::image::target_image(version);
        println!(
            "{name}:{tag} (OpenSSH {}): {} in {:.1} s",
            version.version(),
            if report.base_built || report.target_built {
                "built"
            } else {
                "up to date"
            },
            start.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sshrace clean`.
pub fn clean(all: bool) -> anyhow::Result<ExitCode> {
    sshrace_docker::preflight::docker_available()?;
    let cleaned = sshrace_docker::clean::clean_runs(all)?;
    println!(
        "removed {} container(s), {} network(s) labelled sshrace=1 and {} run folder(s) /tmp/sshrace-PID-N",
        cleaned.containers, cleaned.networks, cleaned.folders
    );
    if cleaned.spared > 0 {
        println!(
            "left {} container(s) of runs still going (sshrace clean --all removes them too)",
            cleaned.spared
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `sshrace calibrate`.
pub fn calibrate(
    openssh: Option<&str>,
    runs: u64,
    sim_only: bool,
    only: &[String],
    clients: &[Client],
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use sshrace_docker::calibrate::{calibrate_probe_with, markdown, probes};
    if runs == 0 {
        bail!("--runs 0: nothing to measure (give N >= 1)");
    }
    let versions = match openssh {
        Some(text) => vec![parse_openssh(text)?],
        None => OpenSshProfile::ALL.to_vec(),
    };
    let clients = if clients.is_empty() {
        vec![Client::OpenSsh]
    } else {
        clients.to_vec()
    };
    if let Some(russh) = clients.iter().find(|c| !c.is_openssh()) {
        bail!(
            "--client {}: calibrate runs the OpenSSH probes with OpenSSH clients (openssh, openssh:9.2, openssh:10.0); the russh probes use russh anyway",
            russh.arg()
        );
    }
    if !sim_only {
        sshrace_docker::preflight::docker_available()?;
        for version in &versions {
            sshrace_docker::image::ensure_image(*version, &mut |line| {
                eprintln!("sshrace: image: {line}")
            })?;
        }
        for client in &clients {
            prepare_client(*client)?;
        }
    }
    let selected: Vec<_> = probes()
        .into_iter()
        .filter(|p| only.is_empty() || only.iter().any(|text| p.id.contains(text.as_str())))
        .collect();
    if selected.is_empty() {
        bail!("--only {:?}: no probe matches", only.join(","));
    }
    let mut rows = Vec::new();
    // An OpenSSH probe runs once per --client; a russh probe once, with russh.
    let clients_of = |p: &sshrace_docker::calibrate::Probe| {
        if p.client.is_openssh() {
            clients.clone()
        } else {
            vec![p.client]
        }
    };
    let total = selected.iter().map(|p| clients_of(p).len()).sum::<usize>() * versions.len();
    let bar = crate::progress::bar(total, true);
    for version in &versions {
        for probe in &selected {
            for client in clients_of(probe) {
                if probe.only.is_some_and(|v| v != *version) {
                    bar.inc(1);
                    continue;
                }
                bar.set_message(format!(
                    "{} on OpenSSH {} ({} client)",
                    probe.id,
                    version.version(),
                    client.name()
                ));
                rows.push(
                    calibrate_probe_with(probe, *version, runs, !sim_only, client)
                        .with_context(|| format!("probe {} ({})", probe.id, probe.path))?,
                );
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    let table = markdown(&rows);
    print!("{table}");
    let md = out.with_extension("md");
    let json = out.with_extension("json");
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    std::fs::write(&json, serde_json::to_string_pretty(&rows)?)
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("sshrace: wrote {} and {}", md.display(), json.display());
    let unexplained = rows
        .iter()
        .filter(|r| r.agree == Some(false) && r.note.is_empty())
        .count();
    Ok(if unexplained > 0 {
        eprintln!("sshrace: {unexplained} row(s) disagree without a note");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
