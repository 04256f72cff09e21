//! The PowerShell the renewal companion generates, checked with a PowerShell grammar
//! (tree-sitter-powershell): every script, step, check and the runner's prelude parse without
//! ERROR or MISSING nodes; only known commands are invoked; and text taken from hostile inputs
//! either is refused by validation with a clear message or appears only inside single-quoted
//! string literals.

mod common;

use common::renew::{SCENARIOS, SimOrg, text};
use exchange_authcert::renew::powershell::quote;
use exchange_authcert::renew::run::{PRELUDE, prelude};
use serde_json::Value;
use tree_sitter::{Node, Parser, Tree};

fn parse(source: &str) -> Tree {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("grammar");
    parser.parse(source, None).expect("tree")
}

fn nodes<'t>(node: Node<'t>, out: &mut Vec<Node<'t>>) {
    out.push(node);
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        nodes(child, out);
    }
}

fn first_error(source: &str) -> Option<String> {
    let tree = parse(source);
    if !tree.root_node().has_error() {
        return None;
    }
    let mut all = Vec::new();
    nodes(tree.root_node(), &mut all);
    let bad = all.into_iter().find(|n| n.is_error() || n.is_missing())?;
    let p = bad.start_position();
    Some(format!(
        "line {} column {}: {:?}",
        p.row + 1,
        p.column + 1,
        &source[bad.start_byte()..bad.end_byte().min(bad.start_byte() + 60)]
    ))
}

fn assert_parses(source: &str, what: &str) {
    if let Some(error) = first_error(source) {
        panic!("{what} does not parse: {error}\n{source}");
    }
}

/// Every command the generated scripts may invoke.
const ALLOWED: &[&str] = &[
    "Get-Command",
    "Connect-ExchangeServer",
    "Get-RenewThumbprint",
    "Assert-RenewRestarted",
    "Get-Service",
    "Get-WebAppPoolState",
    "Test-RenewStepDone",
    "Add-RenewRecord",
    "Get-RenewRecorded",
    "Find-RenewTransportSuccessor",
    "ConvertTo-RenewCertificateEntry",
    "Test-Path",
    "Get-Content",
    "Join-Path",
    "New-Item",
    "Out-Null",
    "Get-Date",
    "Write-Host",
    "Add-Content",
    "Read-Host",
    "Get-ExchangeCertificate",
    "Where-Object",
    "ForEach-Object",
    "Get-TransportService",
    "Enable-ExchangeCertificate",
    "Write-RenewLog",
    "Confirm-RenewStep",
    "Assert-RenewCheck",
    "Get-RenewIisBinding",
    "Restore-RenewBinding",
    "New-ExchangeCertificate",
    "Import-ExchangeCertificate",
    "Copy-RenewAuthCertificate",
    "Start-Sleep",
    "New-Object",
    "Import-Module",
    "Get-WebBinding",
    "Set-RenewBackEndCertificate",
    "Restore-RenewTransport",
    "ConvertTo-RenewAscii",
    "Get-RenewServiceNames",
    "Get-RenewStateLine",
    "ConvertTo-SecureString",
    "Set-AuthConfig",
    "Get-AuthConfig",
    "Remove-ExchangeCertificate",
    "Restart-Service",
    "Restart-WebAppPool",
    "Invoke-Command",
    "Write-Output",
    "Select-Object",
    "Get-HybridConfiguration",
    "ConvertTo-Json",
    "Out-String",
    "Get-Variable",
    "ConvertTo-RenewUtc",
];

fn command_names(source: &str) -> Vec<String> {
    let tree = parse(source);
    let mut all = Vec::new();
    nodes(tree.root_node(), &mut all);
    all.iter()
        .filter(|n| n.kind() == "command_name")
        .map(|n| source[n.byte_range()].to_string())
        .collect()
}

fn assert_known_commands(source: &str, what: &str) {
    for name in command_names(source) {
        assert!(
            ALLOWED.iter().any(|a| a.eq_ignore_ascii_case(&name)),
            "{what} invokes unexpected command {name:?}"
        );
    }
}

