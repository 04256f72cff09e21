//! The Windows build under Wine: both binaries are cross-built for `x86_64-pc-windows-gnu`
//! (rustup target + Debian's `gcc-mingw-w64-x86-64`), and the cases that matter on Windows (PRTG
//! outputs, UTF-16LE inputs, `Z:\…` paths with backslashes, exit codes, the `-t` watchdog, which is
//! a thread on Windows) are run under `wine64` and compared with the Linux binary's results for
//! the same arguments: same exit code, same stdout once CRLF and the spelling of paths are
//! normalised.
//!
//! Wine 8 (Debian 12) lacks `bcryptprimitives.dll`, whose `ProcessPrng` Rust's std imports; a
//! test-only stand-in is built from `tests/wine/bcryptprimitives.c` next to the .exe in the
//! test's directory. It is never shipped.
//!
//! Without wine64, mingw or the rustup target the test says so and passes; with `CI=true` it
//! fails instead.

mod common;
mod system;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{BIN, CRATE_DIR};
use system::{find_program, run_bounded, skip};

const TARGET: &str = "x86_64-pc-windows-gnu";
const LINKER: &str = "x86_64-w64-mingw32-gcc";
const NOW: &str = "2026-12-01T00:00:00Z";
/// The Linux renewal companion, when this build has one.
const RENEW_BIN: Option<&str> = option_env!("CARGO_BIN_EXE_renew_exchange_authcert");
const INSTALL: &str =
    "apt-get install wine64 gcc-mingw-w64-x86-64 and rustup target add x86_64-pc-windows-gnu";

/// What the test needs from the machine, or why it cannot run.
struct Tools {
    wine: PathBuf,
    wineserver: Option<PathBuf>,
    gcc: PathBuf,
}

fn tools() -> Result<Tools, String> {
    let wine = find_program(&["/usr/lib/wine/wine64", "wine64", "wine"])
        .ok_or("wine64 is not installed")?;
    let gcc = find_program(&[LINKER]).ok_or("x86_64-w64-mingw32-gcc is not installed")?;
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if !sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Err(format!("the Rust target {TARGET} is not installed"));
    }
    let wineserver = find_program(&[
        "/usr/lib/wine/wineserver64",
        "/usr/lib/wine/wineserver",
        "wineserver",
    ]);
    Ok(Tools {
        wine,
        wineserver,
        gcc,
    })
}

/// Cross-builds every binary of the crate (debug profile: no LTO, quick) into its own target
/// directory below target/tmp, so it neither waits for nor disturbs the running `cargo test`.
fn cross_build(tools: &Tools) -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows-cross");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let (ok, text) = run_bounded(
        Command::new(cargo)
            .current_dir(CRATE_DIR)
            .args(["build", "--locked", "--bins", "--target", TARGET])
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", &tools.gcc)
            .env("CARGO_TERM_COLOR", "never"),
        Duration::from_secs(20 * 60),
    );
    assert!(ok, "cross-building for {TARGET} failed:\n{text}");
    target_dir.join(TARGET).join("debug")
}

/// Builds the ProcessPrng stand-in into `dir`.
fn build_shim(tools: &Tools, dir: &Path) {
    let source = Path::new(CRATE_DIR).join("tests/wine");
    let (ok, text) = run_bounded(
        Command::new(&tools.gcc)
            .arg("-shared")
            .arg("-O2")
            .arg("-o")
            .arg(dir.join("bcryptprimitives.dll"))
            .arg(source.join("bcryptprimitives.c"))
            .arg(source.join("bcryptprimitives.def"))
            .arg("-ladvapi32"),
        Duration::from_secs(120),
    );
    assert!(ok, "building bcryptprimitives.dll failed:\n{text}");
}

/// One run's result, normalised for comparison.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    /// Not compared (Wine may add its own lines); shown when a case fails.
    stderr: String,
}

