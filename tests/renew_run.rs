//! End to end: `renew_exchange_authcert run` against the Exchange simulator (which stands in
//! for powershell.exe and parses the PowerShell it receives with tree-sitter-powershell), then
//! `check_exchange_authcert` on the simulator's export. Fault injection at every state-changing
//! cmdlet of every scenario, before and after it acts; resume; dry run.

mod common;

use common::renew::{SCENARIOS, SimOrg, assert_not_broken, current_is_valid_everywhere, text};
use serde_json::{Value, json};

/// What the check must say after a complete run of the scenario.
fn expected_check(scenario: &str, code: i32, output: &str) {
    let first = output.lines().next().unwrap_or("");
    match scenario {
        // The rotation is staged: OK, with the pending next certificate named.
        "stage" => {
            assert_eq!(code, 0, "{output}");
            assert!(first.contains("next"), "{output}");
        }
        // Hybrid: the pending rotation is a WARNING until HCW is rerun.
        "hybrid" => {
            assert_eq!(code, 1, "{output}");
            assert!(first.contains("Hybrid Configuration Wizard"), "{output}");
        }
        // EXCH02 still cannot be queried; nothing else is wrong.
        "unreachable" => {
            assert_eq!(code, 3, "{output}");
            assert!(output.contains("EXCH02 could not be queried"), "{output}");
            assert!(!output.contains("CRITICAL:"), "{output}");
        }
        _ => assert_eq!(code, 0, "{scenario}: {output}"),
    }
}

/// Scenarios whose plan renews an internal transport certificate on purpose.
fn renews_transport(scenario: &str) -> bool {
    scenario.starts_with("selfsigned") || scenario == "replace-expired-transport"
}

fn options_of(scenario: &str) -> &'static [&'static str] {
    SCENARIOS
        .iter()
        .find(|(s, _)| *s == scenario)
        .map(|(_, o)| *o)
        .unwrap_or(&[])
}