/// Byte ranges of single-quoted string literals.
fn literal_ranges(source: &str) -> Vec<std::ops::Range<usize>> {
    let tree = parse(source);
    let mut all = Vec::new();
    nodes(tree.root_node(), &mut all);
    all.iter()
        .filter(|n| n.kind() == "string_literal" && source[n.byte_range()].starts_with('\''))
        .map(|n| n.byte_range())
        .collect()
}

fn assert_only_in_literals(source: &str, marker: &str) {
    let ranges = literal_ranges(source);
    let mut found = 0;
    for (at, _) in source.match_indices(marker) {
        found += 1;
        assert!(
            ranges
                .iter()
                .any(|r| r.start < at && at + marker.len() < r.end),
            "{marker} outside a string literal at byte {at}: {}",
            &source[at.saturating_sub(80)..(at + 80).min(source.len())]
        );
    }
    assert!(found > 0, "{marker} not in the script at all");
}

fn script_of(org: &SimOrg, options: &[&str]) -> String {
    let mut args = vec!["script"];
    args.extend_from_slice(options);
    let output = org.renew(&args, &[], None);
    assert!(output.status.success(), "{}", text(&output));
    String::from_utf8(output.stdout).expect("UTF-8 script")
}

#[test]
fn every_scenario_script_parses_and_has_the_safety_parts() {
    for (scenario, options) in SCENARIOS {
        let org = SimOrg::new(scenario);
        let script = script_of(&org, options);
        assert_parses(&script, scenario);
        assert_known_commands(&script, scenario);
        assert!(
            script.starts_with("#Requires -RunAsAdministrator\n"),
            "{scenario}"
        );
        for needle in [
            "[switch]$DryRun",
            ". (Join-Path $env:ExchangeInstallPath 'bin\\RemoteExchange.ps1')",
            "Connect-ExchangeServer -auto -ClientApplication:ManagementShell",
            "Logging\\AuthCertificateRenewal",
            "$env:TEMP",
            "Read-Host",
            "$RenewTransportBefore[$server] = (Get-TransportService -Identity $server).InternalTransportCertificateThumbprint",
            "Restore-RenewBinding",
            "Assert-RenewCheck",
            "exit 1",
        ] {
            assert!(script.contains(needle), "{scenario}: {needle}");
        }
        // PowerShell 5.1: none of 7's operators.
        for seven in ["&&", "||", "?? ", "?."] {
            assert!(!script.contains(seven), "{scenario}: {seven}");
        }
    }
}

#[test]
fn script_out_writes_a_file() {
    let org = SimOrg::new("stage");
    let path = org.path("Renew.ps1");
    let output = org.renew(&["script", "--out", path.to_str().unwrap()], &[], None);
    assert!(output.status.success(), "{}", text(&output));
    let script = std::fs::read_to_string(&path).unwrap();
    assert_parses(&script, "script --out");
    assert!(script.contains("Set-AuthConfig -NewCertificateThumbprint $global:RenewNew0"));
}

#[test]
fn the_runner_prelude_and_every_step_and_check_parse() {
    assert_parses(PRELUDE, "prelude");
    assert_parses(&prelude(), "prelude with the step functions");
    assert_known_commands(&prelude(), "prelude");
    for (scenario, options) in SCENARIOS {
        let org = SimOrg::new(scenario);
        let mut args = vec!["plan", "--output", "json"];
        args.extend_from_slice(options);
        let output = org.renew(&args, &[], None);
        let plan: Value = serde_json::from_slice(&output.stdout).expect("plan JSON");
        for step in plan["steps"].as_array().unwrap() {
            let code = step["powershell"].as_str().unwrap();
            assert_parses(code, &format!("{scenario} step {}", step["id"]));
            assert_known_commands(code, scenario);
            for check in step["verify"]
                .as_array()
                .unwrap()
                .iter()
                .chain(step["preconditions"].as_array().unwrap())
            {
                assert_parses(
                    check["powershell"].as_str().unwrap(),
                    &format!("{scenario} check {}", check["description"]),
                );
            }
        }
    }
}

/// The unquoted value of a single-quoted literal, as PowerShell reads it.
fn unquote(literal: &str) -> String {
    let inner: Vec<char> = literal.chars().collect();
    let inner = &inner[1..inner.len() - 1];
    let mut out = String::new();
    let mut i = 0;
    while i < inner.len() {
        out.push(inner[i]);
        if matches!(
            inner[i],
            '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}'
        ) {
            i += 1;
        }
        i += 1;
    }
    out
}

