//! The step builder: the planner's decisions turned into typed PowerShell steps, each with
//! the checks that must hold before it and the ones that prove it worked.
//!
//! Nothing here chooses what to do ([`super::planner`] does); this module knows how each
//! decision is carried out safely: which cmdlets, in which order, what is verified.

use chrono::{DateTime, Duration, Utc};

use super::plan::TransportSuccessor;
use super::planner::{Decision, MIN_LEAD_HOURS, Planned, SelfSignedRenewal};
use super::powershell::{self, Arg, Command, ServerName, Statement, ThumbRef, Var};
use super::{Check, Step};
use crate::model::{AUTH_CERTIFICATE_CN, Thumbprint};

/// The new Auth Certificate of a replace or stage-next plan.
const NEW_AUTH: ThumbRef = ThumbRef::New(0);

/// The steps of a plan, in the order of its decisions.
pub fn build(planned: &Planned) -> Vec<Step> {
    let mut builder = StepBuilder {
        servers: &planned.servers,
        now: planned.now,
        steps: Vec::new(),
        next_slot: 1,
    };
    // An expired internal transport certificate is renewed first: New-ExchangeCertificate may
    // take the default SMTP certificate over, and an expired one cannot be enabled again (MEAC's
    // New-ExchangeAuthCertificate.ps1 also makes a new transport certificate first when the
    // old one is unusable).
    let (first, rest): (Vec<&Decision>, Vec<&Decision>) = planned.decisions.iter().partition(
        |d| matches!(d, Decision::RenewSelfSigned(r) if r.is_transport && r.days_left < 0),
    );
    for decision in first.into_iter().chain(rest) {
        builder.add(decision);
    }
    let mut steps = builder.steps;
    transport_renewals_respected(&mut steps);
    steps
}

/// After a step that renews a server's internal transport certificate on purpose, "the
/// transport certificate is unchanged" means "is still the renewed one": the run compares
/// with the state before the first step.
fn transport_renewals_respected(steps: &mut [Step]) {
    let mut renewed: Vec<(ServerName, ThumbRef)> = Vec::new();
    for step in steps {
        for view in step.preconditions.iter_mut().chain(step.verify.iter_mut()) {
            let Check::TransportUnchanged { server } = &view.check else {
                continue;
            };
            if let Some((_, thumbprint)) = renewed.iter().find(|(s, _)| s == server) {
                *view = Check::TransportIs {
                    server: server.clone(),
                    thumbprint: thumbprint.clone(),
                }
                .into();
            }
        }
        let Some(server) = &step.replaces_transport_on else {
            continue;
        };
        let made = step.verify.iter().find_map(|view| match &view.check {
            Check::TransportIs {
                server: s,
                thumbprint,
            } if s == server => Some(thumbprint.clone()),
            _ => None,
        });
        if let Some(thumbprint) = made {
            renewed.retain(|(s, _)| s != server);
            renewed.push((server.clone(), thumbprint));
        }
    }
}

struct StepBuilder<'a> {
    /// Every step that must reach all servers covers these; the first is where the plan runs.
    servers: &'a [ServerName],
    now: DateTime<Utc>,
    steps: Vec<Step>,
    /// The `$global:RenewNew<slot>` of the next renewed self-signed certificate (slot 0 is
    /// the new Auth Certificate).
    next_slot: u8,
}