fn events(org: &SimOrg, event: &str) -> Vec<Value> {
    org.journal()
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

#[test]
fn every_scenario_runs_to_a_healthy_organisation() {
    for (scenario, options) in SCENARIOS {
        let org = SimOrg::new(scenario);
        let before = org.state();
        let output = org.run_execute(options, &[]);
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        let after = org.state();
        assert_not_broken(&before, &after, renews_transport(scenario), scenario);
        assert!(current_is_valid_everywhere(&after), "{scenario}: {after:#}");
        let (code, check) = org.check();
        expected_check(scenario, code, &check);
        // The journal tells the story: a start, every step done, a completed finish.
        let journal = org.journal();
        assert_eq!(
            journal.first().map(|e| e["event"].clone()),
            Some("start".into()),
            "{scenario}"
        );
        let finish = events(&org, "finish");
        assert_eq!(
            finish.last().map(|e| e["detail"]["outcome"].clone()),
            Some("completed".into()),
            "{scenario}"
        );
        assert!(
            !events(&org, "step_done").is_empty(),
            "{scenario}: no step done"
        );
        assert!(
            org.log().contains("All steps done and verified."),
            "{scenario}"
        );
    }
}

#[test]
fn running_again_after_completion_has_nothing_left_to_do() {
    let org = SimOrg::new("replace");
    assert!(org.run_execute(&["--emergency"], &[]).status.success());
    let output = org.run_execute(&["--emergency"], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("(0 steps)"), "{stdout}");
}

/// How many state-changing cmdlets a clean run of the scenario executes.
fn mutations(scenario: &str) -> u64 {
    let org = SimOrg::new(scenario);
    assert!(org.run_execute(options_of(scenario), &[]).status.success());
    org.state()["mutations"].as_u64().unwrap_or(0)
}

#[test]
fn a_failure_at_any_cmdlet_of_any_scenario_never_breaks_the_organisation_and_resumes() {
    for (scenario, options) in SCENARIOS {
        let total = mutations(scenario);
        assert!(total > 0, "{scenario}: no cmdlet ran");
        for k in 1..=total {
            for when in ["", "+"] {
                let spec = format!("{k}{when}");
                let context = format!("{scenario} with EXSIM_FAIL={spec}");
                let org = SimOrg::new(scenario);
                let before = org.state();
                let output = org.run_execute(options, &[("EXSIM_FAIL", &spec)]);
                assert_eq!(
                    output.status.code(),
                    Some(1),
                    "{context}: {}",
                    text(&output)
                );
                let after = org.state();
                assert_not_broken(&before, &after, renews_transport(scenario), &context);
                // The journal says which step failed and why.
                let failed: Vec<Value> = org
                    .journal()
                    .into_iter()
                    .filter(|e| e["event"] == "step_failed" || e["event"] == "verify_failed")
                    .collect();
                assert_eq!(failed.len(), 1, "{context}: {:#?}", org.journal());
                assert!(failed[0]["step"].is_string(), "{context}");
                assert!(
                    failed[0].to_string().contains("injected failure"),
                    "{context}: {}",
                    failed[0]
                );
                assert_eq!(
                    events(&org, "finish")
                        .last()
                        .map(|e| e["detail"]["outcome"].clone()),
                    Some("failed".into())
                );
                // Resume: the same command again completes from the live state.
                let resumed = org.run_execute(options, &[]);
                assert!(
                    resumed.status.success(),
                    "{context}, resumed: {}",
                    text(&resumed)
                );
                let end = org.state();
                assert_not_broken(
                    &before,
                    &end,
                    renews_transport(scenario),
                    &format!("{context}, resumed"),
                );
                let (code, check) = org.check();
                expected_check(scenario, code, &check);
            }
        }
    }
}

#[test]
fn the_transport_certificate_survives_new_exchange_certificate_taking_it_over() {
    // A build where New-ExchangeCertificate takes the default SMTP certificate whatever
    // -Services says: the step re-enables the recorded one.
    let org = SimOrg::new("stage");
    let before = org.state();
    let output = org.run_execute(&[], &[("EXSIM_SMTP_OVERWRITE", "1")]);
    assert!(output.status.success(), "{}", text(&output));
    assert_not_broken(&before, &org.state(), false, "smtp overwrite");

    // ... and when the re-enabling itself fails, the runner's recovery puts it back.
    let org = SimOrg::new("stage");
    let before = org.state();
    let output = org.run_execute(
        &[],
        &[
            ("EXSIM_SMTP_OVERWRITE", "1"),
            ("EXSIM_FAIL_CMDLET", "Enable-ExchangeCertificate"),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_not_broken(
        &before,
        &org.state(),
        false,
        "smtp overwrite, failed restore",
    );
    let recovery = events(&org, "recovery");
    assert_eq!(recovery.len(), 1, "{:#?}", org.journal());
    assert_eq!(recovery[0]["detail"]["ok"], true);
}

#[test]
fn an_interrupted_run_resumes_without_creating_a_second_certificate() {
    let org = SimOrg::new("stage");
    let before = org.state();
    // The administrator runs step 1, then quits.
    let output = org.renew(&["run", "--execute"], &[], Some("y\nquit\n"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        events(&org, "finish")
            .last()
            .map(|e| e["detail"]["outcome"].clone()),
        Some("stopped".into())
    );
    assert_eq!(events(&org, "step_done").len(), 1);
    assert_not_broken(&before, &org.state(), false, "after quit");
    // A new process resumes from the journal and the live state.
    let output = org.run_execute(&[], &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("resuming"),
        "{}",
        text(&output)
    );
    // Step 1 by the journal; the copy to EXCH02 because the servicelet replicated it when the
    // certificate was staged (DOMAIN.md §8).
    let done: Vec<Value> = events(&org, "step_already_done")
        .iter()
        .map(|e| e["step"].clone())
        .collect();
    assert_eq!(
        done,
        [json!("new-auth-certificate"), json!("import-new-exch02")],
        "{:#?}",
        org.journal()
    );
    let auth_certs = org.state()["servers"][0]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["friendly_name"] == "Microsoft Exchange Server Auth Certificate")
        .count();
    assert_eq!(auth_certs, 2, "old + exactly one new Auth Certificate");
    let (code, check) = org.check();
    expected_check("stage", code, &check);
}

#[test]
fn skip_and_no_answers() {
    let org = SimOrg::new("stage");
    let before = org.state();
    let output = org.renew(&["run", "--execute"], &[], Some("n\n"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(org.state()["mutations"], 0);
    assert_eq!(before["current"], org.state()["current"]);
    // Skipping the creation leaves the later steps without their certificate: they stop.
    let output = org.renew(&["run", "--execute"], &[], Some("skip\ny\ny\n"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(!events(&org, "step_skipped").is_empty());
    assert!(
        !events(&org, "precondition_failed").is_empty(),
        "{:#?}",
        org.journal()
    );
    assert_eq!(org.state()["mutations"], 0);
}

#[test]
fn a_dry_run_changes_nothing() {
    for (scenario, options) in SCENARIOS {
        let org = SimOrg::new(scenario);
        let before = std::fs::read_to_string(&org.org).unwrap();
        let mut args = vec!["run"];
        args.extend_from_slice(options);
        let output = org.renew(&args, &[], None);
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        let after: Value = org.state();
        let before: Value = serde_json::from_str(&before).unwrap();
        assert_eq!(after["mutations"], 0, "{scenario}");
        assert_eq!(after["servers"], before["servers"], "{scenario}");
        assert_eq!(after["current"], before["current"], "{scenario}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Dry run: nothing was changed"),
            "{scenario}"
        );
        assert!(
            !events(&org, "step_dry_run").is_empty() || scenario.is_empty(),
            "{scenario}"
        );
    }
}

#[test]
fn refusals_change_nothing() {
    for (scenario, why) in [
        ("replace", "--emergency"),
        ("hybrid", "--hybrid-acknowledged"),
        ("unreachable", "--ignore-unreachable"),
    ] {
        let org = SimOrg::new(scenario);
        let output = org.renew(&["run", "--execute", "--yes"], &[], None);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{scenario}: {}",
            text(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{scenario}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert_eq!(org.state()["mutations"], 0, "{scenario}");
        // plan shows the plan and the refusal, exit 1; script refuses.
        let plan = org.renew(&["plan"], &[], None);
        assert_eq!(plan.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&plan.stdout).contains("REFUSED"));
        let script = org.renew(&["script"], &[], None);
        assert_eq!(script.status.code(), Some(1));
    }
}

#[test]
fn a_plan_that_creates_the_certificate_runs_only_on_its_server() {
    let org = SimOrg::new("stage");
    let output = org.run_execute(&[], &[("EXSIM_COMPUTER", "EXCH02")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("must run on EXCH01"),
        "{}",
        text(&output)
    );
    assert_eq!(org.state()["mutations"], 0);
    assert!(!events(&org, "refused").is_empty());
}

#[test]
fn a_completed_run_is_never_resumed() {
    let org = SimOrg::new("stage");
    assert!(org.run_execute(&[], &[]).status.success());
    let first_new = org.state()["next"].clone();
    // Five years later (here: a fresh organisation), the same plan fails before creating anything.
    org.reinit("stage");
    let output = org.run_execute(&[], &[("EXSIM_FAIL", "1")]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let output = org.run_execute(&[], &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("already done"),
        "{}",
        text(&output)
    );
    let next = org.state()["next"].clone();
    assert_ne!(next, first_new);
    assert_ne!(next, "");
}

/// Issue 15 item 1. The October 2025 security update blocks Export-ExchangeCertificate for the
/// Auth Certificate (KB5069337) and the simulator refuses it; the plan relies on the
/// certificate servicelet within the AD site (EXCH02) and copies to another site (EXCH03) the
/// way MEAC does now (.NET export inside Invoke-Command). Failed before: the import step ran
/// Export-ExchangeCertificate.
#[test]
fn a_new_auth_certificate_reaches_every_site_without_export_exchange_certificate() {
    let org = SimOrg::with("stage", &["--servers", "3", "--other-site", "EXCH03"]);
    let before = org.state();
    let output = org.run_execute(&[], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let after = org.state();
    assert_not_broken(&before, &after, false, "stage across sites");
    let next = after["next"].as_str().unwrap();
    for server in after["servers"].as_array().unwrap() {
        assert!(
            server["certificates"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["thumbprint"] == next),
            "{} lacks the staged certificate",
            server["name"]
        );
    }
    let events: Vec<&str> = after["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.contains("servicelet replicated") && e.contains("EXCH02")),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.contains("to EXCH03 (.NET export)")),
        "{events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("Export-ExchangeCertificate"))
    );
    let (code, check) = org.check();
    expected_check("stage", code, &check);
}

/// Issue 15 item 1, for an existing certificate missing on a server: copied at once, by .NET.
/// Failed before: Export-ExchangeCertificate of the current Auth Certificate was refused.
#[test]
fn a_missing_current_certificate_is_copied_without_export_exchange_certificate() {
    for scenario in ["import", "import-next"] {
        let org = SimOrg::new(scenario);
        let output = org.run_execute(&[], &[]);
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        let events = org.state()["events"].to_string();
        assert!(events.contains("(.NET export)"), "{scenario}: {events}");
        assert!(!events.contains("\"Export-ExchangeCertificate"), "{events}");
    }
}

/// Issue 15 item 2. The internal transport certificate is bound to the Exchange Back End site
/// (444); its renewal must not bind the self-signed successor to the front end (443), and
/// --cleanup removes the old one only once no web site uses it (the simulator refuses to remove
/// a bound certificate). Failed before: the renewal enabled the new certificate for "IIS, SMTP".
#[test]
fn renewing_the_transport_certificate_keeps_the_front_end_and_moves_the_back_end() {
    let org = SimOrg::new("selfsigned");
    let before = org.state();
    let old = before["servers"][0]["transport"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(before["servers"][0]["back_end"], old.as_str());
    let output = org.run_execute(&["--cleanup"], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let after = org.state();
    assert_not_broken(&before, &after, true, "selfsigned");
    let server = &after["servers"][0];
    let new = server["transport"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(server["front_end"], before["servers"][0]["front_end"]);
    assert_eq!(server["back_end"], new);
    assert!(
        !server["certificates"].to_string().contains(&old),
        "the replaced certificate stays: {server:#}"
    );
}

/// Issue 15 item 3. New-ExchangeCertificate runs on the local server unless -Server is given,
/// and ignores a piped certificate (DOMAIN.md §8); the simulator does the same. EXCH02's
/// expiring transport certificate must be renewed on EXCH02 with its own name, from EXCH01.
/// Failed before: the piped New-ExchangeCertificate created it on EXCH01.
#[test]
fn another_servers_certificate_is_created_on_that_server() {
    let org = SimOrg::new("selfsigned-remote");
    let before = org.state();
    let output = org.run_execute(&["--cleanup"], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let after = org.state();
    assert_not_broken(&before, &after, true, "selfsigned-remote");
    assert_eq!(
        before["servers"][0]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        after["servers"][0]["certificates"]
            .as_array()
            .unwrap()
            .len(),
        "EXCH01's store changed"
    );
    let exch02 = &after["servers"][1];
    assert_ne!(exch02["transport"], before["servers"][1]["transport"]);
    let der = exch02["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["thumbprint"] == exch02["transport"])
        .and_then(|c| c["der"].as_str())
        .unwrap();
    let cert = exchange_authcert::model::Certificate::from_der(
        &base64::Engine::decode(&base64::engine::general_purpose::STANDARD, der).unwrap(),
    )
    .unwrap();
    assert_eq!(cert.subject, "CN=EXCH02");
    let (code, check) = org.check();
    expected_check("selfsigned-remote", code, &check);
}

/// Issue 15 item 4. Setup made the Auth Certificate and the internal transport certificates on
/// the same day, so in an emergency both have expired. The plan renews the transport
/// certificates first (on their own servers), re-enables a recorded transport certificate only
/// if New-ExchangeCertificate took it over, and a second run changes nothing. Failed before:
/// step 1 re-enabled the expired transport certificate unconditionally (the simulator refuses,
/// as Exchange does) and every rerun created one more Auth Certificate.
#[test]
fn an_emergency_with_expired_transport_certificates_completes_once() {
    let scenario = "replace-expired-transport";
    let org = SimOrg::new(scenario);
    let before = org.state();
    let old_current = before["current"].as_str().unwrap().to_string();
    let new_auth_count = |org: &SimOrg| {
        org.state()["servers"][0]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                c["friendly_name"] == "Microsoft Exchange Server Auth Certificate"
                    && c["thumbprint"] != old_current.as_str()
            })
            .count()
    };
    let first = org.run_execute(options_of(scenario), &[]);
    let second = org.run_execute(options_of(scenario), &[]);
    assert_eq!(new_auth_count(&org), 1, "exactly one new: {}", text(&first));
    assert!(first.status.success(), "{}", text(&first));
    assert!(second.status.success(), "{}", text(&second));
    let after = org.state();
    assert_not_broken(&before, &after, true, scenario);
    for (b, a) in before["servers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["servers"].as_array().unwrap())
    {
        assert_ne!(b["transport"], a["transport"], "{}", a["name"]);
        assert_eq!(a["back_end"], a["transport"], "{}", a["name"]);
    }
    let (code, check) = org.check();
    expected_check(scenario, code, &check);
}

/// Issue 15 item 7. With 3.5 days left MEAC's rule stages 48 h ahead. The simulator's clock
/// moves with every cmdlet, and Set-AuthConfig refuses a date under 48 h without -Force
/// (Microsoft Learn, Set-AuthConfig). The date is computed when the step runs, with Microsoft's
/// 49 h margin. Failed before: the plan carried the fixed date plan time + 48 h and its own
/// precondition "at least 48 h ahead" failed once the creation step had taken a minute.
#[test]
fn a_staging_date_close_to_48_hours_still_holds_when_the_step_runs() {
    let org = SimOrg::new("stage-short");
    let output = org.run_execute(&[], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let state = org.state();
    let staged_at = chrono::DateTime::parse_from_rfc3339(state["now"].as_str().unwrap()).unwrap();
    let effective =
        chrono::DateTime::parse_from_rfc3339(state["next_effective"].as_str().unwrap()).unwrap();
    let started = chrono::DateTime::parse_from_rfc3339(common::renew::NOW).unwrap();
    assert!(staged_at > started, "the clock did not move");
    assert!(
        effective - staged_at >= chrono::Duration::hours(48),
        "effective {effective} is under 48 h after {staged_at}"
    );
    assert!(effective - started <= chrono::Duration::hours(50));
}

/// Issue 15 item 8. A bundle older than --max-age (default 26 h) may no longer describe the
/// organisation: plan and run refuse it, and change nothing, unless --allow-stale. Failed
/// before: the plan was made and run from the stale bundle.
#[test]
fn a_stale_bundle_is_refused_unless_allowed() {
    let org = SimOrg::new("stage");
    let bundle = org.export("old.json");
    let later = "2026-12-02T06:00:00Z"; // 30 h after the collection
    let renew = |args: &[&str]| {
        let mut c = std::process::Command::new(common::renew::RENEW);
        c.args(args)
            .arg("--bundle")
            .arg(&bundle)
            .args(["--now", later])
            .env("EXSIM_ORG", &org.org)
            .current_dir(org.dir.path());
        if args.first() == Some(&"run") {
            c.arg("--powershell")
                .arg(common::renew::simulator())
                .arg("--journal")
                .arg(org.path("journal.jsonl"))
                .arg("--log")
                .arg(org.path("renewal.log"));
        }
        common::renew::run_command(c, None)
    };
    let refused = renew(&["plan"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("--allow-stale"),
        "{}",
        text(&refused)
    );
    let run = renew(&["run", "--execute", "--yes"]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert_eq!(org.state()["mutations"], 0, "{}", text(&run));
    let allowed = renew(&["plan", "--allow-stale"]);
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed));
    assert!(
        text(&allowed).contains("--allow-stale"),
        "{}",
        text(&allowed)
    );
}

/// Issue 15 item 6. Windows PowerShell writes redirected output in the OEM code page; the
/// simulator does (code page 850), so a certificate subject "München" arrives as byte 0x81,
/// not UTF-8. Failed before: even a dry run aborted ("stream did not contain valid UTF-8").
#[test]
fn output_in_the_oem_code_page_does_not_abort_a_run() {
    let org = SimOrg::with("stage", &["--extra-subject", "mail.München.example"]);
    let dry = org.renew(&["run"], &[], None);
    assert!(dry.status.success(), "{}", text(&dry));
    let output = org.run_execute(&[], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let (code, check) = org.check();
    expected_check("stage", code, &check);
}

/// Issue 15 item 6: a step that never answers is stopped by the per-step timeout and reported
/// as a timeout; the same command then resumes. Failed before: the runner waited forever (the
/// test harness killed it after a minute).
#[test]
fn a_step_that_never_answers_times_out_and_the_run_resumes() {
    let org = SimOrg::new("stage");
    let before = org.state();
    let output = org.renew(
        &["run", "--execute", "--yes", "--step-timeout", "3s"],
        &[("EXSIM_HANG_CMDLET", "Set-AuthConfig")],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("timed out") && text(&output).contains("--step-timeout"),
        "{}",
        text(&output)
    );
    assert_not_broken(&before, &org.state(), false, "after a timeout");
    let resumed = org.run_execute(&[], &[]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let (code, check) = org.check();
    expected_check("stage", code, &check);
}

/// Issue 15 item 9 (numeric Services): in a remote Exchange shell Services arrives as the
/// AllowedServices flags (24 = IIS, SMTP). The transport renewal's verifications ("enabled for
/// SMTP", "bound to no web site") must read them. Failed before: "24" was taken as a service
/// name, so "the new certificate is enabled for SMTP" never held and the run stopped.
#[test]
fn services_as_numbers_from_a_remote_shell_are_understood() {
    for scenario in ["selfsigned", "stage"] {
        let org = SimOrg::new(scenario);
        let before = org.state();
        let output = org.renew(
            &["run", "--execute", "--yes", "--cleanup"],
            &[("EXSIM_REMOTE_SHELL", "1")],
            None,
        );
        assert!(output.status.success(), "{scenario}: {}", text(&output));
        assert_not_broken(&before, &org.state(), renews_transport(scenario), scenario);
    }
}

/// Issue 15 item 10 (the creating server): the new Auth Certificate is created on a Mailbox
/// server of version 15, as MEAC requires (Test-IsServerValidForAuthCertificateGeneration.ps1),
/// not on an Exchange 2013 CAS-only server listed first. Failed before: the first server was
/// taken whatever its roles.
#[test]
fn the_new_auth_certificate_is_created_on_a_mailbox_server() {
    let org = SimOrg::new("stage");
    let path = org.export("bundle.json");
    let mut bundle: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    bundle["servers"][0]["roles"] = json!(["ClientAccess"]);
    bundle["servers"][0]["version"] = json!("Version 15.0 (Build 1497.2)");
    let cas_first = org.path("cas-first.json");
    std::fs::write(&cas_first, bundle.to_string()).unwrap();
    let mut c = std::process::Command::new(common::renew::RENEW);
    c.args(["plan", "--output", "json", "--bundle"])
        .arg(&cas_first)
        .args(["--now", common::renew::NOW]);
    let output = common::renew::run_command(c, None);
    assert!(output.status.success(), "{}", text(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["steps"][0]["id"], "new-auth-certificate");
    assert_eq!(
        plan["steps"][0]["server"], "EXCH02",
        "{:#}",
        plan["steps"][0]
    );
}

/// A next certificate staged to take over after the current one expires is staged again, by
/// `run` and by the script, and a rerun leaves it: the done-check is the effective date before
/// the current certificate's expiry, not "AuthConfig names it as next", which held before the
/// step. Failed before: `run` took the step as already done and changed nothing (the
/// effective date stayed after the current certificate's expiry); the script, once steps were
/// skipped by their verifications, would have too.
#[test]
fn a_next_certificate_effective_too_late_is_staged_again_once() {
    let org = SimOrg::new("restage");
    let before = org.state();
    let output = org.run_execute(&[], &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        common::renew::text(&output)
    );
    let after = org.state();
    let effective = |org: &Value| {
        chrono::DateTime::parse_from_rfc3339(org["next_effective"].as_str().unwrap()).unwrap()
    };
    assert!(effective(&after) < effective(&before), "{after:#}");
    assert_eq!(after["next"], before["next"]);

    let org = SimOrg::new("restage");
    let script = org.script_file("Renew.ps1", &[]);
    let first = org.run_script(&script, &[]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        common::renew::text(&first)
    );
    let after_first = org.state();
    assert!(
        effective(&after_first) < effective(&before),
        "{after_first:#}"
    );
    let second = org.run_script(&script, &[]);
    assert_eq!(
        second.status.code(),
        Some(0),
        "{}",
        common::renew::text(&second)
    );
    assert_eq!(org.state()["next_effective"], after_first["next_effective"]);
    assert_eq!(org.state()["mutations"], after_first["mutations"]);
}

/// Issue 15 item 10a, the journal: a bundle without AuthConfig's WhenChangedUTC does not say
/// since when the current certificate is active, so `plan` leaves the previous one; `run` on
/// the server reads its journal, where the run that published the certificate saw it current,
/// and clears the previous one once --clear-after has passed since then. Failed before: the
/// clearing came from NotBefore + 30 days (here still 12 days away), whatever was recorded.
#[test]
fn the_run_journal_records_since_when_the_current_certificate_is_active() {
    let org = SimOrg::new("publish");
    let output = org.run_execute(&[], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_ne!(
        org.state()["previous"],
        "",
        "publishing keeps the previous certificate"
    );

    // Eight days later, a bundle without WhenChangedUTC.
    let mut state = org.state();
    let later = common::renew::now() + chrono::Duration::days(8);
    state["now"] = json!(later.to_rfc3339());
    std::fs::write(&org.org, serde_json::to_string(&state).unwrap()).unwrap();
    let bundle = org.export("later.json");
    let mut json_bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    json_bundle["auth_config"]
        .as_object_mut()
        .unwrap()
        .remove("WhenChangedUTC");
    std::fs::write(&bundle, serde_json::to_string(&json_bundle).unwrap()).unwrap();
    let at = later.to_rfc3339();
    let renew = |args: &[&str]| {
        let mut c = std::process::Command::new(common::renew::RENEW);
        c.args(args)
            .arg("--bundle")
            .arg(&bundle)
            .args(["--now", at.as_str()])
            .env("EXSIM_ORG", &org.org)
            .current_dir(org.dir.path());
        common::renew::run_command(c, None)
    };

    let plan = renew(&["plan", "--output", "json"]);
    let plan: Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    assert!(plan["steps"].as_array().unwrap().is_empty(), "{plan:#}");
    assert!(
        plan["notes"].to_string().contains("does not tell"),
        "{plan:#}"
    );

    let simulator = common::renew::simulator();
    let journal = org.path("journal.jsonl");
    let log = org.path("renewal.log");
    let output = renew(&[
        "run",
        "--execute",
        "--yes",
        "--powershell",
        simulator.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(org.state()["previous"], "", "{}", text(&output));
}