/// The value of the one string expression in `source` (`Write-Output <quote(...)>`), as
/// PowerShell computes it: single-quoted literals and `[char]0xNNNN` units, concatenated.
/// Panics when anything else is there: no variable, no subexpression, no other token.
fn string_value(source: &str) -> String {
    let literals = literal_ranges(source);
    let mut rest = String::new();
    let mut pieces: Vec<(usize, Vec<u16>)> = literals
        .iter()
        .map(|r| {
            (
                r.start,
                unquote(&source[r.clone()]).encode_utf16().collect(),
            )
        })
        .collect();
    let mut at = 0;
    for r in &literals {
        rest.push_str(&source[at..r.start]);
        rest.push_str(&" ".repeat(r.len()));
        at = r.end;
    }
    rest.push_str(&source[at..]);
    let rest = rest.trim_start_matches("Write-Output ");
    let offset = source.len() - rest.len();
    let mut i = 0;
    let bytes = rest.as_bytes();
    while i < bytes.len() {
        if rest[i..].starts_with("[char]0x") {
            let hex = &rest[i + 8..i + 12];
            pieces.push((offset + i, vec![u16::from_str_radix(hex, 16).expect("hex")]));
            i += 12;
        } else {
            assert!(
                b"()+ ".contains(&bytes[i]),
                "injected token in {source:?} at {i}"
            );
            i += 1;
        }
    }
    pieces.sort_by_key(|(start, _)| *start);
    let units: Vec<u16> = pieces.into_iter().flat_map(|(_, u)| u).collect();
    String::from_utf16(&units).expect("valid UTF-16")
}

const HOSTILE: &[&str] = &[
    "it's",
    "'; Remove-Item C:\\ -Recurse; '",
    "$(Invoke-Expression 'calc')",
    "`$x `n `' ",
    "a;b|c&d",
    "\u{2018}smart\u{2019} \u{201A}low\u{201B}",
    "''''",
    "'",
    "@' here '@",
    "$env:COMPUTERNAME ${x} $null",
    "# not a comment",
    "<# block #>",
    "line\nbreak",
    "tab\there",
    "\u{0}nul",
    "Michał Łódź",
    "Сертификат т",
    "Ñoño",
    "ł'; Remove-Item C:\\ -Recurse; 'ł",
    "\u{1F600} emoji",
];

