//! The README must stay true: its finding-code table lists exactly the codes the check emits.

use exchange_authcert::judge::FindingCode;

const README: &str = include_str!("../README.md");

fn readme_codes() -> Vec<String> {
    let start = README
        .find("## Finding codes")
        .expect("README has a Finding codes section");
    let section = &README[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    section[..end]
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn readme_lists_every_finding_code_with_its_meaning() {
    let listed = readme_codes();
    for code in FindingCode::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            code.as_str(),
            code.documented_severity(),
            code.meaning()
        );
        assert!(
            README.contains(&row),
            "README's finding table lacks or differs for {}; expected row:\n{row}",
            code.as_str()
        );
    }
    let known: Vec<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    for code in &listed {
        assert!(
            known.contains(&code.as_str()),
            "README lists unknown code {code}"
        );
    }
    assert_eq!(listed.len(), FindingCode::ALL.len());
}

#[test]
fn readme_states_the_two_commands() {
    assert!(README.contains("cargo run --release -- --now 2026-12-01T00:00:00Z --cert samples/"));
    assert!(README.contains("\ncargo test\n"));
    let ci = include_str!("../.ci/run");
    assert!(
        ci.contains("cargo test"),
        ".ci/run must run the README's test command"
    );
}
