//! Process machinery: what makes the check a monitoring plugin the monitoring system can trust.
//!
//! Nagios, Icinga, PRTG, Checkmk and the Prometheus textfile collector read one document and one
//! exit code from every run. So whatever happens, the check prints exactly one well-formed
//! document, in the format asked for (or writes it to `--output-file`), and exits with the code
//! that format defines. Not only after a normal run, but also:
//!
//! - before clap has parsed the command line, and when clap refuses it (the format and the
//!   output file are pre-scanned: `cli::prescan`);
//! - on a panic: a one-line UNKNOWN, no backtrace ([`guard`]);
//! - when `-t` passes: UNKNOWN from a signal handler, whatever the run was doing ([`watchdog`]);
//! - when an input file is truncated under its mapping (SIGBUS) ([`sigbus`]);
//! - with standard streams closed by the caller, or a reader of stdout that went away
//!   ([`entry`], Linux's C entry point without Rust's runtime set-up).
//!
//! Several of these can fire at once; [`sole_document`] lets the first one write and silences the
//! rest. The signal handlers only read what was prepared before they were installed and make
//! async-signal-safe calls.
//!
//! This sits on top of everything: it renders failure reports (`judge`, `render`) and arms the
//! sources' file mapping, and nothing below it imports it.

#[cfg(target_os = "linux")]
pub mod entry;
pub mod guard;
pub mod sigbus;
pub mod sole_document;
pub mod watchdog;
