//! `renew_exchange_authcert`: options -> inputs -> state -> judgement -> Plan -> plan text/JSON,
//! a PowerShell script, or a guided run.
//!
//! Exit codes: 0 done (or nothing to do); 1 the plan is refused, or carrying it out stopped or
//! failed; 2 the options or the inputs cannot be used (nothing was planned). An error is one
//! line on stderr: `renew_exchange_authcert: error: <what was being done>: <cause>: …`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};

use exchange_authcert::cli::{InputArgs, ThresholdArgs};
use exchange_authcert::judge::{judge, one_line};
use exchange_authcert::renew::run::{self as guided, Outcome, RunOptions, default_directory};
use exchange_authcert::renew::{Plan, RenewOptions, decide, parse_duration, render, script};

const EXAMPLES: &str = "\
Examples:
  # what would be done, and why (default subcommand)
  renew_exchange_authcert plan --bundle exchange-authstate.json

  # a standalone Windows PowerShell 5.1 script of the same plan
  renew_exchange_authcert script --bundle exchange-authstate.json --out Renew-AuthCertificate.ps1

  # on the Exchange server: walk through the plan (dry run), then execute it step by step
  renew_exchange_authcert.exe run --bundle exchange-authstate.json
  renew_exchange_authcert.exe run --bundle exchange-authstate.json --execute

Exit codes: 0 done (or nothing to do), 1 refused or failed, 2 invalid input or options.";

#[derive(Debug, Parser)]
#[command(
    name = "renew_exchange_authcert",
    version,
    about = "Guided, safe renewal of the Exchange Server Auth certificate and self-signed server certificates",
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum Sub {
    /// Show the numbered plan: scenario and why, each step's PowerShell, verification, impact, rollback.
    Plan {
        #[command(flatten)]
        common: Common,
    },
    /// Write the plan as a standalone Windows PowerShell 5.1 script.
    Script {
        #[command(flatten)]
        common: Common,
        /// Write the script here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Execute the plan on the Exchange server, step by step (dry run unless --execute).
    Run {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        run: RunArgs,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanOutput {
    Text,
    Json,
}

#[derive(Debug, Args)]
struct Common {
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    #[command(flatten)]
    renew: RenewArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Renewal")]
struct RenewArgs {
    /// Allow an effective date less than 48 h ahead (and the replace sequence, effective now).
    #[arg(long)]
    emergency: bool,
    /// When a staged certificate becomes effective, e.g. 72h or 10d (default: MEAC's rule).
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    effective_in: Option<String>,
    /// Clear the previous certificate once the current one has been active this long.
    #[arg(
        long,
        default_value = "7d",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    clear_after: String,
    /// Clear the previous certificate even when the bundle does not tell since when the current
    /// one is active (AuthConfig's WhenChangedUTC, collector 1.1.0); never before it is on
    /// every server, unless the previous one has expired.
    #[arg(long)]
    clear_previous: bool,
    /// Also remove expired certificates bound to no service.
    #[arg(long)]
    cleanup: bool,
    /// Change the active certificate although hybrid is configured (rerun HCW afterwards).
    #[arg(long)]
    hybrid_acknowledged: bool,
    /// Plan without the servers that could not be queried.
    #[arg(long)]
    ignore_unreachable: bool,
    /// Plan from a bundle older than --max-age (refused otherwise).
    #[arg(long)]
    allow_stale: bool,
    /// Plan output format.
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: PlanOutput,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Really change the organisation (default: dry run).
    #[arg(long)]
    execute: bool,
    /// Do not ask before each step.
    #[arg(long)]
    yes: bool,
    /// Windows PowerShell to start.
    #[arg(long, value_name = "PATH", default_value = "powershell.exe")]
    powershell: PathBuf,
    /// JSON-lines journal (default: <ExchangeInstallPath>\Logging\AuthCertificateRenewal\journal.jsonl, or %TEMP%).
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// Readable log (default: next to the journal, renewal.log).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Longest wait for one step or state read, e.g. 90s, 20m, 1h.
    #[arg(long, default_value = "20m", value_name = "DURATION", value_parser = parse_timeout)]
    step_timeout: std::time::Duration,
    /// Longest whole run, e.g. 4h.
    #[arg(long, default_value = "4h", value_name = "DURATION", value_parser = parse_timeout)]
    run_timeout: std::time::Duration,
}

/// `90s`, `20m`, `4h`: a timeout of at least one second.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, seconds) = match t.chars().last() {
        Some('s') => (&t[..t.len() - 1], 1),
        Some('m') => (&t[..t.len() - 1], 60),
        Some('h') => (&t[..t.len() - 1], 3600),
        _ => (t, 1),
    };
    match number.parse::<u64>() {
        Ok(n) if n > 0 && n <= 7 * 24 * 3600 => Ok(std::time::Duration::from_secs(n * seconds)),
        _ => Err(format!(
            "'{text}' must be a whole number of seconds, minutes or hours (90s, 20m, 4h)"
        )),
    }
}

/// Refused, stopped or failed once a plan exists.
const EXIT_REFUSED_OR_FAILED: u8 = 1;
/// The options or the inputs cannot be used; also an internal error.
const EXIT_INVALID: u8 = 2;

/// The context of an error met once a plan exists (it is refused, or carrying it out failed):
/// exit 1. Any other error means the options or the inputs cannot be used: exit 2.
#[derive(Debug)]
struct CarryingOut(String);

impl fmt::Display for CarryingOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn main() -> ExitCode {
    report_panics_as_internal_errors();
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("renew_exchange_authcert: error: {}", one_line_chain(&error));
            exit_code(&error)
        }
    }
}

