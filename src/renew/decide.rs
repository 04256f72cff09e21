//! Scenario choice: the report's recommended action (MEAC's decision) and findings, plus what
//! MEAC lacks (publish overdue, clear previous, self-signed renewal, cleanup), turned into an
//! ordered [`Plan`].

use chrono::{DateTime, Duration, Utc};

use super::powershell::{
    self, Arg, Command, ServerName, Statement, ThumbRef, ValidationError, Var,
};
use super::{Check, Plan, Scenario, Step};
use crate::judge::{FindingCode, RecommendedAction, Report, Severity};
use crate::model::{AUTH_CERTIFICATE_CN, CertificateKind, ExchangeState, Inventory, Thumbprint};

/// Hours a staged certificate must lie ahead (Microsoft's recommendation).
pub const MIN_LEAD_HOURS: i64 = 48;
/// When AuthConfig does not record activation, a current certificate is taken to have become
/// active this long after its NotBefore (MEAC stages 30 days ahead).
pub const ASSUMED_STAGING_LEAD_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq)]
pub struct RenewOptions {
    pub emergency: bool,
    pub effective_in: Option<Duration>,
    pub clear_after: Duration,
    pub cleanup: bool,
    pub hybrid_acknowledged: bool,
    pub ignore_unreachable: bool,
}

impl Default for RenewOptions {
    fn default() -> Self {
        RenewOptions {
            emergency: false,
            effective_in: None,
            clear_after: Duration::days(7),
            cleanup: false,
            hybrid_acknowledged: false,
            ignore_unreachable: false,
        }
    }
}

/// `72h`, `5d`, `30` (days).
pub fn parse_duration(text: &str, option: &str) -> Result<Duration, ValidationError> {
    let t = text.trim();
    let (number, unit) = match t.strip_suffix(['h', 'H']) {
        Some(n) => (n, 'h'),
        None => (t.strip_suffix(['d', 'D']).unwrap_or(t), 'd'),
    };
    match number.trim().parse::<i64>() {
        Ok(n) if (0..=3650 * 24).contains(&n) => Ok(if unit == 'h' {
            Duration::hours(n)
        } else {
            Duration::days(n.min(3650))
        }),
        _ => Err(ValidationError(format!(
            "{option} '{text}' must be a whole number of hours (72h) or days (5d)"
        ))),
    }
}