#[test]
fn quoting_always_gives_one_literal_with_the_same_value() {
    let mut samples: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    // A small deterministic generator over the characters that matter.
    let alphabet: Vec<char> =
        "'\"`$(){}[];|&#<>@\n\r\t a\u{2018}\u{2019}\u{201A}\u{201B}\u{201C}\u{201D}-"
            .chars()
            .collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..500 {
        let mut s = String::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s.push(alphabet[(seed % alphabet.len() as u64) as usize]);
        }
        seed = seed.wrapping_add(0x9E37_79B9);
        samples.push(s);
    }
    for value in samples {
        let quoted = quote(&value);
        assert!(quoted.is_ascii(), "{value:?}: {quoted}");
        let source = format!("Write-Output {quoted}");
        assert_parses(&source, &format!("{value:?}"));
        if value.is_ascii()
            && !value
                .chars()
                .any(|c| c.is_control() && !"\t\n\r".contains(c))
        {
            let literals = literal_ranges(&source);
            assert_eq!(literals.len(), 1, "{value:?}: {source}");
            assert_eq!(&source[literals[0].clone()], quoted, "{value:?}");
        }
        let expected: String = value
            .chars()
            .map(|c| {
                if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(string_value(&source), expected, "{source}");
        assert_eq!(command_names(&source), ["Write-Output"], "{value:?}");
    }
}

/// The self-signed scenario's export with the renewed certificate's friendly name replaced.
fn bundle_with_friendly_name(org: &SimOrg, name: &str) -> std::path::PathBuf {
    let path = org.export("bundle.json");
    let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let transport = bundle["servers"][0]["internal_transport_certificate_thumbprint"].clone();
    for cert in bundle["servers"][0]["certificates"].as_array_mut().unwrap() {
        if cert["thumbprint"] == transport {
            cert["friendly_name"] = Value::String(name.into());
        }
    }
    let out = org.path("hostile.json");
    std::fs::write(&out, serde_json::to_string(&bundle).unwrap()).unwrap();
    out
}

fn renew_with_bundle(bundle: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = std::process::Command::new(common::renew::RENEW);
    c.args(args)
        .arg("--bundle")
        .arg(bundle)
        .args(["--now", common::renew::NOW]);
    common::renew::run_command(c, None)
}

#[test]
fn hostile_friendly_names_stay_inside_string_literals() {
    let org = SimOrg::new("selfsigned");
    for hostile in HOSTILE.iter().filter(|h| !h.chars().any(char::is_control)) {
        let name = format!("PWNED{hostile}PWNED");
        let bundle = bundle_with_friendly_name(&org, &name);
        let output = renew_with_bundle(&bundle, &["script", "--cleanup"]);
        assert!(output.status.success(), "{hostile:?}: {}", text(&output));
        let script = String::from_utf8(output.stdout).unwrap();
        assert_parses(&script, hostile);
        assert_known_commands(&script, hostile);
        assert_only_in_literals(&script, "PWNED");
    }
}

#[test]
fn friendly_names_with_control_characters_are_refused() {
    let org = SimOrg::new("selfsigned");
    for hostile in ["line\nbreak; Remove-Item C:\\", "tab\there", "cr\rhere"] {
        let bundle = bundle_with_friendly_name(&org, hostile);
        for sub in ["plan", "script", "run"] {
            let output = renew_with_bundle(&bundle, &[sub]);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{hostile:?} {sub}: {}",
                text(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("friendly name") && stderr.contains("control characters"),
                "{stderr}"
            );
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
            assert!(output.stdout.is_empty());
        }
    }
}

#[test]
fn hostile_server_names_are_refused() {
    let org = SimOrg::new("import");
    let path = org.export("bundle.json");
    for hostile in [
        "EXCH02'; Remove-Item C:\\ -Recurse; '",
        "EXCH02$(calc)",
        "EXCH02`n",
        "EXCH 02",
        "EXCH02;x",
        "\u{2019}EXCH02",
    ] {
        let mut bundle: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        bundle["servers"][1]["name"] = Value::String(hostile.into());
        let out = org.path("hostile-server.json");
        std::fs::write(&out, serde_json::to_string(&bundle).unwrap()).unwrap();
        for sub in ["plan", "script", "run"] {
            let output = renew_with_bundle(&out, &[sub]);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{hostile:?} {sub}: {}",
                text(&output)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("is not a DNS name"), "{stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        }
    }
}

/// Bytes as Windows PowerShell 5.1 reads a script file without BOM on a Western European
/// system: the ANSI code page, Windows-1252 (DOMAIN.md §8).
fn windows_1252(bytes: &[u8]) -> String {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => char::from_u32(HIGH[(b - 0x80) as usize] as u32).unwrap(),
            _ => char::from(b),
        })
        .collect()
}

/// Issue 15 item 5. Read in the ANSI code page, as Windows PowerShell 5.1 reads a file without
/// BOM, the script still parses, every name is the same string and nothing of it became code:
/// for innocent non-ASCII names (Polish ł, Cyrillic т, Ñ) and for one crafted so that the
/// UTF-8 bytes of ł (C5 82) read as `Å‚`, where U+201A is a PowerShell quote character.
/// Failed before: the script was UTF-8 without BOM; read as Windows-1252 the crafted name
/// ended its literal and `Remove-Item` became a command.
#[test]
fn scripts_read_in_the_ansi_code_page_keep_every_name_inside_its_literal() {
    let org = SimOrg::new("selfsigned");
    for name in [
        "Michał Łódź",
        "Сертификат т",
        "Ñoño",
        "PWNEDł; Remove-Item C:\\ -Recurse; łPWNED",
        "PWNEDł'; Remove-Item C:\\ -Recurse; 'łPWNED",
    ] {
        let bundle = bundle_with_friendly_name(&org, name);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("renew.ps1");
        let output = renew_with_bundle(
            &bundle,
            &["script", "--cleanup", "--out", out.to_str().unwrap()],
        );
        assert!(output.status.success(), "{name:?}: {}", text(&output));
        let bytes = std::fs::read(&out).unwrap();
        let read = windows_1252(&bytes);
        assert_parses(&read, name);
        assert_known_commands(&read, name);
        if name.contains("PWNED") {
            assert_only_in_literals(&read, "PWNED");
        }
        let line = read
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with("$renewCert = New-ExchangeCertificate")
            })
            .expect("the renewal's New-ExchangeCertificate line");
        let expression = line
            .split_once("-FriendlyName ")
            .and_then(|(_, rest)| rest.split_once(" -Services"))
            .map(|(e, _)| e)
            .expect("-FriendlyName");
        assert_eq!(
            string_value(&format!("Write-Output {expression}")),
            name,
            "{line}"
        );
        assert!(bytes.is_ascii(), "{name:?}: the script is not ASCII");
    }
}