/// Runs a program (directly, or an .exe under Wine) in the crate directory, bounded in time.
fn run(program: &[&Path], args: &[String], env: &[(&str, &Path)]) -> Outcome {
    let mut command = Command::new(program[0]);
    command
        .args(&program[1..])
        .args(args)
        .current_dir(CRATE_DIR)
        .env("WINEDEBUG", "-all")
        .env_remove("RUST_BACKTRACE");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = tempfile::NamedTempFile::new().expect("temp file");
    let err = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(out.reopen().expect("reopen"))
        .stderr(err.reopen().expect("reopen"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program:?}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program:?} {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read(out.path()).expect("stdout");
    let stderr = std::fs::read(err.path()).expect("stderr");
    Outcome {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8(stdout)
            .unwrap_or_else(|e| panic!("{program:?} {args:?}: stdout is not UTF-8: {e}")),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `Z:\…\file` as Wine maps a Unix path.
fn wine_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// Writes `text` as UTF-16LE with a BOM, as Windows PowerShell 5.1's `Out-File` and
/// `Export-Clixml` do.
fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// Stops the Wine server of the test's prefix on every path out of the test.
struct WineServer<'a> {
    wineserver: Option<&'a Path>,
    prefix: &'a Path,
}

impl Drop for WineServer<'_> {
    fn drop(&mut self) {
        if let Some(wineserver) = self.wineserver {
            let _ = run_bounded(
                Command::new(wineserver)
                    .arg("-k")
                    .env("WINEPREFIX", self.prefix),
                Duration::from_secs(30),
            );
        }
    }
}

/// One comparison: the arguments for each side and how to bring the Windows output to the
/// Linux spelling.
struct Case {
    name: &'static str,
    linux: Vec<String>,
    windows: Vec<String>,
    /// (Windows spelling, Linux spelling) of paths that appear in outputs.
    paths: Vec<(String, String)>,
    code: i32,
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Replaces the Windows spelling of each path by the Linux one, raw and JSON-escaped.
fn normalise(stdout: &str, paths: &[(String, String)]) -> String {
    let mut text = stdout.replace("\r\n", "\n");
    for (windows, linux) in paths {
        text = text.replace(&windows.replace('\\', "\\\\"), linux);
        text = text.replace(windows, linux);
    }
    text
}

/// clap names the program as it was started in its usage lines (`Usage: prog.exe …` and the
/// lines below it, indented to match): legitimately with `.exe` on Windows. Examples in the help
/// text, which name `prog.exe` on both sides, are left alone.
fn normalise_usage(stdout: &str, program: &str) -> String {
    let exe = format!("{program}.exe");
    let continuation = format!("       {exe}");
    let mut out = String::with_capacity(stdout.len());
    let mut in_usage = false;
    for line in stdout.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix(&format!("Usage: {exe}")) {
            out.push_str(&format!("Usage: {program}{rest}"));
            in_usage = true;
        } else if in_usage && line.starts_with(&continuation) {
            out.push_str(&line.replacen(&exe, program, 1));
        } else {
            in_usage = false;
            out.push_str(line);
        }
    }
    out
}

#[test]
fn windows_exe_under_wine_matches_the_linux_binary() {
    const TEST: &str = "windows_exe_under_wine_matches_the_linux_binary";
    let tools = match tools() {
        Ok(tools) => tools,
        Err(why) => {
            skip(TEST, &why, INSTALL);
            return;
        }
    };
    let started = Instant::now();
    let out_dir = cross_build(&tools);
    let build_time = started.elapsed();

    // The .exe files and the shim in a directory of their own, with a fresh Wine prefix.
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path();
    let prefix = dir.join("wineprefix");
    let _server = WineServer {
        wineserver: tools.wineserver.as_deref(),
        prefix: &prefix,
    };
    build_shim(&tools, dir);
    let check_exe = dir.join("check_exchange_authcert.exe");
    std::fs::copy(out_dir.join("check_exchange_authcert.exe"), &check_exe)
        .expect("copying check_exchange_authcert.exe");
    // Wine keeps everything in its prefix; HOME too points into the test's directory.
    let env = [("WINEPREFIX", prefix.as_path()), ("HOME", dir)];
    let wine_check = [tools.wine.as_path(), check_exe.as_path()];
    let linux_check = [Path::new(BIN)];

    // The first run creates the prefix (a few seconds); it must already be a real run.
    let version = run(&wine_check, &args(&["--version"]), &env);
    let linux_version = run(&linux_check, &args(&["--version"]), &[]);
    assert!(
        (version.code, &version.stdout) == (linux_version.code, &linux_version.stdout),
        "--version differs under Wine (is the ProcessPrng shim loaded?): {version:?}"
    );
    // That first run also started the prefix's background processes (services, explorer,
    // device drivers), which go on setting the prefix up after it returned; a case started
    // meanwhile can fail inside Wine (seen once in CI: exit 1, no output). Wait until they
    // are done and the server has gone, as `wineboot --init && wineserver -w` does.
    if let Some(wineserver) = tools.wineserver.as_deref() {
        let (ok, text) = run_bounded(
            Command::new(wineserver)
                .arg("-w")
                .env("WINEPREFIX", &prefix),
            Duration::from_secs(120),
        );
        assert!(
            ok,
            "wineserver -w failed after creating the prefix:\n{text}"
        );
    }

    // Inputs only the Windows side can be given, or that Windows writes.
    let samples = Path::new(CRATE_DIR).join("samples");
    let sample = |name: &str| samples.join(name).display().to_string();
    let win_sample = |name: &str| wine_path(&samples.join(name));
    let auth_utf16 = dir.join("auth-certificate-utf16le.pem");
    let pem = std::fs::read_to_string(samples.join("auth-certificate.pem")).expect("sample");
    std::fs::write(&auth_utf16, utf16le_with_bom(&pem.replace('\n', "\r\n"))).expect("w");
    let auth_utf16 = auth_utf16.display().to_string();
    let win_auth_utf16 = wine_path(Path::new(&auth_utf16));
    let missing = samples.join("missing.pem").display().to_string();
    let win_missing = wine_path(Path::new(&missing));

    let three = |output: &str| {
        let mut linux = args(&["--now", NOW, "-o", output]);
        let mut windows = linux.clone();
        for name in [
            "auth-certificate.pem",
            "exch01-transport.cer",
            "exch01-wmsvc-expired.pem",
        ] {
            linux.extend(args(&["--cert", &sample(name)]));
            windows.extend(args(&["--cert", &win_sample(name)]));
        }
        (linux, windows)
    };
    let mut cases = Vec::new();
    for (output, code) in [
        ("nagios", 2),
        ("prtg-xml", 0),
        ("prtg-json", 0),
        ("prtg-v2", 0),
        ("json", 2),
    ] {
        let (linux, windows) = three(output);
        let paths = [
            "auth-certificate.pem",
            "exch01-transport.cer",
            "exch01-wmsvc-expired.pem",
        ]
        .iter()
        .map(|n| (win_sample(n), sample(n)))
        .collect();
        cases.push(Case {
            name: output,
            linux,
            windows,
            paths,
            code,
        });
    }
    // Exit codes 0..3, with the same relative path (forward slashes work on Windows too).
    for (name, file, code) in [
        ("exit 0", "samples/auth-certificate.pem", 0),
        ("exit 1", "samples/exch01-transport.cer", 1),
        ("exit 2", "samples/exch01-wmsvc-expired.pem", 2),
        ("exit 3", "samples/missing.pem", 3),
    ] {
        let both = args(&["--now", NOW, "--cert", file]);
        cases.push(Case {
            name,
            linux: both.clone(),
            windows: both,
            paths: vec![],
            code,
        });
    }
    cases.push(Case {
        name: "backslashes, relative",
        linux: args(&["--now", NOW, "--cert", "samples/exch01-transport.cer", "-v"]),
        windows: args(&[
            "--now",
            NOW,
            "--cert",
            "samples\\exch01-transport.cer",
            "-v",
        ]),
        paths: vec![(
            "samples\\exch01-transport.cer".into(),
            "samples/exch01-transport.cer".into(),
        )],
        code: 1,
    });
    cases.push(Case {
        name: "missing file, Z: path",
        linux: args(&["--now", NOW, "--cert", &missing]),
        windows: args(&["--now", NOW, "--cert", &win_missing]),
        paths: vec![(win_missing.clone(), missing.clone())],
        code: 3,
    });
    cases.push(Case {
        name: "missing file, prtg-xml error document",
        linux: args(&["--now", NOW, "--cert", &missing, "-o", "prtg-xml"]),
        windows: args(&["--now", NOW, "--cert", &win_missing, "-o", "prtg-xml"]),
        paths: vec![(win_missing.clone(), missing.clone())],
        code: 0,
    });
    cases.push(Case {
        name: "UTF-16LE certificate file",
        linux: args(&["--now", NOW, "--cert", &auth_utf16, "-o", "prtg-v2"]),
        windows: args(&["--now", NOW, "--cert", &win_auth_utf16, "-o", "prtg-v2"]),
        paths: vec![(win_auth_utf16.clone(), auth_utf16.clone())],
        code: 0,
    });
    cases.push(Case {
        name: "bundle, prtg-xml",
        linux: args(&[
            "--now",
            NOW,
            "--bundle",
            &sample("bundle-contoso.json"),
            "-o",
            "prtg-xml",
        ]),
        windows: args(&[
            "--now",
            NOW,
            "--bundle",
            &win_sample("bundle-contoso.json"),
            "-o",
            "prtg-xml",
        ]),
        paths: vec![(
            win_sample("bundle-contoso.json"),
            sample("bundle-contoso.json"),
        )],
        code: 0,
    });
    // The -t watchdog, which on Windows is a thread (SIGALRM on Linux): 200 self-signed
    // certificates take the debug builds far longer than 1 ms.
    let slow_dir = common::Workdir::new();
    let slow_bundle = common::exchange::Organisation::new(common::anchor())
        .self_signed_stores(20, 10)
        .write_bundle(&slow_dir, "slow.json", common::exchange::TextEncoding::Utf8)
        .display()
        .to_string();
    let linux = args(&["--now", NOW, "--bundle", &slow_bundle, "-t", "0.001"]);
    let expected = run(&linux_check, &linux, &[]);
    assert!(
        expected
            .stdout
            .starts_with("EXCHANGE AUTHCERT UNKNOWN - check did not finish within 0.001 seconds"),
        "the Linux binary did not time out on the slow bundle: {expected:?}"
    );
    cases.push(Case {
        name: "-t watchdog",
        linux,
        windows: args(&[
            "--now",
            NOW,
            "--bundle",
            &wine_path(Path::new(&slow_bundle)),
            "-t",
            "0.001",
        ]),
        paths: vec![],
        code: 3,
    });
    cases.push(Case {
        name: "bad option",
        linux: args(&[
            "--now",
            "yesterday",
            "--cert",
            "samples/auth-certificate.pem",
        ]),
        windows: args(&[
            "--now",
            "yesterday",
            "--cert",
            "samples/auth-certificate.pem",
        ]),
        paths: vec![],
        code: 3,
    });
    cases.push(Case {
        name: "--help",
        linux: args(&["--help"]),
        windows: args(&["--help"]),
        paths: vec![],
        code: 3,
    });

    // --ldap against the loopback slapd, over LDAPS and over StartTLS: on Windows the LDAP
    // client runs on tokio's IOCP driver and winsock, which nothing else in the check uses.
    // The password, CA and metadata files are given as Z:\ paths.
    let ldap_dir = common::Workdir::new();
    let ldap = common::ldap::LdapCheck::start(ldap_dir.path(), common::utc(2026, 12, 1, 0, 0, 0));
    match &ldap {
        Some(check) => {
            let files = [&check.password_file, &check.ca_file, &check.metadata];
            for (name, url) in [
                ("--ldap ldaps://", check.slapd.ldaps_url()),
                ("--ldap ldap:// with StartTLS", check.slapd.starttls_url()),
            ] {
                cases.push(Case {
                    name,
                    linux: check.args(&url, |p| p.display().to_string()),
                    windows: check.args(&url, wine_path),
                    paths: files
                        .iter()
                        .map(|p| (wine_path(p), p.display().to_string()))
                        .collect(),
                    code: 1,
                });
            }
            // Every server asked for its own metadata, over TLS from Windows' sockets to
            // 127.0.0.2 and 127.0.0.3 (tests/common/probe.rs).
            let files = [&check.password_file, &check.probe_ca_file];
            let url = check.slapd.ldaps_url();
            cases.push(Case {
                name: "--ldap --probe-servers",
                linux: check.probe_args(&url, |p| p.display().to_string()),
                windows: check.probe_args(&url, wine_path),
                paths: files
                    .iter()
                    .map(|p| (wine_path(p), p.display().to_string()))
                    .collect(),
                code: 1,
            });
        }
        None if system::in_ci() => {
            panic!("slapd is not installed, but CI=true: .ci/run must install it")
        }
        None => {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"note: slapd is not installed: the --ldap cases are left out\n",
            );
        }
    }

    // Real Export-Clixml files of Windows PowerShell 5.1 are UTF-16LE with a BOM: the
    // CSS-Exchange fixtures re-encoded so.
    let fixtures = Path::new(CRATE_DIR).join("../shared/fixtures/css-exchange");
    if fixtures.join("GetAuthConfig.xml").is_file() {
        let mut names = Vec::new();
        for name in ["GetAuthConfig.xml", "GetExchangeCertificate.xml"] {
            let text = std::fs::read_to_string(fixtures.join(name)).expect("fixture");
            let text = text.trim_start_matches('\u{feff}');
            let copy = dir.join(format!("utf16-{name}"));
            std::fs::write(&copy, utf16le_with_bom(text)).expect("w");
            names.push(copy.display().to_string());
        }
        let (authconfig, certificates) = (&names[0], &names[1]);
        let win = |p: &str| wine_path(Path::new(p));
        let linux = args(&[
            "--now",
            NOW,
            "--max-age",
            "0",
            "--authconfig",
            authconfig,
            "--certificates",
            &format!("EXCH1={certificates}"),
            "-o",
            "json",
        ]);
        let windows = args(&[
            "--now",
            NOW,
            "--max-age",
            "0",
            "--authconfig",
            &win(authconfig),
            "--certificates",
            &format!("EXCH1={}", win(certificates)),
            "-o",
            "json",
        ]);
        let expected = run(&linux_check, &linux, &[]).code;
        assert!(
            expected != 3,
            "the Linux binary cannot read the UTF-16LE Export-Clixml fixtures"
        );
        cases.push(Case {
            name: "UTF-16LE Export-Clixml (CSS-Exchange fixtures)",
            linux,
            windows,
            paths: vec![
                (win(authconfig), authconfig.clone()),
                (win(certificates), certificates.clone()),
            ],
            code: expected,
        });
    } else {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"note: ../shared/fixtures/css-exchange not found: the UTF-16LE Export-Clixml case is left out\n",
        );
    }

    let mut failures = Vec::new();
    for case in &cases {
        let linux = run(&linux_check, &case.linux, &[]);
        let windows = run(&wine_check, &case.windows, &env);
        if linux.code != case.code {
            failures.push(format!(
                "{}: the Linux binary exits {} (expected {})\n{}",
                case.name, linux.code, case.code, linux.stdout
            ));
        }
        if windows.code != linux.code {
            failures.push(format!(
                "{}: exit code {} under Wine, {} on Linux\nstdout: {}\nstderr: {}",
                case.name, windows.code, linux.code, windows.stdout, windows.stderr
            ));
        }
        let normalised = normalise_usage(
            &normalise(&windows.stdout, &case.paths),
            "check_exchange_authcert",
        );
        if normalised != linux.stdout {
            failures.push(format!(
                "{}: stdout differs (- Linux, + Wine, normalised):\n{}",
                case.name,
                common::line_diff(&linux.stdout, &normalised)
            ));
        }
        if linux.stdout.trim().is_empty() {
            failures.push(format!("{}: no output at all", case.name));
        }
    }

    // The renewal companion, when the crate has it: it starts and says the same.
    if let Some(renew) = RENEW_BIN {
        let exe = dir.join("renew_exchange_authcert.exe");
        std::fs::copy(out_dir.join("renew_exchange_authcert.exe"), &exe)
            .expect("copying renew_exchange_authcert.exe");
        for case_args in [
            args(&["--version"]),
            args(&["--help"]),
            args(&[
                "plan",
                "--bundle",
                "samples/bundle-contoso.json",
                "--now",
                NOW,
            ]),
        ] {
            let linux = run(&[Path::new(renew)], &case_args, &[]);
            let windows = run(&[tools.wine.as_path(), exe.as_path()], &case_args, &env);
            let normalised =
                normalise_usage(&normalise(&windows.stdout, &[]), "renew_exchange_authcert");
            if (windows.code, &normalised) != (linux.code, &linux.stdout) {
                failures.push(format!(
                    "renew_exchange_authcert {case_args:?}: exit {} under Wine, {} on Linux\n{}\nstderr under Wine: {}",
                    windows.code,
                    linux.code,
                    common::line_diff(&linux.stdout, &normalised),
                    windows.stderr
                ));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "the Windows build differs from the Linux build ({} cases, cross-build {:?}):\n{}",
        cases.len(),
        build_time,
        failures.join("\n")
    );
}
