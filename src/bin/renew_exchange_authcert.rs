//! `renew_exchange_authcert`: options -> inputs -> state -> judgement -> Plan -> plan text/JSON,
//! a PowerShell script, or a guided run.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use exchange_authcert::cli::{InputArgs, ThresholdArgs};
use exchange_authcert::judge::judge;
use exchange_authcert::renew::parse_duration;
use exchange_authcert::renew::run::{Outcome, RunOptions, default_directory};
use exchange_authcert::renew::{RenewOptions, decide, render, run, script};

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
    /// Also remove expired certificates bound to no service.
    #[arg(long)]
    cleanup: bool,
    /// Change the active certificate although hybrid is configured (rerun HCW afterwards).
    #[arg(long)]
    hybrid_acknowledged: bool,
    /// Plan without the servers that could not be queried.
    #[arg(long)]
    ignore_unreachable: bool,
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
}

fn fail(code: i32, message: &str) -> ! {
    eprintln!(
        "renew_exchange_authcert: {}",
        exchange_authcert::judge::one_line(message)
    );
    std::process::exit(code)
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let reason = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".into());
        eprintln!("renew_exchange_authcert: internal error: {reason} (please report this)");
        std::process::exit(2)
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            std::process::exit(0)
        }
        Err(error) => {
            let text = error.to_string();
            let first = text.lines().next().unwrap_or("invalid option");
            fail(
                2,
                &format!("{} (see --help)", first.trim_start_matches("error: ")),
            )
        }
    };
    let (common, mode) = match cli.command {
        None => (cli.common, Mode::Plan),
        Some(Sub::Plan { common }) => (common, Mode::Plan),
        Some(Sub::Script { common, out }) => (common, Mode::Script(out)),
        Some(Sub::Run { common, run }) => (common, Mode::Run(run)),
    };
    let now = common
        .thresholds
        .now()
        .unwrap_or_else(|e| fail(2, &e.to_string()));
    let policy = common
        .thresholds
        .policy(now)
        .unwrap_or_else(|e| fail(2, &e.to_string()));
    let state = common
        .inputs
        .load_state()
        .unwrap_or_else(|e| fail(2, &e.to_string()));
    let r = &common.renew;
    let options = RenewOptions {
        emergency: r.emergency,
        effective_in: r
            .effective_in
            .as_deref()
            .map(|t| parse_duration(t, "--effective-in"))
            .transpose()
            .unwrap_or_else(|e| fail(2, &e.to_string())),
        clear_after: parse_duration(&r.clear_after, "--clear-after")
            .unwrap_or_else(|e| fail(2, &e.to_string())),
        cleanup: r.cleanup,
        hybrid_acknowledged: r.hybrid_acknowledged,
        ignore_unreachable: r.ignore_unreachable,
    };
    let report = judge(&state, &policy);
    let plan = decide(&state, &report, &options).unwrap_or_else(|e| fail(2, &e.to_string()));
    match mode {
        Mode::Plan => {
            match r.output {
                PlanOutput::Text => print!("{}", render::text(&plan)),
                PlanOutput::Json => print!("{}", render::json(&plan)),
            }
            std::process::exit(if plan.refusals.is_empty() { 0 } else { 1 })
        }
        Mode::Script(out) => {
            if !plan.refusals.is_empty() {
                fail(
                    1,
                    &format!("refusing to write a script: {}", plan.refusals.join("; ")),
                );
            }
            let text = script::render(&plan);
            match out {
                Some(path) => std::fs::write(&path, text.as_bytes())
                    .unwrap_or_else(|e| fail(1, &format!("{}: {e}", path.display()))),
                None => print!("{text}"),
            }
        }
        Mode::Run(args) => {
            let journal = args
                .journal
                .unwrap_or_else(|| default_directory().join("journal.jsonl"));
            let log = args
                .log
                .unwrap_or_else(|| journal.with_file_name("renewal.log"));
            let options = RunOptions {
                powershell: args.powershell,
                execute: args.execute,
                yes: args.yes,
                journal,
                log,
            };
            match run::run(&plan, &options) {
                Ok(Outcome::Completed) | Ok(Outcome::DryRun) => {}
                Ok(Outcome::Stopped(_)) | Ok(Outcome::Failed(_)) => std::process::exit(1),
                Err(e) => fail(1, &e),
            }
        }
    }
}

enum Mode {
    Plan,
    Script(Option<PathBuf>),
    Run(RunArgs),
}