impl StepBuilder<'_> {
    fn add(&mut self, decision: &Decision) {
        match decision {
            Decision::Replace {
                old_current,
                clear_old_current,
            } => self.replace(old_current.as_ref(), *clear_old_current),
            Decision::StageNext {
                effective,
                force,
                current,
            } => self.stage_next(*effective, *force, current.as_ref()),
            Decision::Import {
                role,
                thumbprint,
                source,
                targets,
            } => self.imports(role.label(), thumbprint, source, targets),
            Decision::Publish {
                next,
                current,
                overdue,
            } => self.publish_next(next, current.as_ref(), *overdue),
            Decision::Restage {
                next,
                effective,
                current,
                current_expires,
            } => self.steps.push(restaged(
                stage(
                    self.servers,
                    &ThumbRef::Known(next.clone()),
                    Some(Effective {
                        at: *effective,
                        current: current.as_ref(),
                    }),
                    false,
                    self.now,
                ),
                next,
                *current_expires,
            )),
            Decision::ClearPrevious {
                current,
                previous,
                previous_expired,
            } => self.steps.push(clear_previous_of(
                self.servers,
                current,
                previous,
                *previous_expired,
            )),
            Decision::RenewSelfSigned(renewal) => self.renew_self_signed(renewal),
            Decision::Remove { server, thumbprint } => {
                self.steps.push(remove_expired(server, thumbprint))
            }
        }
    }

    /// The emergency sequence (DOMAIN.md §4): create, stage effective now (`-Force`), make
    /// sure every server holds it, publish, clear the old certificate when nothing can sign
    /// with it any more, restart the servicelet and recycle the app pools.
    fn replace(&mut self, old_current: Option<&Thumbprint>, clear_old_current: bool) {
        self.new_auth("no valid Auth Certificate can take over otherwise");
        self.steps
            .push(stage(self.servers, &NEW_AUTH, None, true, self.now));
        self.replicated_everywhere();
        self.steps.push(publish(
            self.servers,
            NEW_AUTH,
            old_current,
            "the emergency sequence makes the new certificate current at once",
        ));
        if clear_old_current {
            self.steps.push(clear_previous(
                self.servers,
                &NEW_AUTH,
                "the old certificate is expired or missing: nothing still signs with it",
            ));
        }
        self.restarts();
    }

    /// Planned rotation (DOMAIN.md §4): create, stage for `effective`, make sure every server
    /// holds it.
    fn stage_next(&mut self, effective: DateTime<Utc>, force: bool, current: Option<&Thumbprint>) {
        self.new_auth("a next certificate must be staged before the current one expires");
        self.steps.push(stage(
            self.servers,
            &NEW_AUTH,
            Some(Effective {
                at: effective,
                current,
            }),
            force,
            self.now,
        ));
        self.replicated_everywhere();
    }

    fn imports(
        &mut self,
        label: &str,
        thumbprint: &Thumbprint,
        source: &ServerName,
        targets: &[ServerName],
    ) {
        let thumbprint = ThumbRef::Known(thumbprint.clone());
        for target in targets {
            // The servicelet had its chance: copy at once (MEAC's
            // Import-ExchangeAuthCertificateToServers.ps1 does not wait either).
            self.steps
                .push(copy_auth(source, target, &thumbprint, label, 0));
        }
    }

    /// Publish what the servicelet did not, then restart and recycle as after a replacement.
    fn publish_next(&mut self, next: &Thumbprint, current: Option<&Thumbprint>, overdue: bool) {
        let why = if overdue {
            "the servicelet did not publish it"
        } else {
            "a valid next certificate on every server takes over now, instead of a new one"
        };
        self.steps.push(publish(
            self.servers,
            ThumbRef::Known(next.clone()),
            current,
            why,
        ));
        self.restarts();
    }

    /// The new Auth Certificate, created on the first server (where Set-AuthConfig runs and
    /// needs it in the local store).
    fn new_auth(&mut self, why: &str) {
        self.steps.push(new_auth(&self.servers[0], why));
    }

    /// After staging: every other server holds the new certificate. Within the AD site the
    /// certificate servicelet replicates it (Set-AuthConfig; DOMAIN.md §8), so each step first
    /// waits for that; servers in other sites, or still lacking it, get a copy made the way
    /// MEAC's current source does (never Export-ExchangeCertificate: KB5069337).
    fn replicated_everywhere(&mut self) {
        let first = &self.servers[0];
        for target in self.servers.iter().skip(1) {
            self.steps.push(copy_auth(
                first,
                target,
                &NEW_AUTH,
                "new",
                REPLICATION_WAIT_SECONDS,
            ));
        }
    }

    fn restarts(&mut self) {
        for (index, server) in self.servers.iter().enumerate() {
            self.steps.push(restart(server, index == 0));
        }
    }

    /// A new certificate, then the back-end binding, then (`--cleanup`) the old one; when an
    /// earlier run already made the successor, only what is left.
    fn renew_self_signed(&mut self, renewal: &SelfSignedRenewal) {
        let renewed = match &renewal.successor {
            Some(successor) => ThumbRef::Known(successor.clone()),
            None => {
                let slot = self.next_slot;
                self.next_slot += 1;
                self.steps.push(renew_self_signed(renewal, slot));
                ThumbRef::New(slot)
            }
        };
        if renewal.keeps_back_end {
            self.steps.push(bind_back_end(renewal, renewed.clone()));
        }
        if renewal.remove_replaced {
            self.steps.push(remove_replaced(
                &renewal.server,
                &renewal.old,
                renewed,
                renewal.is_transport,
            ));
        }
    }
}