/// Everything but the report of an error: parse, plan, then show, write or run the plan.
fn run() -> anyhow::Result<ExitCode> {
    let Some((common, mode)) = parse_command_line()? else {
        return Ok(ExitCode::SUCCESS);
    };
    // `run` works on the Exchange server, where its journal records which certificate an
    // earlier run saw as current, and since when.
    let journal = match &mode {
        Mode::Run(args) => Some(journal_path(args)),
        _ => None,
    };
    let plan = make_plan(&common, journal.as_deref())?;
    match mode {
        Mode::Plan => Ok(show_plan(&plan, common.renew.output)),
        Mode::Script(out) => write_script(&plan, out.as_deref()),
        Mode::Run(args) => run_plan(&plan, args),
    }
}

/// `outermost: cause: cause`, on one line whatever the messages contain.
fn one_line_chain(error: &anyhow::Error) -> String {
    one_line(&format!("{error:#}"))
}

fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.downcast_ref::<CarryingOut>().is_some() {
        ExitCode::from(EXIT_REFUSED_OR_FAILED)
    } else {
        ExitCode::from(EXIT_INVALID)
    }
}

/// A panic is a bug: one line on stderr and exit 2, like any error before a plan.
fn report_panics_as_internal_errors() {
    std::panic::set_hook(Box::new(|info| {
        let reason = exchange_authcert::process::guard::panic_reason(info);
        eprintln!("renew_exchange_authcert: internal error: {reason} (please report this)");
        std::process::exit(EXIT_INVALID.into())
    }));
}

/// The subcommand and its options; `None` once `--help` or `--version` printed their text.
fn parse_command_line() -> anyhow::Result<Option<(Common, Mode)>> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return Ok(None);
        }
        Err(error) => {
            // clap's first line says what is wrong; its usage lines would break the one line.
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("invalid option");
            let cause = anyhow!("{} (see --help)", first.trim_start_matches("error: "));
            return Err(cause.context("invalid command line"));
        }
    };
    Ok(Some(match cli.command {
        None => (cli.common, Mode::Plan),
        Some(Sub::Plan { common }) => (common, Mode::Plan),
        Some(Sub::Script { common, out }) => (common, Mode::Script(out)),
        Some(Sub::Run { common, run }) => (common, Mode::Run(run)),
    }))
}

/// Reads the inputs, judges them as the check does, and plans from the report.
fn make_plan(common: &Common, journal: Option<&Path>) -> anyhow::Result<Plan> {
    let now = common.thresholds.now().context("invalid option")?;
    let policy = common.thresholds.policy(now).context("invalid option")?;
    let state = common.inputs.load_state().context("reading the inputs")?;
    let mut options = common.renew.options()?;
    if let Some(path) = journal {
        options.current_seen = guided::currents_seen(path);
    }
    let report = judge(&state, &policy);
    decide(&state, &report, &options).context("cannot plan")
}