/// Builds the plan. Errors are inputs that fail validation or a state nothing can be planned
/// from; situations that forbid execution become `refusals` in the plan.
pub fn decide(
    state: &ExchangeState,
    report: &Report,
    options: &RenewOptions,
) -> Result<Plan, ValidationError> {
    let now = report.checked_at;
    let Some(recommendation) = report.recommendation.as_ref() else {
        return Err(ValidationError(
            "no usable AuthConfig in the inputs: the renewal needs --bundle (or --authconfig with --certificates)".into(),
        ));
    };
    let config = state
        .auth_config
        .as_ref()
        .ok_or_else(|| ValidationError("no AuthConfig in the inputs".into()))?;
    let mut b = Builder {
        now,
        steps: Vec::new(),
        refusals: Vec::new(),
        notes: Vec::new(),
        reasons: Vec::new(),
        scenarios: Vec::new(),
        slots: 0,
    };

    // Servers: the reachable ones that must hold the Auth Certificate, validated.
    let mut servers = Vec::new();
    let mut skipped = Vec::new();
    for server in state.servers.iter().filter(|s| s.requires_auth_certificate) {
        match &server.inventory {
            Inventory::Known { .. } => servers.push(ServerName::parse(&server.name)?),
            Inventory::Unreachable { reason } => {
                skipped.push(format!("{} ({})", server.name, reason))
            }
            Inventory::NotCollected => skipped.push(format!("{} (not collected)", server.name)),
        }
    }
    if !skipped.is_empty() {
        if options.ignore_unreachable {
            b.notes.push(format!(
                "left out (--ignore-unreachable): {}; they must be handled by hand",
                skipped.join(", ")
            ));
        } else {
            b.refusals.push(format!(
                "servers could not be queried: {}; fix them or rerun with --ignore-unreachable",
                skipped.join(", ")
            ));
        }
    }
    if servers.is_empty() {
        return Err(ValidationError(
            "no reachable Exchange server that must hold the Auth Certificate in the inputs".into(),
        ));
    }
    let current = config.current.clone().map(checked).transpose()?;
    let next = config.next.clone().map(checked).transpose()?;
    let previous = config.previous.clone().map(checked).transpose()?;
    let entry = |t: &Option<Thumbprint>| t.as_ref().and_then(|t| state.certificate(t));
    let holders = |t: &Thumbprint| -> Vec<ServerName> {
        servers
            .iter()
            .filter(|s| {
                state
                    .server(s.as_str())
                    .and_then(|srv| srv.holds(t))
                    .unwrap_or(false)
            })
            .cloned()
            .collect()
    };
    let has = |code: FindingCode| report.findings.iter().any(|f| f.code == code);
    let hybrid = state.hybrid_detected;
    let current_days = entry(&current).map(|e| e.certificate.days_left(now));
    let current_expired = entry(&current).is_none_or(|e| e.certificate.is_expired(now));

    let mut action = recommendation.action;
    b.reasons.push(format!(
        "Microsoft's logic (MEAC) recommends {}: {}",
        action.as_str(),
        recommendation.reason
    ));
    // Staging at least 48 h ahead is impossible when the current expires within 2 days.
    if action == RecommendedAction::StageNext && current_days.is_some_and(|d| d <= 2) {
        action = RecommendedAction::Replace;
        b.reasons.push(
            "the current certificate expires within 2 days: no staged rotation can take over in time, so it is replaced now"
                .into(),
        );
    }
    let changes_active = matches!(
        action,
        RecommendedAction::Replace | RecommendedAction::StageNext
    ) || (action == RecommendedAction::None
        && has(FindingCode::AuthNextOverdue));
    if changes_active && hybrid == Some(true) && !options.hybrid_acknowledged {
        b.refusals.push(
            "hybrid configuration detected: changing the active Auth Certificate breaks hybrid features until the Hybrid Configuration Wizard is rerun; rerun with --hybrid-acknowledged".into(),
        );
    }

    match action {
        RecommendedAction::Replace => {
            b.scenarios.push(Scenario::Replace);
            if !options.emergency {
                b.refusals.push(
                    "the Auth Certificate must be replaced now (effective date now, less than 48 h ahead): rerun with --emergency to confirm the emergency sequence".into(),
                );
            }
            b.new_auth(
                &servers,
                "no valid Auth Certificate can take over otherwise",
            );
            for target in servers.iter().skip(1) {
                b.import(&servers[0], target, &ThumbRef::New(0), "new");
            }
            b.stage(&servers, None, true);
            b.publish(
                &servers,
                ThumbRef::New(0),
                current.clone(),
                "the emergency sequence makes the new certificate current at once",
            );
            if current_expired {
                b.clear_previous(
                    &servers,
                    &ThumbRef::New(0),
                    "the old certificate is expired or missing: nothing still signs with it",
                );
            } else {
                b.notes.push(format!(
                    "the previous certificate stays set; clear it after {} days (rerun the plan then)",
                    options.clear_after.num_days()
                ));
            }
            b.restarts(&servers);
        }
        RecommendedAction::StageNext => {
            b.scenarios.push(Scenario::StageNext);
            let days = current_days.unwrap_or(0);
            let lead = match options.effective_in {
                Some(lead) => lead,
                None if days >= 32 => Duration::days(30),
                None if days > 4 => Duration::days(4),
                None => Duration::days(2),
            };
            if lead < Duration::hours(MIN_LEAD_HOURS) && !options.emergency {
                return Err(ValidationError(format!(
                    "--effective-in {} h is less than 48 h ahead: Exchange needs time to replicate; use --emergency to force it",
                    lead.num_hours()
                )));
            }
            let effective = now + lead;
            if let Some(cur) = entry(&current)
                && effective >= cur.certificate.not_after
            {
                return Err(ValidationError(format!(
                    "effective date {} is not before the current certificate expires ({}): choose a shorter --effective-in",
                    effective.format("%Y-%m-%d %H:%M UTC"),
                    cur.certificate.not_after.format("%Y-%m-%d %H:%M UTC")
                )));
            }
            b.reasons.push(format!(
                "the new certificate becomes effective on {} (MEAC's date rule{}, never less than 48 h ahead)",
                effective.format("%Y-%m-%d %H:%M UTC"),
                if options.effective_in.is_some() { " overridden by --effective-in" } else { "" }
            ));
            b.new_auth(
                &servers,
                "a next certificate must be staged before the current one expires",
            );
            for target in servers.iter().skip(1) {
                b.import(&servers[0], target, &ThumbRef::New(0), "new");
            }
            b.stage(&servers, Some(effective), options.emergency);
            b.notes.push(format!(
                "the AuthAdmin servicelet publishes the new certificate after {}; clear the previous one {} days later (rerun the plan then)",
                effective.format("%Y-%m-%d %H:%M UTC"),
                options.clear_after.num_days()
            ));
        }
        RecommendedAction::ImportCurrent | RecommendedAction::ImportNext => {
            let mut import = |which: &Option<Thumbprint>,
                              scenario: Scenario,
                              label: &str|
             -> Result<(), ValidationError> {
                let Some(t) = which else { return Ok(()) };
                let lacking: Vec<ServerName> = servers
                    .iter()
                    .filter(|s| {
                        state.server(s.as_str()).and_then(|srv| srv.holds(t)) == Some(false)
                    })
                    .cloned()
                    .collect();
                if lacking.is_empty() {
                    return Ok(());
                }
                let source = holders(t).into_iter().next().ok_or_else(|| {
                    ValidationError(format!(
                        "the {label} Auth Certificate {t} is in no reachable server's store: nothing to export it from (replace it with --emergency)"
                    ))
                })?;
                b.scenarios.push(scenario);
                for target in &lacking {
                    b.import(&source, target, &ThumbRef::Known(t.clone()), label);
                }
                Ok(())
            };
            import(&current, Scenario::ImportCurrent, "current")?;
            if entry(&next).is_some_and(|e| !e.certificate.is_expired(now)) {
                import(&next, Scenario::ImportNext, "next")?;
            }
        }
        RecommendedAction::None => {
            if has(FindingCode::AuthNextOverdue)
                && let Some(n) = &next
            {
                b.scenarios.push(Scenario::PublishOverdue);
                b.reasons.push("the next certificate's effective date has passed but the AuthAdmin servicelet has not published it".into());
                b.publish(
                    &servers,
                    ThumbRef::Known(n.clone()),
                    current.clone(),
                    "the servicelet did not publish it",
                );
                b.restarts(&servers);
            }
        }
    }

    // Clear previous, when nothing above changes AuthConfig.
    if b.scenarios
        .iter()
        .all(|s| matches!(s, Scenario::ImportCurrent | Scenario::ImportNext))
        && let (Some(prev), Some(cur)) = (&previous, &current)
    {
        let prev_expired = entry(&previous).is_none_or(|e| e.certificate.is_expired(now));
        let on_all = holders(cur).len() == servers.len();
        let active_since = entry(&current)
            .map(|e| e.certificate.not_before + Duration::days(ASSUMED_STAGING_LEAD_DAYS));
        let long_enough = active_since.is_some_and(|a| now - a >= options.clear_after);
        if prev_expired || (on_all && long_enough && b.scenarios.is_empty()) {
            b.scenarios.push(Scenario::ClearPrevious);
            b.reasons.push(if prev_expired {
                format!("the previous certificate {prev} has expired")
            } else {
                format!(
                    "the current certificate has been active for at least {} days and is on every server",
                    options.clear_after.num_days()
                )
            });
            let step_pre_ok = prev_expired;
            b.clear_previous_of(&servers, cur, prev, step_pre_ok);
        } else if let Some(a) = active_since {
            b.notes.push(format!(
                "the previous certificate {} can be cleared from {} (current active for --clear-after {} days{})",
                prev.short(),
                (a + options.clear_after).format("%Y-%m-%d"),
                options.clear_after.num_days(),
                if on_all { "" } else { " and present on every server" }
            ));
        }
    }

    // Self-signed server certificates that are expiring and bound to services.
    let referenced: Vec<&Thumbprint> = [&current, &next, &previous].into_iter().flatten().collect();
    for cert in &report.certificates {
        if cert.kind != CertificateKind::SelfSigned
            || !matches!(cert.state, Severity::Warning | Severity::Critical)
        {
            continue;
        }
        for sighting in &cert.sources {
            let (Some(server), Some(services)) = (&sighting.server, &sighting.services) else {
                continue;
            };
            if services.is_empty()
                || !servers
                    .iter()
                    .any(|s| s.key() == crate::model::Server::key_of(server))
            {
                continue;
            }
            let server = ServerName::parse(server)?;
            let services: Vec<&'static str> = services
                .iter()
                .map(|s| powershell::service(s))
                .collect::<Result<_, _>>()?;
            let friendly = sighting
                .friendly_name
                .as_deref()
                .map(|f| powershell::text(f, "friendly name"))
                .transpose()?;
            let is_transport = state
                .server(server.as_str())
                .and_then(|s| s.internal_transport_certificate.as_ref())
                == Some(&cert.thumbprint);
            if !b.scenarios.contains(&Scenario::SelfSigned) {
                b.scenarios.push(Scenario::SelfSigned);
            }
            let old = checked(cert.thumbprint.clone())?;
            let slot = b.renew_self_signed(
                &server,
                &old,
                &services,
                friendly,
                is_transport,
                cert.days_left,
            );
            if options.cleanup {
                b.remove_replaced(&server, &old, slot, is_transport);
            }
        }
    }

    if options.cleanup {
        for cert in &report.certificates {
            let code_fits = report.findings.iter().any(|f| {
                f.thumbprint.as_ref() == Some(&cert.thumbprint)
                    && matches!(
                        f.code,
                        FindingCode::SelfSignedUnusedExpired | FindingCode::CertUnusedExpired
                    )
            }) || (cert.kind == CertificateKind::Auth && cert.days_left < 0);
            if !code_fits || referenced.contains(&&cert.thumbprint) || cert.not_after > now {
                continue;
            }
            for sighting in &cert.sources {
                let (Some(server), Some(services)) = (&sighting.server, &sighting.services) else {
                    continue;
                };
                if !services.is_empty()
                    || !servers
                        .iter()
                        .any(|s| s.key() == crate::model::Server::key_of(server))
                {
                    continue;
                }
                let is_transport = state
                    .server(server)
                    .and_then(|s| s.internal_transport_certificate.as_ref())
                    == Some(&cert.thumbprint);
                if is_transport {
                    continue;
                }
                if !b.scenarios.contains(&Scenario::Cleanup) {
                    b.scenarios.push(Scenario::Cleanup);
                }
                let server = ServerName::parse(server)?;
                b.remove(&server, &checked(cert.thumbprint.clone())?);
            }
        }
    }

    if b.scenarios.is_empty() {
        b.scenarios.push(Scenario::Nothing);
        b.reasons.push("nothing to do".into());
    }
    match hybrid {
        Some(true) => b.notes.push(
            "hybrid: after the active Auth Certificate changes, rerun the Hybrid Configuration Wizard (HCW)".into(),
        ),
        Some(false) => {}
        None => b.notes.push(
            "whether a hybrid configuration exists is unknown: if there is one, rerun the Hybrid Configuration Wizard (HCW) after the active Auth Certificate changes".into(),
        ),
    }
    let fingerprint = fingerprint(&b.steps);
    let run_on = b
        .steps
        .iter()
        .any(|s| s.id == "new-auth-certificate")
        .then(|| servers[0].clone());
    if let Some(server) = &run_on {
        b.notes.insert(
            0,
            format!("run this plan on {server}: the new Auth Certificate is created there and Set-AuthConfig needs it in the local store"),
        );
    }
    Ok(Plan {
        run_on,
        created_at: now,
        scenarios: b.scenarios,
        reasons: b.reasons,
        servers,
        skipped_servers: skipped,
        refusals: b.refusals,
        notes: b.notes,
        steps: b.steps,
        fingerprint,
    })
}