fn server_arg(s: &ServerName) -> Arg {
    Arg::Server(s.clone())
}

/// Record the internal transport certificate, run `work`, re-enable the recorded one for SMTP
/// if it was taken over: `New-ExchangeCertificate -Force` may make the new certificate the
/// default SMTP certificate. Only then: an expired one cannot be enabled (issue 15 item 4).
fn keeping_transport(server: &ServerName, work: Vec<Statement>) -> Vec<Statement> {
    let mut list = vec![Statement::Assign(
        Var::Transport,
        Command::new("Get-TransportService").arg("Identity", server_arg(server)),
    )];
    list.extend(work);
    list.push(Statement::RestoreTransport(server.clone()));
    list
}

/// `New-ExchangeCertificate` with the Auth Certificate's parameters (DOMAIN.md §4), enabled
/// for no service.
fn new_auth(server: &ServerName, why: &str) -> Step {
    let create = Command::new("New-ExchangeCertificate")
        .arg("Server", server_arg(server))
        .arg("KeySize", Arg::Str("2048".into()))
        .arg("PrivateKeyExportable", Arg::Bool(true))
        .arg("SubjectName", Arg::Str(format!("cn={AUTH_CERTIFICATE_CN}")))
        .arg("FriendlyName", Arg::Str(AUTH_CERTIFICATE_CN.into()))
        .arg("DomainName", Arg::EmptyArray)
        .arg("Services", Arg::Str("None".into()))
        .switch("Force");
    let statements = keeping_transport(
        server,
        vec![
            Statement::Assign(Var::Cert, create),
            Statement::Remember(0, Var::Cert),
        ],
    );
    Step::new(
        "new-auth-certificate",
        format!("Create a new Auth Certificate on {server}"),
        why,
    )
    .on(server)
    .statements(statements)
    .verify(Check::Present { server: server.clone(), thumbprint: NEW_AUTH })
    .verify(Check::NotBound { server: server.clone(), thumbprint: NEW_AUTH })
    .verify(Check::TransportUnchanged { server: server.clone() })
    .impact("none for clients: the certificate is only created; New-ExchangeCertificate would make it the default SMTP certificate, so the recorded internal transport certificate is re-enabled for SMTP at once")
    .rollback(format!("Remove-ExchangeCertificate -Server {} -Thumbprint <new thumbprint> (it is not used yet)", powershell::quote(server.as_str())))
}

/// How long a step waits for the certificate servicelet to replicate a newly staged Auth
/// Certificate within the AD site before copying it.
pub const REPLICATION_WAIT_SECONDS: u32 = 300;