/// What a rerun of a script must leave alone: AuthConfig, every store, every transport
/// certificate and web binding.
fn snapshot(org: &SimOrg) -> Value {
    let state = org.state();
    let servers: Vec<Value> = state["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut thumbprints: Vec<&str> = s["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["thumbprint"].as_str().unwrap())
                .collect();
            thumbprints.sort_unstable();
            serde_json::json!({"transport": s["transport"], "front_end": s["front_end"], "back_end": s["back_end"], "certificates": thumbprints})
        })
        .collect();
    serde_json::json!({"current": state["current"], "previous": state["previous"], "next": state["next"], "servers": servers})
}

/// Issue 15 item 8. A finished script run again does nothing: every step sees in the live
/// state (or, for restarts, in the script's record) that it is done; no second Auth
/// Certificate, no second emergency rotation, no second transport renewal. Failed before: the
/// rerun created another Auth Certificate and staged it (replace: a second emergency
/// rotation; stage: a second next certificate), renewed the transport certificate again.
#[test]
fn a_finished_script_run_again_changes_nothing() {
    for (scenario, options) in [
        ("replace", &["--emergency"][..]),
        ("stage", &[][..]),
        ("selfsigned", &["--cleanup"][..]),
        (
            "replace-expired-transport",
            &["--emergency", "--cleanup"][..],
        ),
    ] {
        let org = SimOrg::new(scenario);
        let script = org.script_file("Renew.ps1", options);
        let first = org.run_script(&script, &[]);
        assert_eq!(first.status.code(), Some(0), "{scenario}: {}", text(&first));
        let after_first = snapshot(&org);
        let mutations = org.state()["mutations"].clone();
        let second = org.run_script(&script, &[]);
        assert_eq!(
            second.status.code(),
            Some(0),
            "{scenario}: {}",
            text(&second)
        );
        assert_eq!(
            snapshot(&org),
            after_first,
            "{scenario}: the rerun changed the organisation"
        );
        assert_eq!(
            org.state()["mutations"],
            mutations,
            "{scenario}: the rerun ran a state-changing cmdlet: {}",
            text(&second)
        );
        let log = String::from_utf8_lossy(&second.stdout);
        assert!(!log.contains(": done"), "{scenario}: {log}");
        assert!(log.contains("already done"), "{scenario}: {log}");
    }
}

