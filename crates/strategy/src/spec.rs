use std::sync::Arc;
use std::time::Duration;

use crate::{ConnectionPolicy, Env, JobRunner, Propagate, ReachabilityGate};

type PolicyBuilder = Arc<dyn Fn(Env) -> Arc<dyn ConnectionPolicy> + Send + Sync>;

/// A named combination of connection policy, reachability gate and job runner: what the CLI,
/// scenario files and reports call a strategy. Cheap to clone and `Send`, so the runner can
/// build one per run on any thread.
#[derive(Clone)]
pub struct StrategySpec {
    name: String,
    description: String,
    policy: PolicyBuilder,
    gate: Option<Arc<dyn ReachabilityGate>>,
    poll_interval: Duration,
    jobs: Arc<dyn JobRunner>,
    /// The command line of a user's client program that plays this strategy's part.
    program: Option<String>,
}

impl std::fmt::Debug for StrategySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("StrategySpec");
        debug
            .field("name", &self.name)
            .field("gate", &self.gate.as_ref().map(|g| g.name().to_owned()))
            .field("jobs", &self.jobs.name());
        // Only a program says so: a built-in's Debug (part of a results file's plan digest)
        // stays what it was.
        if let Some(program) = &self.program {
            debug.field("program", program);
        }
        debug.finish()
    }
}

/// One run's instance of a [`StrategySpec`].
pub struct BuiltStrategy {
    /// The connection policy.
    pub policy: Arc<dyn ConnectionPolicy>,
    /// The reachability gate, if the strategy polls a control plane.
    pub gate: Option<Arc<dyn ReachabilityGate>>,
    /// How often the gate polls.
    pub poll_interval: Duration,
    /// How multi-step jobs run.
    pub jobs: Arc<dyn JobRunner>,
}

impl StrategySpec {
    /// A strategy named `name` whose policy `build` makes for each run. No gate; jobs
    /// [`Propagate`] their failures.
    pub fn custom<F, P>(name: &str, build: F) -> Self
    where
        F: Fn(Env) -> Arc<P> + Send + Sync + 'static,
        P: ConnectionPolicy + 'static,
    {
        Self {
            name: name.to_owned(),
            description: String::new(),
            policy: Arc::new(move |env| build(env) as Arc<dyn ConnectionPolicy>),
            gate: None,
            poll_interval: Duration::from_secs(5),
            jobs: Arc::new(Propagate),
            program: None,
        }
    }

    /// A user's client program, named `name`: the runner starts `command` once per run and
    /// speaks the driver protocol with it (`docs/driver-protocol.md`) instead of calling a
    /// policy. Only a real-time backend can run it; its policy here refuses every command.
    pub fn program(name: &str, command: &str) -> Self {
        let mut spec = Self::custom(name, |_| Arc::new(ProgramOnly));
        spec.program = Some(command.to_owned());
        spec.description = format!("the client program `{command}`");
        spec
    }

    /// The command line of the client program that plays this strategy, if it is one.
    pub fn program_command(&self) -> Option<&str> {
        self.program.as_deref()
    }

    /// Poll the control plane every `interval` and apply `gate`.
    pub fn with_gate(mut self, gate: Arc<dyn ReachabilityGate>, interval: Duration) -> Self {
        self.gate = Some(gate);
        self.poll_interval = interval;
        self
    }

    /// Run multi-step jobs with `jobs`.
    pub fn with_jobs(mut self, jobs: Arc<dyn JobRunner>) -> Self {
        self.jobs = jobs;
        self
    }

    /// Give it a one-line description for `sshrace list`.
    pub fn describe(mut self, description: &str) -> Self {
        self.description = description.to_owned();
        self
    }

    /// Rename (a scenario's named variant of a built-in).
    pub fn renamed(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// The strategy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its one-line description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Build the instance for one run.
    pub fn build(&self, env: Env) -> BuiltStrategy {
        BuiltStrategy {
            policy: (self.policy)(env),
            gate: self.gate.clone(),
            poll_interval: self.poll_interval,
            jobs: self.jobs.clone(),
        }
    }
}

/// The policy of a [`StrategySpec::program`]: the program, not this, answers on a real-time
/// backend; anywhere else every command fails loudly.
struct ProgramOnly;

#[async_trait::async_trait]
impl crate::ConnectionPolicy for ProgramOnly {
    async fn run(
        &self,
        _: &crate::Request,
    ) -> Result<sshrace_core::ExecResult, sshrace_core::TransportError> {
        Err(sshrace_core::TransportError::new(
            sshrace_core::Cause::ClosedLocally,
            "a client program runs only on a real-time backend",
        ))
    }

    async fn shutdown(&self) {}
}
