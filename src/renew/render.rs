//! A plan as an admin reads it (numbered text) or as a program reads it (JSON).

use std::fmt::Write;

use super::Plan;

pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let scenarios: Vec<&str> = plan.scenarios.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(
        out,
        "Renewal plan ({}), as of {}",
        scenarios.join(", "),
        plan.created_at.format("%Y-%m-%d %H:%M UTC")
    );
    for reason in &plan.reasons {
        let _ = writeln!(out, "  why: {reason}");
    }
    let servers: Vec<&str> = plan.servers.iter().map(|s| s.as_str()).collect();
    let _ = writeln!(out, "  servers: {}", servers.join(", "));
    for refusal in &plan.refusals {
        let _ = writeln!(out, "  REFUSED: {refusal}");
    }
    if plan.steps.is_empty() {
        let _ = writeln!(out, "\nNothing to do.");
    }
    for (index, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(out, "\n{}. {} [{}]", index + 1, step.title, step.id);
        let _ = writeln!(out, "   why: {}", step.why);
        for pre in &step.preconditions {
            let _ = writeln!(out, "   requires: {}", pre.description);
        }
        let _ = writeln!(out, "   PowerShell:");
        for line in step.powershell.lines() {
            let _ = writeln!(out, "     {line}");
        }
        for check in &step.verify {
            let _ = writeln!(out, "   verified: {}", check.description);
        }
        let _ = writeln!(out, "   impact: {}", step.impact);
        let _ = writeln!(out, "   rollback: {}", step.rollback);
    }
    if !plan.notes.is_empty() {
        let _ = writeln!(out);
        for note in &plan.notes {
            let _ = writeln!(out, "Note: {note}");
        }
    }
    out
}

pub fn json(plan: &Plan) -> String {
    let mut text =
        serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}