impl RenewArgs {
    fn options(&self) -> anyhow::Result<RenewOptions> {
        let effective_in = self
            .effective_in
            .as_deref()
            .map(|text| parse_duration(text, "--effective-in"))
            .transpose()
            .context("invalid option")?;
        let clear_after =
            parse_duration(&self.clear_after, "--clear-after").context("invalid option")?;
        Ok(RenewOptions {
            emergency: self.emergency,
            effective_in,
            clear_after,
            cleanup: self.cleanup,
            hybrid_acknowledged: self.hybrid_acknowledged,
            ignore_unreachable: self.ignore_unreachable,
            allow_stale: self.allow_stale,
            clear_previous: self.clear_previous,
            current_seen: Default::default(),
        })
    }
}

/// `plan`: a refused plan is shown too (with why), and exits 1.
fn show_plan(plan: &Plan, output: PlanOutput) -> ExitCode {
    match output {
        PlanOutput::Text => print!("{}", render::text(plan)),
        PlanOutput::Json => print!("{}", render::json(plan)),
    }
    if plan.refusals.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REFUSED_OR_FAILED)
    }
}

/// `script` and `run` do nothing with a refused plan.
fn refuse_when_refused(plan: &Plan, what: &str) -> anyhow::Result<()> {
    if plan.refusals.is_empty() {
        return Ok(());
    }
    Err(anyhow!(plan.refusals.join("; "))).context(CarryingOut(format!("refusing to {what}")))
}

fn write_script(plan: &Plan, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    refuse_when_refused(plan, "write a script")?;
    let text = script::render(plan);
    match out {
        Some(path) => std::fs::write(path, text.as_bytes())
            .with_context(|| CarryingOut(format!("writing the script to {}", path.display())))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `--journal`, or `<ExchangeInstallPath>\Logging\AuthCertificateRenewal\journal.jsonl`.
fn journal_path(args: &RunArgs) -> PathBuf {
    args.journal
        .clone()
        .unwrap_or_else(|| default_directory().join("journal.jsonl"))
}

/// `run`: a stopped or failed run exits 1; the journal (also on stdout) says why.
fn run_plan(plan: &Plan, args: RunArgs) -> anyhow::Result<ExitCode> {
    refuse_when_refused(plan, "run")?;
    let journal = journal_path(&args);
    let log = args
        .log
        .unwrap_or_else(|| journal.with_file_name("renewal.log"));
    let options = RunOptions {
        powershell: args.powershell,
        execute: args.execute,
        yes: args.yes,
        journal,
        log,
        timeouts: guided::Timeouts {
            step: args.step_timeout,
            run: args.run_timeout,
        },
    };
    let outcome = guided::run(plan, &options)
        .map_err(anyhow::Error::msg)
        .with_context(|| CarryingOut(format!("running plan {}", plan.fingerprint)))?;
    Ok(match outcome {
        Outcome::Completed | Outcome::DryRun => ExitCode::SUCCESS,
        Outcome::Stopped(_) | Outcome::Failed(_) => ExitCode::from(EXIT_REFUSED_OR_FAILED),
    })
}

enum Mode {
    Plan,
    Script(Option<PathBuf>),
    Run(RunArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_is_one_line_and_its_phase_gives_the_exit_code() {
        let invalid =
            anyhow!("--now 'x' is not an RFC 3339 instant\nexample: 2027-03-01T00:00:00Z")
                .context("invalid option");
        assert_eq!(
            one_line_chain(&invalid),
            "invalid option: --now 'x' is not an RFC 3339 instant example: 2027-03-01T00:00:00Z"
        );
        assert_eq!(exit_code(&invalid), ExitCode::from(EXIT_INVALID));
        let refused =
            anyhow!("hybrid configuration detected").context(CarryingOut("refusing to run".into()));
        assert_eq!(
            one_line_chain(&refused),
            "refusing to run: hybrid configuration detected"
        );
        assert_eq!(exit_code(&refused), ExitCode::from(EXIT_REFUSED_OR_FAILED));
        // Context added later keeps the exit code of the phase.
        assert_eq!(
            exit_code(&refused.context("outer")),
            ExitCode::from(EXIT_REFUSED_OR_FAILED)
        );
    }
}