fn checked(t: Thumbprint) -> Result<Thumbprint, ValidationError> {
    powershell::thumbprint(t.as_str())
}

/// FNV-1a over the steps' ids: identifies a plan in its journal (the effective date moves
/// with the clock, the sequence of steps does not).
fn fingerprint(steps: &[Step]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for step in steps {
        for byte in step.id.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

struct Builder {
    now: DateTime<Utc>,
    steps: Vec<Step>,
    refusals: Vec<String>,
    notes: Vec<String>,
    reasons: Vec<String>,
    scenarios: Vec<Scenario>,
    slots: u8,
}

fn server_arg(s: &ServerName) -> Arg {
    Arg::Server(s.clone())
}

/// Record the internal transport certificate, run `work`, re-enable the recorded one for SMTP:
/// `New-ExchangeCertificate -Force` may make the new certificate the default SMTP certificate.
fn keeping_transport(server: &ServerName, work: Vec<Statement>) -> Vec<Statement> {
    let mut list = vec![Statement::Assign(
        Var::Transport,
        Command::new("Get-TransportService").arg("Identity", server_arg(server)),
    )];
    list.extend(work);
    list.push(Statement::Run(
        Command::new("Enable-ExchangeCertificate")
            .arg("Server", server_arg(server))
            .arg(
                "Thumbprint",
                Arg::Property(Var::Transport, "InternalTransportCertificateThumbprint"),
            )
            .arg("Services", Arg::Str("SMTP".into()))
            .switch("Force"),
    ));
    list
}

impl Builder {
    fn new_auth(&mut self, servers: &[ServerName], why: &str) {
        let s = &servers[0];
        let create = Command::new("New-ExchangeCertificate")
            .arg("Server", server_arg(s))
            .arg("KeySize", Arg::Str("2048".into()))
            .arg("PrivateKeyExportable", Arg::Bool(true))
            .arg("SubjectName", Arg::Str(format!("cn={AUTH_CERTIFICATE_CN}")))
            .arg("FriendlyName", Arg::Str(AUTH_CERTIFICATE_CN.into()))
            .arg("DomainName", Arg::EmptyArray)
            .arg("Services", Arg::Str("None".into()))
            .switch("Force");
        let statements = keeping_transport(
            s,
            vec![
                Statement::Assign(Var::Cert, create),
                Statement::Remember(0, Var::Cert),
            ],
        );
        self.slots = self.slots.max(1);
        let step = Step::new(
            "new-auth-certificate",
            format!("Create a new Auth Certificate on {s}"),
            why,
        )
        .on(s)
        .statements(statements)
        .verify(Check::Present { server: s.clone(), thumbprint: ThumbRef::New(0) })
        .verify(Check::NotBound { server: s.clone(), thumbprint: ThumbRef::New(0) })
        .verify(Check::TransportUnchanged { server: s.clone() })
        .impact("none for clients: the certificate is only created; New-ExchangeCertificate would make it the default SMTP certificate, so the recorded internal transport certificate is re-enabled for SMTP at once")
        .rollback(format!("Remove-ExchangeCertificate -Server {} -Thumbprint <new thumbprint> (it is not used yet)", powershell::quote(s.as_str())));
        self.steps.push(step);
    }

    fn import(&mut self, source: &ServerName, target: &ServerName, thumb: &ThumbRef, label: &str) {
        let statements = vec![
            Statement::OneTimePassword,
            Statement::Assign(
                Var::Export,
                Command::new("Export-ExchangeCertificate")
                    .arg("Server", server_arg(source))
                    .arg("Thumbprint", Arg::Thumb(thumb.clone()))
                    .switch("BinaryEncoded")
                    .arg("Password", Arg::Variable(Var::Password)),
            ),
            Statement::Run(
                Command::new("Import-ExchangeCertificate")
                    .arg("Server", server_arg(target))
                    .arg("FileData", Arg::Property(Var::Export, "FileData"))
                    .arg("Password", Arg::Variable(Var::Password))
                    .arg("PrivateKeyExportable", Arg::Bool(true)),
            ),
        ];
        let id = format!("import-{label}-{}", target.as_str().to_ascii_lowercase());
        let step = Step::new(
            id,
            format!("Copy {} from {source} to {target}", thumb.describe()),
            format!("every Mailbox/CAS server must hold the {label} Auth Certificate with its private key"),
        )
        .on(target)
        .statements(statements)
        .pre(Check::Present { server: source.clone(), thumbprint: thumb.clone() })
        .verify(Check::Present { server: target.clone(), thumbprint: thumb.clone() })
        .verify(Check::NotBound { server: target.clone(), thumbprint: thumb.clone() })
        .verify(Check::TransportUnchanged { server: target.clone() })
        .impact("none: a PFX with a random one-time password is exported and imported in memory; no service is bound")
        .rollback(format!("Remove-ExchangeCertificate -Server {} -Thumbprint <thumbprint>", powershell::quote(target.as_str())));
        self.steps.push(step);
    }

    fn stage(&mut self, servers: &[ServerName], effective: Option<DateTime<Utc>>, force: bool) {
        let mut set = Command::new("Set-AuthConfig")
            .arg("NewCertificateThumbprint", Arg::Thumb(ThumbRef::New(0)))
            .arg(
                "NewCertificateEffectiveDate",
                effective.map_or(Arg::Now, Arg::Date),
            );
        let short = effective.is_none_or(|e| e < self.now + Duration::hours(MIN_LEAD_HOURS));
        if force && short {
            set = set.switch("Force");
        }
        let mut step = Step::new(
            if effective.is_some() {
                "stage-next"
            } else {
                "stage-next-now"
            },
            match effective {
                Some(e) => format!(
                    "Stage the new certificate as next, effective {}",
                    e.format("%Y-%m-%d %H:%M UTC")
                ),
                None => "Stage the new certificate as next, effective now (emergency)".to_string(),
            },
            "AuthConfig must name the new certificate before it can become current",
        )
        .statements(vec![Statement::Run(set)]);
        for s in servers {
            step = step.pre(Check::Present {
                server: s.clone(),
                thumbprint: ThumbRef::New(0),
            });
        }
        if let Some(e) = effective {
            step = step.pre(Check::ValidUntil {
                thumbprint: ThumbRef::New(0),
                at: e,
            });
            if !force {
                step = step.pre(Check::EffectiveAtLeast {
                    at: e,
                    hours: MIN_LEAD_HOURS,
                });
            } else {
                step = step.pre(Check::EffectiveAtLeast { at: e, hours: 0 });
            }
        }
        step = step
            .verify(Check::NextIs { thumbprint: ThumbRef::New(0) })
            .impact("none until the effective date; Exchange replicates the next certificate to the servers")
            .rollback("Set-AuthConfig -NewCertificateThumbprint <old next or a new one> …, or leave it: a staged certificate harms nothing before its date");
        self.steps.push(step);
    }

    fn publish(
        &mut self,
        servers: &[ServerName],
        next: ThumbRef,
        current: Option<Thumbprint>,
        why: &str,
    ) {
        let mut step = Step::new(
            "publish",
            format!("Make {} the current Auth Certificate", next.describe()),
            why,
        )
        .statements(vec![Statement::Run(
            Command::new("Set-AuthConfig").switch("PublishCertificate"),
        )])
        .pre(Check::NextIs {
            thumbprint: next.clone(),
        });
        for s in servers {
            step = step.pre(Check::Present {
                server: s.clone(),
                thumbprint: next.clone(),
            });
        }
        step = step
            .verify(Check::CurrentIs {
                thumbprint: next.clone(),
            })
            .verify(Check::NextEmpty);
        if let Some(c) = &current {
            step = step.verify(Check::PreviousIs {
                thumbprint: ThumbRef::Known(c.clone()),
            });
        }
        step = step
            .impact("OAuth tokens are now signed with the new certificate; OWA/ECP sessions may need to sign in again after the app pools recycle")
            .rollback(match &current {
                Some(c) => format!("Set-AuthConfig -CertificateThumbprint {} (only while it is still valid)", powershell::quote(c.as_str())),
                None => "none: there was no usable certificate before".into(),
            });
        self.steps.push(step);
    }

    fn clear_previous(&mut self, servers: &[ServerName], current: &ThumbRef, why: &str) {
        let mut step = Step::new("clear-previous", "Clear the previous Auth Certificate", why)
            .statements(vec![Statement::Run(
                Command::new("Set-AuthConfig").switch("ClearPreviousCertificate"),
            )])
            .pre(Check::CurrentIs {
                thumbprint: current.clone(),
            });
        for s in servers {
            step = step.pre(Check::Present {
                server: s.clone(),
                thumbprint: current.clone(),
            });
        }
        step = step
            .verify(Check::PreviousEmpty)
            .verify(Check::CurrentIs {
                thumbprint: current.clone(),
            })
            .impact("tokens signed with the old certificate are no longer accepted")
            .rollback("none needed: the old certificate was no longer usable");
        self.steps.push(step);
    }

    fn clear_previous_of(
        &mut self,
        servers: &[ServerName],
        current: &Thumbprint,
        previous: &Thumbprint,
        previous_expired: bool,
    ) {
        let why = if previous_expired {
            format!("the previous certificate {} has expired", previous.short())
        } else {
            format!(
                "the current certificate {} has been active long enough and is on every server",
                current.short()
            )
        };
        let cur = ThumbRef::Known(current.clone());
        let mut step = Step::new(
            "clear-previous",
            format!("Clear the previous Auth Certificate {}", previous.short()),
            why,
        )
        .statements(vec![Statement::Run(
            Command::new("Set-AuthConfig").switch("ClearPreviousCertificate"),
        )])
        .pre(Check::CurrentIs {
            thumbprint: cur.clone(),
        })
        .pre(Check::PreviousIs {
            thumbprint: ThumbRef::Known(previous.clone()),
        });
        if !previous_expired {
            for s in servers {
                step = step.pre(Check::Present {
                    server: s.clone(),
                    thumbprint: cur.clone(),
                });
            }
        }
        step = step
            .verify(Check::PreviousEmpty)
            .verify(Check::CurrentIs { thumbprint: cur })
            .impact("tokens signed with the previous certificate are no longer accepted")
            .rollback(format!(
                "none built in: the previous certificate {} stays in the stores until removed",
                previous.short()
            ));
        self.steps.push(step);
    }

    fn restarts(&mut self, servers: &[ServerName]) {
        for (index, s) in servers.iter().enumerate() {
            let commands = vec![
                Command::new("Restart-Service")
                    .arg("Name", Arg::Str("MSExchangeServiceHost".into())),
                Command::new("Restart-WebAppPool")
                    .arg("Name", Arg::Str("MSExchangeOWAAppPool".into())),
                Command::new("Restart-WebAppPool")
                    .arg("Name", Arg::Str("MSExchangeECPAppPool".into())),
            ];
            // The first server is where the plan runs; the others through PowerShell remoting.
            let statements = if index == 0 {
                commands.into_iter().map(Statement::Run).collect()
            } else {
                vec![Statement::Remote(s.clone(), commands)]
            };
            let step = Step::new(
                format!("restart-{}", s.as_str().to_ascii_lowercase()),
                format!("Restart MSExchangeServiceHost and recycle the OWA/ECP app pools on {s}"),
                "the servicelet and the web applications load the new current certificate",
            )
            .on(s)
            .statements(statements)
            .impact(format!("service restart and app-pool recycle on {s}: OWA/ECP users sign in again; may take up to an hour to settle"))
            .rollback("none needed");
            self.steps.push(step);
        }
    }

    fn renew_self_signed(
        &mut self,
        server: &ServerName,
        old: &Thumbprint,
        services: &[&str],
        friendly: Option<String>,
        is_transport: bool,
        days_left: i64,
    ) -> u8 {
        let slot = self.slots.max(1);
        self.slots = slot + 1;
        let services_text = services.join(", ");
        let work = vec![
            Statement::Assign(
                Var::Old,
                Command::new("Get-ExchangeCertificate")
                    .arg("Server", server_arg(server))
                    .arg("Thumbprint", Arg::Thumb(ThumbRef::Known(old.clone()))),
            ),
            Statement::AssignPipe(
                Var::Cert,
                Command::new("Write-Output").arg("InputObject", Arg::Variable(Var::Old)),
                Command::new("New-ExchangeCertificate")
                    .arg("PrivateKeyExportable", Arg::Bool(true))
                    .switch("Force"),
            ),
            Statement::Remember(slot, Var::Cert),
            Statement::Run(
                Command::new("Enable-ExchangeCertificate")
                    .arg("Server", server_arg(server))
                    .arg("Thumbprint", Arg::Property(Var::Cert, "Thumbprint"))
                    .arg("Services", Arg::Str(services_text.clone()))
                    .switch("Force"),
            ),
        ];
        let statements = if is_transport {
            work
        } else {
            keeping_transport(server, work)
        };
        let label = friendly.unwrap_or_else(|| "self-signed certificate".into());
        let new = ThumbRef::New(slot);
        let mut step = Step::new(
            format!(
                "renew-selfsigned-{}-{}",
                server.as_str().to_ascii_lowercase(),
                old.short().to_ascii_lowercase()
            ),
            format!("Renew '{label}' ({}) on {server}", old.short()),
            if days_left < 0 {
                format!("it has expired and is enabled for {services_text}")
            } else {
                format!("it expires in {days_left} days and is enabled for {services_text}")
            },
        )
        .on(server)
        .statements(statements)
        .pre(Check::Present {
            server: server.clone(),
            thumbprint: ThumbRef::Known(old.clone()),
        })
        .verify(Check::Present {
            server: server.clone(),
            thumbprint: new.clone(),
        })
        .verify(Check::BoundTo {
            server: server.clone(),
            thumbprint: new.clone(),
            services: services.iter().map(|s| s.to_string()).collect(),
        });
        if is_transport {
            step.replaces_transport_on = Some(server.clone());
            step = step.verify(Check::TransportIs {
                server: server.clone(),
                thumbprint: new,
            });
        } else {
            step = step.verify(Check::TransportUnchanged {
                server: server.clone(),
            });
        }
        step = step
            .impact(if services.contains(&"IIS") { "IIS rebinds the certificate: short interruption of HTTPS connections on that server" } else { "services reload the certificate" })
            .rollback(format!("Enable-ExchangeCertificate -Server {} -Thumbprint {} -Services {} -Force (while the old one is still valid)", powershell::quote(server.as_str()), powershell::quote(old.as_str()), powershell::quote(&services_text)));
        self.steps.push(step);
        slot
    }

    /// With `--cleanup`: the renewed certificate's predecessor goes once its successor serves.
    fn remove_replaced(
        &mut self,
        server: &ServerName,
        old: &Thumbprint,
        slot: u8,
        was_transport: bool,
    ) {
        let t = ThumbRef::Known(old.clone());
        let mut step = removal_step(
            "remove-replaced",
            "replaced",
            server,
            old,
            "its renewal serves the same services now (--cleanup)",
        )
        .pre(Check::Present {
            server: server.clone(),
            thumbprint: ThumbRef::New(slot),
        });
        if was_transport {
            step = step.pre(Check::TransportIs {
                server: server.clone(),
                thumbprint: ThumbRef::New(slot),
            });
        }
        step = step
            .verify(Check::Absent { server: server.clone(), thumbprint: t })
            .impact("none: its successor is enabled for the same services")
            .rollback("none: re-create it with New-ExchangeCertificate if a connector names it explicitly");
        if was_transport {
            step.replaces_transport_on = Some(server.clone());
            step = step.verify(Check::TransportIs {
                server: server.clone(),
                thumbprint: ThumbRef::New(slot),
            });
        } else {
            step = step.verify(Check::TransportUnchanged {
                server: server.clone(),
            });
        }
        self.steps.push(step);
    }

    fn remove(&mut self, server: &ServerName, thumb: &Thumbprint) {
        let t = ThumbRef::Known(thumb.clone());
        let step = removal_step(
            "remove",
            "expired",
            server,
            thumb,
            "it has expired and is bound to no service (--cleanup)",
        )
        .pre(Check::NotBound {
            server: server.clone(),
            thumbprint: t.clone(),
        })
        .verify(Check::Absent {
            server: server.clone(),
            thumbprint: t,
        })
        .verify(Check::TransportUnchanged {
            server: server.clone(),
        })
        .impact("none: the certificate is bound to nothing")
        .rollback("none: an expired certificate cannot be used again");
        self.steps.push(step);
    }
}

/// A step that runs `Remove-ExchangeCertificate` for `thumb` on `server`; callers add the
/// preconditions and verifications that make that removal safe.
fn removal_step(
    id_prefix: &str,
    what: &str,
    server: &ServerName,
    thumb: &Thumbprint,
    why: &str,
) -> Step {
    Step::new(
        format!(
            "{id_prefix}-{}-{}",
            server.as_str().to_ascii_lowercase(),
            thumb.short().to_ascii_lowercase()
        ),
        format!(
            "Remove the {what} certificate {} from {server}",
            thumb.short()
        ),
        why,
    )
    .on(server)
    .statements(vec![Statement::Run(
        Command::new("Remove-ExchangeCertificate")
            .arg("Server", server_arg(server))
            .arg("Thumbprint", Arg::Thumb(ThumbRef::Known(thumb.clone())))
            .arg("Confirm", Arg::SwitchFalse),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_hours_or_days() {
        assert_eq!(parse_duration("72h", "x").unwrap(), Duration::hours(72));
        assert_eq!(parse_duration("10d", "x").unwrap(), Duration::days(10));
        assert_eq!(parse_duration("7", "x").unwrap(), Duration::days(7));
        for bad in ["", "soon", "-3", "3w", "1.5d"] {
            assert!(parse_duration(bad, "--clear-after").is_err(), "{bad}");
        }
    }
}