/// `target` holds `thumb` with its private key: replicated by the servicelet (waited for up
/// to `wait_seconds`), else copied from `source` by `Copy-RenewAuthCertificate`
/// ([`powershell::STEP_FUNCTIONS`], after MEAC's Import-ExchangeAuthCertificateToServers.ps1
/// and Export-CertificateAndPrivateKey.ps1).
fn copy_auth(
    source: &ServerName,
    target: &ServerName,
    thumb: &ThumbRef,
    label: &str,
    wait_seconds: u32,
) -> Step {
    let statements = vec![Statement::CopyAuth {
        source: source.clone(),
        target: target.clone(),
        thumbprint: thumb.clone(),
        wait_seconds,
    }];
    let id = format!("import-{label}-{}", target.as_str().to_ascii_lowercase());
    let title = if wait_seconds > 0 {
        format!(
            "Wait up to {} min for {} to replicate to {target}; copy it from {source} if it does not",
            wait_seconds / 60,
            thumb.describe()
        )
    } else {
        format!("Copy {} from {source} to {target}", thumb.describe())
    };
    Step::new(
        id,
        title,
        format!("every Mailbox/CAS server must hold the {label} Auth Certificate with its private key; the certificate servicelet replicates it only within the AD site"),
    )
    .on(target)
    .statements(statements)
    .pre(Check::Present { server: source.clone(), thumbprint: thumb.clone() })
    .verify(Check::Present { server: target.clone(), thumbprint: thumb.clone() })
    .verify(Check::NotBound { server: target.clone(), thumbprint: thumb.clone() })
    .verify(Check::TransportUnchanged { server: target.clone() })
    .impact("none: the servicelet's copy is waited for; otherwise a PFX with a random one-time password is made by .NET on the source (Export-ExchangeCertificate refuses the Auth Certificate since KB5069337) and imported in memory; no service is bound")
    .rollback(format!("Remove-ExchangeCertificate -Server {} -Thumbprint <thumbprint>", powershell::quote(target.as_str())))
}

/// The effective date the planner chose, and the current certificate that must stay valid
/// until then.
struct Effective<'a> {
    at: DateTime<Utc>,
    current: Option<&'a Thumbprint>,
}

/// Microsoft's own example stages 49 h ahead (DOMAIN.md §2): an hour of margin over the 48 h
/// below which Set-AuthConfig asks for confirmation.
const MARGIN_LEAD_HOURS: i64 = MIN_LEAD_HOURS + 1;

/// The lead in whole hours from when the step runs: the planner's date as a lead (rounded
/// up), at least [`MARGIN_LEAD_HOURS`] unless it was below 48 h on purpose (`--emergency`).
fn lead_hours(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let seconds = (at - now).num_seconds().max(0);
    let hours = (seconds + 3599) / 3600;
    if (MIN_LEAD_HOURS..MARGIN_LEAD_HOURS).contains(&hours) {
        MARGIN_LEAD_HOURS
    } else {
        hours
    }
}

