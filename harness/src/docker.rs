//! `--backend docker`: the preflight, the images, the time scale per scenario, and running
//! cells on containers; `sshrace image build` and `sshrace clean`.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use sshrace_runner::docker::{Client, DockerRun, OpenSsh, Refusal, plan_docker};
use sshrace_scenario::Scenario;

use crate::cli::{BackendArg, BackendArgs, ClientArg, ImageAction};

/// The container settings of a run or matrix, checked before anything runs.
#[derive(Debug, Clone, Copy)]
pub struct Containers {
    pub openssh: OpenSsh,
    /// `None`: automatic per scenario.
    pub time_scale: Option<f64>,
    pub client: Client,
}

impl Containers {
    /// The settings `--backend ...` asks for (`None` for the simulation).
    pub fn from_args(args: &BackendArgs) -> anyhow::Result<Option<Containers>> {
        let openssh = parse_openssh(&args.openssh)?;
        let time_scale = parse_time_scale(&args.time_scale)?;
        if args.backend == BackendArg::Sim {
            if time_scale.is_some() {
                bail!(
                    "--time-scale applies to --backend docker only (the simulation runs on virtual time)"
                );
            }
            return Ok(None);
        }
        Ok(Some(Containers {
            openssh,
            time_scale,
            client: match args.client {
                ClientArg::Openssh => Client::OpenSsh,
                ClientArg::Russh => Client::Russh,
            },
        }))
    }

    /// Docker answers and the target image exists (built now if missing, progress on stderr).
    pub fn prepare(&self) -> anyhow::Result<()> {
        sshrace_docker::preflight::docker_available()?;
        let report = sshrace_docker::image::ensure_image(self.openssh, &mut |line| {
            eprintln!("sshrace: image: {line}")
        })?;
        if report.base_built || report.target_built {
            eprintln!(
                "sshrace: image sshrace-target for OpenSSH {} built (base {:.1} s, target {:.1} s)",
                self.openssh.version(),
                report.base_time.as_secs_f64(),
                report.target_time.as_secs_f64()
            );
        }
        Ok(())
    }

    /// The time scale `scenario` runs at, or why it cannot run on containers.
    pub fn scale_for(&self, scenario: &Scenario) -> Result<f64, Refusal> {
        plan_docker(scenario, self.time_scale)
    }

    /// The run settings for one scenario at `time_scale`.
    pub fn run(&self, time_scale: f64) -> DockerRun {
        DockerRun {
            openssh: self.openssh,
            time_scale,
            client: self.client,
        }
    }
}

fn parse_openssh(text: &str) -> anyhow::Result<OpenSsh> {
    OpenSsh::parse(text).with_context(|| {
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
        None => OpenSsh::ALL.to_vec(),
    };
    sshrace_docker::preflight::docker_available()?;
    for version in versions {
        let start = std::time::Instant::now();
        let report = sshrace_docker::image::ensure_image(version, &mut |line| {
            eprintln!("sshrace: image: {line}")
        })?;
        let (name, tag) = version.target_image();
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
pub fn clean() -> anyhow::Result<ExitCode> {
    sshrace_docker::preflight::docker_available()?;
    let removed = sshrace_docker::clean::clean(None)?;
    println!("removed {removed} container(s) and network(s) labelled sshrace=1");
    Ok(ExitCode::SUCCESS)
}
