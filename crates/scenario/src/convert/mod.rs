//! From text to a validated [`Scenario`]: TOML syntax, then serde into the raw structs, then one
//! semantic check after another. The first problem found is the error; nothing half-checked is
//! returned.

mod host;
mod timeline;
mod variants;
mod workload;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sshrace_core::limits;
use toml::Spanned;
use toml::de::DeTable;

use crate::location::{Source, line_column};
use crate::raw::{RawExpect, RawProfile, RawScenario, RawSim};
use crate::scenario::Positions;
use crate::{Expectation, Profile, Scenario, ScenarioError, SimSettings};

/// Most operations one run may plan, over all workload items: a guard against `every_ms = 1`
/// over a day, which is surely a mistake and would exhaust memory.
pub(crate) const MAX_ARRIVALS: u64 = limits::OPERATIONS_PER_RUN;

/// Names no `[[host]]` may take: the simulation's own nodes.
pub(crate) const RESERVED_HOSTS: [&str; 4] = ["client", "control", "nat", "fault"];

/// What later checks need to know about the parts already checked.
pub(crate) struct Context<'a> {
    pub(crate) source: Source<'a>,
    pub(crate) duration: Duration,
    pub(crate) tick: Duration,
    pub(crate) hosts: BTreeSet<String>,
}