/// Issue 15 item 9b. In a plain Windows PowerShell the script loads the Exchange cmdlets as
/// MEAC does (RemoteExchange.ps1, Connect-ExchangeServer), never the snap-in; inside the
/// Exchange Management Shell it loads nothing. Failed before: the script added the snap-in.
#[test]
fn the_script_loads_exchange_through_remote_exchange_ps1() {
    let org = SimOrg::new("stage");
    let script = org.script_file("Renew.ps1", &[]);
    let output = org.run_script(&script, &[("EXSIM_PLAIN_SHELL", "1")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let events = org.state()["events"].to_string();
    assert!(events.contains("Connect-ExchangeServer -auto"), "{events}");
    assert!(!events.contains("Add-PSSnapin"), "{events}");

    let org = SimOrg::new("stage");
    let script = org.script_file("Renew.ps1", &[]);
    let output = org.run_script(&script, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let events = org.state()["events"].to_string();
    assert!(
        !events.contains("Connect-ExchangeServer") && !events.contains("Add-PSSnapin"),
        "{events}"
    );
}

/// Issue 15 item 9a. With serialization signing and an expired Auth Certificate the shell
/// returns certificates with RawData only: the script and the guided run take the thumbprint
/// as the SHA-1 of RawData and complete the emergency sequence. Failed before: the new
/// certificate's thumbprint was read from `.Thumbprint`, empty, and the step's verification
/// (or Set-AuthConfig) failed.
#[test]
fn rawdata_only_certificates_from_an_expired_auth_certificate_are_understood() {
    let org = SimOrg::new("replace");
    let script = org.script_file("Renew.ps1", &["--emergency"]);
    let output = org.run_script(&script, &[("EXSIM_RAWDATA_ONLY", "1")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(common::renew::current_is_valid_everywhere(&org.state()));

    let org = SimOrg::new("replace");
    let output = org.run_execute(&["--emergency"], &[("EXSIM_RAWDATA_ONLY", "1")]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(common::renew::current_is_valid_everywhere(&org.state()));
}

/// Issue 15 item 10b. Every cmdlet that would ask in a console gets its answer in the
/// script: Remove-ExchangeCertificate -Confirm:$false, Enable-ExchangeCertificate for SMTP and
/// New-ExchangeCertificate -Force; the stricter simulator refuses them otherwise (as a host
/// without a console does), and every scenario's script still completes.
#[test]
fn no_cmdlet_of_a_script_waits_for_an_answer() {
    for (scenario, options) in SCENARIOS {
        let org = SimOrg::new(scenario);
        let script_path = org.script_file("Renew.ps1", options);
        let script = std::fs::read_to_string(&script_path).unwrap();
        for line in script.lines().map(str::trim) {
            if line.starts_with("Remove-ExchangeCertificate") {
                assert!(line.contains("-Confirm:$false"), "{scenario}: {line}");
            }
            if line.starts_with("Enable-ExchangeCertificate")
                || line.contains("= New-ExchangeCertificate")
            {
                assert!(line.contains("-Force"), "{scenario}: {line}");
            }
        }
        if ["hybrid", "unreachable"].contains(scenario) {
            continue;
        }
        let output = org.run_script(&script_path, &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{scenario}: {}",
            text(&output)
        );
    }
}

/// Issue 15 item 10c. A restart that does not come back fails its step, in the script as in
/// the guided run: MSExchangeServiceHost and both app pools are checked on the server they
/// were restarted on. Failed before: the restart step reported done whatever the service did.
#[test]
fn a_service_that_does_not_come_back_fails_the_restart() {
    let org = SimOrg::new("replace");
    let script = org.script_file("Renew.ps1", &["--emergency"]);
    let output = org.run_script(&script, &[("EXSIM_SERVICE_STUCK", "EXCH02")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        log.contains("EXCH02 after the restart: MSExchangeServiceHost is not running"),
        "{log}"
    );

    let org = SimOrg::new("replace");
    let output = org.run_execute(&["--emergency"], &[("EXSIM_SERVICE_STUCK", "EXCH02")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let journal: Vec<Value> = org.journal();
    assert!(
        journal.iter().any(|e| e["event"] == "step_failed"
            && e["step"] == "restart-exch02"
            && e.to_string()
                .contains("MSExchangeServiceHost is not running")),
        "{journal:#?}"
    );
}

/// Issue 15 item 8, a script stopped between creating the new Auth Certificate and staging it:
/// the rerun takes the certificate from the script's record (the live state does not name it
/// yet) and stages that one; every server ends with exactly one new Auth Certificate.
#[test]
fn a_script_stopped_after_creating_the_certificate_reuses_it() {
    let org = SimOrg::new("stage");
    let script = org.script_file("Renew.ps1", &[]);
    let auth_count = |org: &SimOrg| -> Vec<usize> {
        org.state()["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                s["certificates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["friendly_name"] == "Microsoft Exchange Server Auth Certificate")
                    .count()
            })
            .collect()
    };
    let before = auth_count(&org);
    let first = org.run_script(&script, &[("EXSIM_FAIL_CMDLET", "Set-AuthConfig")]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    assert_eq!(org.state()["next"], "", "the failed run staged nothing");
    let second = org.run_script(&script, &[]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let state = org.state();
    assert_ne!(state["next"], "");
    assert_eq!(
        auth_count(&org),
        before.iter().map(|n| n + 1).collect::<Vec<_>>(),
        "{state:#}"
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("Step 1: already done"));
}