/// `Set-AuthConfig -NewCertificateThumbprint … -NewCertificateEffectiveDate …` (DOMAIN.md §2).
/// The date is computed when the step runs, `(Get-Date).AddHours(n)`, so a step run later
/// than planned is still `n` hours ahead; `None` is now (the emergency sequence). `-Force`
/// only with `force` and less than 48 h, where Set-AuthConfig would ask.
fn stage(
    servers: &[ServerName],
    thumbprint: &ThumbRef,
    effective: Option<Effective>,
    force: bool,
    now: DateTime<Utc>,
) -> Step {
    let hours = effective.as_ref().map(|e| lead_hours(e.at, now));
    let mut set = Command::new("Set-AuthConfig")
        .arg("NewCertificateThumbprint", Arg::Thumb(thumbprint.clone()))
        .arg(
            "NewCertificateEffectiveDate",
            hours.map_or(Arg::Now, Arg::HoursFromNow),
        );
    let short = hours.is_none_or(|h| h < MIN_LEAD_HOURS);
    if force && short {
        set = set.switch("Force");
    }
    let effective = effective.map(|e| Effective {
        at: now + Duration::hours(hours.unwrap_or(0)),
        current: e.current,
    });
    let (id, title) = match (&effective, thumbprint) {
        (Some(e), ThumbRef::Known(_)) => (
            "restage-next",
            format!(
                "Stage {} again as next, effective {} h after this step runs (about {})",
                thumbprint.describe(),
                hours.unwrap_or(0),
                e.at.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        (Some(e), ThumbRef::New(_)) => (
            "stage-next",
            format!(
                "Stage the new certificate as next, effective {} h after this step runs (about {})",
                hours.unwrap_or(0),
                e.at.format("%Y-%m-%d %H:%M UTC")
            ),
        ),
        (None, _) => (
            "stage-next-now",
            "Stage the new certificate as next, effective now (emergency)".to_string(),
        ),
    };
    let mut step = Step::new(
        id,
        title,
        "AuthConfig must name the new certificate before it can become current",
    )
    .statements(vec![Statement::Run(set)]);
    // Set-AuthConfig needs the certificate in the local store of the server it runs on only;
    // it then replicates it within the AD site (DOMAIN.md §2 and §8).
    step = on_every_server(step, &servers[..1], thumbprint);
    if let (Some(e), Some(hours)) = (effective, hours) {
        // Both certificates must outlive the date as computed when the step runs.
        step = step.pre(Check::ValidForHours {
            thumbprint: thumbprint.clone(),
            hours,
        });
        if let Some(current) = e.current {
            step = step.pre(Check::ValidForHours {
                thumbprint: ThumbRef::Known(current.clone()),
                hours,
            });
        }
    }
    // Once published (by the servicelet at the effective date, or by the next step of the
    // emergency sequence) the staged certificate is current: staging it again would fail
    // ("the same as the current certificate") or undo the rotation.
    if matches!(thumbprint, ThumbRef::New(_)) {
        step = step.done_when(Check::CurrentOrNextIs {
            thumbprint: thumbprint.clone(),
        });
    }
    step.verify(Check::NextIs {
        thumbprint: thumbprint.clone(),
    })
        .impact("none until the effective date; Exchange replicates the next certificate to the servers")
        .rollback("Set-AuthConfig -NewCertificateThumbprint <old next or a new one> …, or leave it: a staged certificate harms nothing before its date")
}

/// The next certificate is already staged before the step: what shows the restaging done is
/// its effective date, now before the current certificate expires (without it, a rerun or a
/// resumed run would take the step as done before it ran).
fn restaged(step: Step, next: &Thumbprint, current_expires: Option<DateTime<Utc>>) -> Step {
    let step = step.done_when(Check::NextIs {
        thumbprint: ThumbRef::Known(next.clone()),
    });
    match current_expires {
        Some(at) => step
            .done_when(Check::NextEffectiveBefore { at })
            .verify(Check::NextEffectiveBefore { at }),
        None => step,
    }
}

/// A precondition per server: it holds `thumbprint`.
fn on_every_server(mut step: Step, servers: &[ServerName], thumbprint: &ThumbRef) -> Step {
    for server in servers {
        step = step.pre(Check::Present {
            server: server.clone(),
            thumbprint: thumbprint.clone(),
        });
    }
    step
}

/// `Set-AuthConfig -PublishCertificate` (DOMAIN.md §2): previous := current, current := next.
fn publish(
    servers: &[ServerName],
    next: ThumbRef,
    current: Option<&Thumbprint>,
    why: &str,
) -> Step {
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
    // Done once the certificate is current, whatever later steps did to the previous slot
    // (the emergency sequence clears it next).
    step = on_every_server(step, servers, &next)
        .done_when(Check::CurrentIs {
            thumbprint: next.clone(),
        })
        .verify(Check::CurrentIs { thumbprint: next })
        .verify(Check::NextEmpty);
    if let Some(c) = current {
        step = step.verify(Check::PreviousIs {
            thumbprint: ThumbRef::Known(c.clone()),
        });
    }
    step
        .impact("OAuth tokens are now signed with the new certificate; OWA/ECP sessions may need to sign in again after the app pools recycle")
        .rollback(match current {
            Some(c) => format!("Set-AuthConfig -CertificateThumbprint {} (only while it is still valid)", powershell::quote(c.as_str())),
            None => "none: there was no usable certificate before".into(),
        })
}

/// `Set-AuthConfig -ClearPreviousCertificate` in the emergency sequence, once `current` is
/// current and on every server.
fn clear_previous(servers: &[ServerName], current: &ThumbRef, why: &str) -> Step {
    let step = Step::new("clear-previous", "Clear the previous Auth Certificate", why)
        .statements(vec![Statement::Run(
            Command::new("Set-AuthConfig").switch("ClearPreviousCertificate"),
        )])
        .pre(Check::CurrentIs {
            thumbprint: current.clone(),
        });
    on_every_server(step, servers, current)
        .verify(Check::PreviousEmpty)
        .verify(Check::CurrentIs {
            thumbprint: current.clone(),
        })
        .impact("tokens signed with the old certificate are no longer accepted")
        .rollback("none needed: the old certificate was no longer usable")
}

/// `Set-AuthConfig -ClearPreviousCertificate` for a known previous certificate; unless it has
/// expired, only once the current one is on every server.
fn clear_previous_of(
    servers: &[ServerName],
    current: &Thumbprint,
    previous: &Thumbprint,
    previous_expired: bool,
) -> Step {
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
        step = on_every_server(step, servers, &cur);
    }
    step.verify(Check::PreviousEmpty)
        .verify(Check::CurrentIs { thumbprint: cur })
        .impact("tokens signed with the previous certificate are no longer accepted")
        .rollback(format!(
            "none built in: the previous certificate {} stays in the stores until removed",
            previous.short()
        ))
}

/// Restart MSExchangeServiceHost (the AuthAdmin servicelet) and recycle the OWA/ECP app pools
/// (DOMAIN.md §4). The first server is where the plan runs; the others through PowerShell
/// remoting. A restart that does not come back is not a success: the step then checks, on
/// that server, that the service runs and both app pools are started (`Assert-RenewRestarted`,
/// waiting up to 2 minutes), and fails otherwise.
fn restart(server: &ServerName, is_local: bool) -> Step {
    let commands = vec![
        Command::new("Restart-Service").arg("Name", Arg::Str("MSExchangeServiceHost".into())),
        Command::new("Restart-WebAppPool").arg("Name", Arg::Str("MSExchangeOWAAppPool".into())),
        Command::new("Restart-WebAppPool").arg("Name", Arg::Str("MSExchangeECPAppPool".into())),
    ];
    let mut statements = if is_local {
        commands.into_iter().map(Statement::Run).collect()
    } else {
        vec![Statement::Remote(server.clone(), commands)]
    };
    statements.push(Statement::AssertRestarted(server.clone()));
    Step::new(
        format!("restart-{}", server.as_str().to_ascii_lowercase()),
        format!("Restart MSExchangeServiceHost and recycle the OWA/ECP app pools on {server}"),
        "the servicelet and the web applications load the new current certificate",
    )
    .on(server)
    .statements(statements)
    .impact(format!("service restart and app-pool recycle on {server}: OWA/ECP users sign in again; may take up to an hour to settle; the step fails unless MSExchangeServiceHost runs and both app pools are started afterwards"))
    .rollback(format!("none needed; if the step failed, start them on {server} (Start-Service MSExchangeServiceHost, Start-WebAppPool) and check the Application log"))
}

/// `Get-ExchangeCertificate … | New-ExchangeCertificate` (DOMAIN.md §4), enabled for the same
/// services; the new thumbprint goes to `$global:RenewNew<slot>`.
fn renew_self_signed(renewal: &SelfSignedRenewal, slot: u8) -> Step {
    let SelfSignedRenewal {
        server,
        old,
        services,
        is_transport,
        days_left,
        ..
    } = renewal;
    let services_text = services.join(", ");
    let work = self_signed_statements(renewal, slot, &services_text);
    let statements = if *is_transport {
        work
    } else {
        keeping_transport(server, work)
    };
    let label = renewal
        .friendly_name
        .clone()
        .unwrap_or_else(|| "self-signed certificate".into());
    let new = ThumbRef::New(slot);
    let mut step = Step::new(
        format!(
            "renew-selfsigned-{}-{}",
            server.as_str().to_ascii_lowercase(),
            old.short().to_ascii_lowercase()
        ),
        format!("Renew '{label}' ({}) on {server}", old.short()),
        if *days_left < 0 {
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
    step = transport_after(step, server, *is_transport, new.clone());
    step = bindings_kept(step, renewal, new);
    if *is_transport {
        step.transport_successor = Some(TransportSuccessor {
            slot,
            server: server.clone(),
            old: old.clone(),
            subject: renewal.subject.clone(),
        });
    }
    step
        .impact(if services.contains(&"IIS") { "IIS rebinds the certificate: short interruption of HTTPS connections on that server" } else { "services reload the certificate" })
        .rollback(format!("Enable-ExchangeCertificate -Server {} -Thumbprint {} -Services {} -Force (while the old one is still valid)", powershell::quote(server.as_str()), powershell::quote(old.as_str()), powershell::quote(&services_text)))
}

/// `New-ExchangeCertificate` on the certificate's own server (`-Server`: without it the
/// cmdlet runs on the local server, and a piped certificate is ignored: DOMAIN.md §8,
/// Microsoft Learn New-ExchangeCertificate), with the old subject and names given explicitly,
/// created for no service (`-Services None`, so it takes over no default SMTP certificate),
/// then enabled for the services it replaces.
fn self_signed_statements(renewal: &SelfSignedRenewal, slot: u8, services: &str) -> Vec<Statement> {
    let SelfSignedRenewal {
        server,
        subject,
        friendly_name,
        ..
    } = renewal;
    let mut create = Command::new("New-ExchangeCertificate")
        .arg("Server", server_arg(server))
        .arg("SubjectName", Arg::Str(subject.clone()))
        .arg("DomainName", domain_names(subject))
        .arg("KeySize", Arg::Str("2048".into()))
        .arg("PrivateKeyExportable", Arg::Bool(true));
    if let Some(name) = friendly_name {
        create = create.arg("FriendlyName", Arg::Str(name.clone()));
    }
    let create = create
        .arg("Services", Arg::Str("None".into()))
        .switch("Force");
    vec![
        Statement::Assign(Var::Cert, create),
        Statement::Remember(slot, Var::Cert),
        Statement::Run(
            Command::new("Enable-ExchangeCertificate")
                .arg("Server", server_arg(server))
                .arg("Thumbprint", Arg::Thumb(ThumbRef::New(slot)))
                .arg("Services", Arg::Str(services.to_string()))
                .switch("Force"),
        ),
    ]
}

/// The Exchange Back End site (444) moves from the old internal transport certificate to its
/// renewal, and only that site: `Set-RenewBackEndCertificate` ([`powershell::STEP_FUNCTIONS`]).
fn bind_back_end(renewal: &SelfSignedRenewal, new: ThumbRef) -> Step {
    let server = &renewal.server;
    let old = ThumbRef::Known(renewal.old.clone());
    Step::new(
        format!(
            "bind-back-end-{}-{}",
            server.as_str().to_ascii_lowercase(),
            renewal.old.short().to_ascii_lowercase()
        ),
        format!("Bind the Exchange Back End site (444) on {server} to the renewed certificate"),
        "setup bound the internal transport certificate there; Enable-ExchangeCertificate -Services IIS would bind the front end instead",
    )
    .on(server)
    .statements(vec![Statement::BindBackEnd {
        server: server.clone(),
        thumbprint: new.clone(),
    }])
    .pre(Check::Present {
        server: server.clone(),
        thumbprint: new.clone(),
    })
    .verify(Check::BoundTo {
        server: server.clone(),
        thumbprint: new.clone(),
        services: vec!["IIS".into(), "SMTP".into()],
    })
    .verify(Check::NoIis {
        server: server.clone(),
        thumbprint: old,
    })
    .verify(Check::TransportIs {
        server: server.clone(),
        thumbprint: new,
    })
    .impact("the back end (444) presents the renewed certificate; front-end proxying to it is not interrupted (the front end does not validate it)")
    .rollback(format!(
        "Set-RenewBackEndCertificate -Server {} -Thumbprint {} (while it is still valid)",
        powershell::quote(server.as_str()),
        powershell::quote(renewal.old.as_str())
    ))
}

/// A renewal never moves a web binding: without IIS in its services (and no back-end step to
/// follow) the new certificate is on no web site. Only checks later steps keep true: a
/// resumed run takes a step whose verifications hold as done.
fn bindings_kept(step: Step, renewal: &SelfSignedRenewal, new: ThumbRef) -> Step {
    if renewal.services.contains(&"IIS") || renewal.keeps_back_end {
        return step;
    }
    step.verify(Check::NoIis {
        server: renewal.server.clone(),
        thumbprint: new,
    })
}

/// The DNS names of a renewed certificate: its subject's CN when that is a host name (the
/// server's own name for the internal transport certificate, as MEAC's
/// New-ExchangeAuthCertificate.ps1 passes `-DomainName $env:COMPUTERNAME`), else none.
fn domain_names(subject: &str) -> Arg {
    let cn = subject
        .split(',')
        .map(str::trim)
        .find_map(|part| {
            part.split_once('=')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("CN"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    match ServerName::parse(&cn) {
        Ok(name) => Arg::StrList(vec![name.as_str().to_string()]),
        Err(_) => Arg::EmptyArray,
    }
}

/// What a step that touches `server`'s store verifies about its internal transport
/// certificate: the renewal of that very certificate makes `renewed` the transport
/// certificate on purpose; any other step leaves it unchanged.
fn transport_after(step: Step, server: &ServerName, is_transport: bool, renewed: ThumbRef) -> Step {
    if is_transport {
        let mut step = step.verify(Check::TransportIs {
            server: server.clone(),
            thumbprint: renewed,
        });
        step.replaces_transport_on = Some(server.clone());
        step
    } else {
        step.verify(Check::TransportUnchanged {
            server: server.clone(),
        })
    }
}

/// With `--cleanup`: the renewed certificate's predecessor goes once its successor serves.
fn remove_replaced(
    server: &ServerName,
    old: &Thumbprint,
    renewed: ThumbRef,
    was_transport: bool,
) -> Step {
    let mut step = removal(
        "remove-replaced",
        "replaced",
        server,
        old,
        "its renewal serves the same services now (--cleanup)",
    )
    .pre(Check::Present {
        server: server.clone(),
        thumbprint: renewed.clone(),
    })
    // Never a certificate still bound to a web site (front or back end).
    .pre(Check::NoIis {
        server: server.clone(),
        thumbprint: ThumbRef::Known(old.clone()),
    });
    if was_transport {
        step = step.pre(Check::TransportIs {
            server: server.clone(),
            thumbprint: renewed.clone(),
        });
    }
    step = step
        .verify(Check::Absent {
            server: server.clone(),
            thumbprint: ThumbRef::Known(old.clone()),
        })
        .impact("none: its successor is enabled for the same services")
        .rollback(
            "none: re-create it with New-ExchangeCertificate if a connector names it explicitly",
        );
    transport_after(step, server, was_transport, renewed)
}

/// With `--cleanup`: an expired certificate bound to nothing.
fn remove_expired(server: &ServerName, thumb: &Thumbprint) -> Step {
    let t = ThumbRef::Known(thumb.clone());
    removal(
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
    .rollback("none: an expired certificate cannot be used again")
}

/// A step that runs `Remove-ExchangeCertificate` for `thumb` on `server`; callers add the
/// preconditions and verifications that make that removal safe.
fn removal(
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