impl Context<'_> {
    pub(crate) fn duration_ms(&self) -> u128 {
        self.duration.as_millis()
    }

    /// `host` must name a `[[host]]`.
    pub(crate) fn check_host(
        &self,
        host: &Spanned<String>,
        field: &str,
    ) -> Result<(), ScenarioError> {
        if self.hosts.contains(host.get_ref()) {
            return Ok(());
        }
        Err(self.source.at(
            host,
            field,
            format!(
                "{:?} is not a [[host]] (hosts: {})",
                host.get_ref(),
                self.host_list()
            ),
        ))
    }

    pub(crate) fn host_list(&self) -> String {
        self.hosts
            .iter()
            .map(|host| format!("{host:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Parse and check a whole scenario.
pub(crate) fn scenario(source: Source<'_>) -> Result<Scenario, ScenarioError> {
    let (doc, errors) = DeTable::parse_recoverable(source.text);
    if let Some(error) = errors
        .iter()
        .min_by_key(|error| error.span().map_or(0, |span| span.start))
    {
        return Err(source.syntax_error(error, doc.get_ref()));
    }
    let raw = RawScenario::deserialize(toml::de::Deserializer::from(doc.clone()))
        .map_err(|error| source.serde_error(&error, &doc))?;

    let name = match &raw.name {
        Some(name) => {
            self::name(&source, name, "name")?;
            name.get_ref().clone()
        }
        None => default_name(source.path),
    };
    non_empty(&source, &raw.description, "description")?;
    let (strategies, positions) = strategies(&source, &raw.strategies)?;
    let seeds = raw.seeds.iter().map(|seed| seed.get_ref().0).collect();
    let profile = match raw.profile {
        None | Some(RawProfile::OpenSsh92) => Profile::OpenSsh92,
        Some(RawProfile::OpenSsh100) => Profile::OpenSsh100,
    };
    let failing = failing(&source, raw.failing.as_deref())?;
    let sim = sim(&source, &raw.sim)?;
    let hosts = host::hosts(&source, &raw.host, profile)?;
    let (variants, variant_positions) = variants::variants(&source, &doc)?;

    let cx = Context {
        source,
        duration: sim.duration,
        tick: sim.tick,
        hosts: hosts.iter().map(|host| host.name.clone()).collect(),
    };
    let workload = workload::workload(&cx, &raw.workload)?;
    let timeline = raw
        .timeline
        .iter()
        .enumerate()
        .map(|(index, entry)| timeline::entry(&cx, index, entry))
        .collect::<Result<Vec<_>, _>>()?;
    let expectations = expectations(&source, &raw.expect, &strategies)?;

    Ok(Scenario {
        name,
        path: source.path.to_owned(),
        description: raw.description.into_inner(),
        strategies,
        variants,
        seeds,
        profile,
        failing,
        sim,
        hosts,
        workload,
        timeline,
        expectations,
        strategy_positions: positions,
        variant_positions: crate::scenario::VariantPositions(variant_positions),
    })
}

/// `failing = [...]`: known outcome kinds, no repeats; default every kind.
fn failing(
    source: &Source<'_>,
    raw: Option<&[toml::Spanned<String>]>,
) -> Result<Vec<String>, ScenarioError> {
    let Some(raw) = raw else {
        return Ok(crate::scenario::OUTCOME_KINDS.map(str::to_owned).to_vec());
    };
    let mut kinds: Vec<String> = Vec::new();
    for (index, kind) in raw.iter().enumerate() {
        let name = kind.get_ref();
        if !crate::scenario::OUTCOME_KINDS.contains(&name.as_str()) {
            return Err(source.error(
                kind.span(),
                format!("failing[{index}]"),
                format!(
                    "{name:?} is not an outcome kind (one of: {})",
                    crate::scenario::OUTCOME_KINDS.join(", ")
                ),
            ));
        }
        if kinds.contains(name) {
            return Err(source.error(
                kind.span(),
                format!("failing[{index}]"),
                format!("{name:?} is listed twice"),
            ));
        }
        kinds.push(name.clone());
    }
    Ok(kinds)
}

/// The file stem of `path` as a valid name (other characters as `-`, at most
/// [`limits::NAME_LEN`]), or `"scenario"` if it has none.
fn default_name(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .unwrap_or("scenario");
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(limits::NAME_LEN)
        .collect()
}

/// A name (scenario, strategy, variant, workload, host, step): non-empty, at most
/// [`limits::NAME_LEN`] characters of `A-Z a-z 0-9 _ -`, so it needs no quoting in any report.
pub(crate) fn name(
    source: &Source<'_>,
    value: &Spanned<String>,
    field: &str,
) -> Result<(), ScenarioError> {
    non_empty(source, value, field)?;
    limits::check_name(value.get_ref()).map_err(|message| source.at(value, field, message))
}

pub(crate) fn non_empty(
    source: &Source<'_>,
    value: &Spanned<String>,
    field: &str,
) -> Result<(), ScenarioError> {
    if value.get_ref().trim().is_empty() {
        return Err(source.at(value, field, "must not be empty"));
    }
    Ok(())
}

/// Index of the first earlier item with the same key, as a duplicate check.
pub(crate) struct FirstSeen<'k>(BTreeMap<&'k str, usize>);

impl<'k> FirstSeen<'k> {
    pub(crate) fn new() -> Self {
        Self(BTreeMap::new())
    }

    /// Record `key` at `index`; the index it was first seen at if it was seen before.
    pub(crate) fn insert(&mut self, key: &'k str, index: usize) -> Option<usize> {
        match self.0.get(key) {
            Some(&first) => Some(first),
            None => {
                self.0.insert(key, index);
                None
            }
        }
    }
}

fn strategies(
    source: &Source<'_>,
    raw: &Spanned<Vec<Spanned<String>>>,
) -> Result<(Vec<String>, Positions), ScenarioError> {
    if raw.get_ref().is_empty() {
        return Err(source.at(raw, "strategies", "must list at least one strategy"));
    }
    let mut seen = FirstSeen::new();
    for (index, name) in raw.get_ref().iter().enumerate() {
        let field = format!("strategies[{index}]");
        self::name(source, name, &field)?;
        if let Some(first) = seen.insert(name.get_ref(), index) {
            return Err(source.at(
                name,
                field,
                format!(
                    "{:?} is listed twice (also strategies[{first}])",
                    name.get_ref()
                ),
            ));
        }
    }
    let names = raw
        .get_ref()
        .iter()
        .map(|name| name.get_ref().clone())
        .collect();
    let positions = raw
        .get_ref()
        .iter()
        .map(|name| line_column(source.text, name.span().start))
        .collect();
    Ok((names, Positions(positions)))
}

/// Default idle step, in ticks: a long step when nothing is in flight.
const DEFAULT_IDLE_TICKS: u64 = 10;

fn sim(source: &Source<'_>, raw: &RawSim) -> Result<SimSettings, ScenarioError> {
    if *raw.duration_ms.get_ref() == 0 {
        return Err(source.at(&raw.duration_ms, "sim.duration_ms", "must be > 0"));
    }
    if *raw.duration_ms.get_ref() > limits::DURATION_MS {
        return Err(source.at(
            &raw.duration_ms,
            "sim.duration_ms",
            format!(
                "{} is more than the limit of {} ms (7 days)",
                raw.duration_ms.get_ref(),
                limits::DURATION_MS
            ),
        ));
    }
    let tick = match &raw.tick_ms {
        Some(tick) if *tick.get_ref() == 0 => {
            return Err(source.at(tick, "sim.tick_ms", "must be > 0"));
        }
        Some(tick) if *tick.get_ref() > limits::TICK_MS => {
            return Err(source.at(
                tick,
                "sim.tick_ms",
                format!(
                    "{} is more than the limit of {} ms",
                    tick.get_ref(),
                    limits::TICK_MS
                ),
            ));
        }
        Some(tick) => *tick.get_ref(),
        None => 1,
    };
    let idle_tick = match &raw.idle_tick_ms {
        Some(idle) if *idle.get_ref() < tick || *idle.get_ref() % tick != 0 => {
            return Err(source.at(
                idle,
                "sim.idle_tick_ms",
                format!(
                    "{} is not a whole multiple of tick_ms ({tick})",
                    idle.get_ref()
                ),
            ));
        }
        Some(idle) => *idle.get_ref(),
        None => tick * DEFAULT_IDLE_TICKS,
    };
    if let Some(scale) = &raw.time_scale {
        // It was parsed and written back but never read; a value nobody honours is an error.
        return Err(source.at(
            scale,
            "sim.time_scale",
            "is not a scenario setting: the container backend compresses time with --time-scale (auto by default); remove this line".to_owned(),
        ));
    }
    for (key, value) in [
        ("latency_ms", &raw.latency_ms),
        ("jitter_ms", &raw.jitter_ms),
    ] {
        if let Some(ms) = value
            .as_ref()
            .filter(|ms| *ms.get_ref() > limits::LATENCY_MS)
        {
            return Err(source.at(
                ms,
                format!("sim.{key}"),
                format!(
                    "{} is more than the limit of {} ms",
                    ms.get_ref(),
                    limits::LATENCY_MS
                ),
            ));
        }
    }
    Ok(SimSettings {
        duration: Duration::from_millis(*raw.duration_ms.get_ref()),
        tick: Duration::from_millis(tick),
        idle_tick: Duration::from_millis(idle_tick),
        latency: Duration::from_millis(raw.latency_ms.as_ref().map_or(1, |ms| *ms.get_ref())),
        jitter: Duration::from_millis(raw.jitter_ms.as_ref().map_or(0, |ms| *ms.get_ref())),
    })
}

fn expectations(
    source: &Source<'_>,
    raw: &[Spanned<RawExpect>],
    strategies: &[String],
) -> Result<Vec<Expectation>, ScenarioError> {
    let mut seen = FirstSeen::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, expect) in raw.iter().enumerate() {
        let expect = expect.get_ref();
        let strategy = &expect.strategy;
        if !strategies.contains(strategy.get_ref()) {
            return Err(source.at(
                strategy,
                format!("expect[{index}].strategy"),
                format!(
                    "{:?} is not listed in `strategies` ({})",
                    strategy.get_ref(),
                    strategies.join(", ")
                ),
            ));
        }
        if let Some(first) = seen.insert(strategy.get_ref(), index) {
            return Err(source.at(
                strategy,
                format!("expect[{index}].strategy"),
                format!(
                    "{:?} already has an expectation (expect[{first}])",
                    strategy.get_ref()
                ),
            ));
        }
        let rate = &expect.max_failure_rate;
        if !(0.0..=1.0).contains(rate.get_ref()) {
            return Err(source.at(
                rate,
                format!("expect[{index}].max_failure_rate"),
                format!("{} is not in [0, 1]", rate.get_ref()),
            ));
        }
        out.push(Expectation {
            strategy: strategy.get_ref().clone(),
            max_failure_rate: *rate.get_ref(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::fixtures::{MINIMAL, assert_rejected, minimal_with};

    #[test]
    fn a_syntax_error_is_an_error_at_its_line_naming_the_key() {
        let text = MINIMAL.replace("duration_ms = 60000", "duration_ms = 60 000");
        assert_rejected(&text, "s.toml:5:15: sim.duration_ms: ", "");
        let text = MINIMAL.replace("\"minimal\"", "\"minimal");
        assert_rejected(&text, "s.toml:1:", "description: ");
    }

    #[test]
    fn an_unknown_top_level_key_is_an_error_at_the_key() {
        let text = MINIMAL.replace("\n[sim]", "colour = \"red\"\n[sim]");
        assert_rejected(&text, "s.toml:3:1: colour: ", "unknown field `colour`");
    }

    #[test]
    fn an_unknown_key_inside_sim_is_an_error_at_the_key() {
        let text = MINIMAL.replace("duration_ms = 60000", "duration_ms = 60000\nticks = 1");
        assert_rejected(&text, "s.toml:6:1: sim.ticks: ", "unknown field `ticks`");
    }

    #[test]
    fn a_missing_description_is_an_error_at_the_top_naming_it() {
        let text = MINIMAL.replace("description = \"minimal\"\n", "");
        assert_rejected(
            &text,
            "s.toml:1:1: description: ",
            "missing field `description`",
        );
    }

    #[test]
    fn an_empty_description_is_an_error_at_its_value() {
        let text = MINIMAL.replace("\"minimal\"", "\"  \"");
        assert_rejected(&text, "s.toml:1:15: description: ", "must not be empty");
    }

    #[test]
    fn a_missing_sim_table_is_an_error_naming_it() {
        let text = MINIMAL.replace("[sim]\nduration_ms = 60000\n", "");
        assert_rejected(&text, "s.toml:1:1: sim: ", "missing field `sim`");
    }

    #[test]
    fn a_wrong_type_is_an_error_at_the_value() {
        let text = MINIMAL.replace("duration_ms = 60000", "duration_ms = \"60000\"");
        assert_rejected(
            &text,
            "s.toml:5:15: sim.duration_ms: ",
            "invalid type: string",
        );
        let text = MINIMAL.replace("\"mux-stop\"]", "7]");
        assert_rejected(
            &text,
            "s.toml:2:27: strategies[1]: ",
            "invalid type: integer",
        );
    }

    #[test]
    fn a_zero_duration_and_a_time_scale_are_errors() {
        let text = MINIMAL.replace("duration_ms = 60000", "duration_ms = 0");
        assert_rejected(&text, "s.toml:5:15: sim.duration_ms: ", "must be > 0");
        let text = MINIMAL.replace(
            "duration_ms = 60000",
            "duration_ms = 60000\ntime_scale = 2.0",
        );
        assert_rejected(
            &text,
            "s.toml:6:14: sim.time_scale: ",
            "is not a scenario setting: the container backend compresses time with --time-scale",
        );
    }

    #[test]
    fn strategies_must_be_listed_once_each_and_not_be_empty() {
        let text = MINIMAL.replace("\"mux-stop\"]", "\"mux-exit\"]");
        assert_rejected(
            &text,
            "s.toml:2:27: strategies[1]: ",
            "listed twice (also strategies[0])",
        );
        let text = MINIMAL.replace("[\"mux-exit\", \"mux-stop\"]", "[]");
        assert_rejected(&text, "s.toml:2:14: strategies: ", "at least one");
    }

    #[test]
    fn seeds_must_be_non_negative_u64s() {
        let text = MINIMAL.replace("\n[sim]", "seeds = [1, \"0xzz\"]\n[sim]");
        assert_rejected(&text, "s.toml:3:13: seeds[1]: ", "not a u64");
        let text = MINIMAL.replace("\n[sim]", "seeds = [-1]\n[sim]");
        assert_rejected(&text, "s.toml:3:10: seeds[0]: ", "negative");
    }

    #[test]
    fn an_unknown_profile_is_an_error_at_its_value() {
        let text = MINIMAL.replace("\n[sim]", "profile = \"openssh-8\"\n[sim]");
        assert_rejected(&text, "s.toml:3:11: profile: ", "unknown variant");
    }

    #[test]
    fn expect_naming_an_unlisted_strategy_is_an_error_at_the_name() {
        let text = minimal_with("\n[[expect]]\nstrategy = \"pool\"\nmax_failure_rate = 0.1\n");
        assert_rejected(
            &text,
            "s.toml:16:12: expect[0].strategy: ",
            "\"pool\" is not listed",
        );
    }

    #[test]
    fn expect_rates_outside_zero_to_one_are_errors() {
        let text = minimal_with("\n[[expect]]\nstrategy = \"mux-stop\"\nmax_failure_rate = 1.5\n");
        assert_rejected(
            &text,
            "s.toml:17:20: expect[0].max_failure_rate: ",
            "not in [0, 1]",
        );
    }

    #[test]
    fn a_scenario_needs_a_host_and_a_workload() {
        let text = MINIMAL.replace("[[host]]\nname = \"target\"\n", "");
        assert_rejected(&text, "s.toml:1:1: host: ", "at least one [[host]]");
        let cut = MINIMAL.find("[[workload]]").unwrap_or(MINIMAL.len());
        assert_rejected(
            &MINIMAL[..cut],
            "s.toml:1:1: workload: ",
            "at least one [[workload]]",
        );
    }
}
