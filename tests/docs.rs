//! The documentation must stay true:
//! - GUIDE.md's finding-code table lists exactly the codes the check emits, each with its
//!   documented severity and meaning (generated from `src/judge/findings.rs`);
//! - README.md states the two commands (the sample run and the test suite), and `.ci/run` runs
//!   the test command;
//! - every relative link of README.md, GUIDE.md, CHANGELOG.md and BENCHMARKS.md leads to a file
//!   that exists and, with an `#anchor`, to a heading of that file.

use std::path::Path;

use exchange_authcert::judge::FindingCode;

const README: &str = include_str!("../README.md");
const GUIDE: &str = include_str!("../GUIDE.md");
const CHANGELOG: &str = include_str!("../CHANGELOG.md");
const BENCHMARKS: &str = include_str!("../BENCHMARKS.md");

/// The text of a `## ` section of `doc`, up to the next `## ` heading.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let start = doc
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no section {heading:?}"))
        + 1;
    let section = &doc[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |e| e + 3);
    &section[..end]
}

fn guide_codes() -> Vec<String> {
    section(GUIDE, "## Finding codes")
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn guide_lists_every_finding_code_with_its_meaning() {
    let table = section(GUIDE, "## Finding codes");
    for code in FindingCode::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            code.as_str(),
            code.documented_severity(),
            code.meaning()
        );
        assert!(
            table.lines().any(|line| line == row),
            "GUIDE.md's finding table lacks or differs for {}; expected row:\n{row}",
            code.as_str()
        );
    }
    let listed = guide_codes();
    let known: Vec<&str> = FindingCode::ALL.iter().map(|c| c.as_str()).collect();
    for code in &listed {
        assert!(
            known.contains(&code.as_str()),
            "GUIDE.md lists unknown code {code}"
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

/// Lines of `doc` outside fenced code blocks.
fn prose_lines(doc: &str) -> impl Iterator<Item = &str> {
    let mut in_code = false;
    doc.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            return false;
        }
        !in_code
    })
}

/// The anchors GitHub gives the headings of `doc`: lower case, only letters, digits, spaces,
/// hyphens and underscores kept, spaces made hyphens; a repeated anchor gets `-1`, `-2` ...
fn anchors(doc: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in prose_lines(doc) {
        let Some(text) = line
            .strip_prefix('#')
            .map(|rest| rest.trim_start_matches('#'))
            .and_then(|rest| rest.strip_prefix(' '))
        else {
            continue;
        };
        let slug: String = text
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while seen.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        seen.push(unique);
    }
    seen
}

/// The targets of the inline links `[text](target)` of `doc`, outside code blocks.
fn link_targets(doc: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(doc) {
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                targets.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    targets
}

#[test]
fn relative_links_of_the_documents_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    let documents = [
        ("README.md", README),
        ("GUIDE.md", GUIDE),
        ("CHANGELOG.md", CHANGELOG),
        ("BENCHMARKS.md", BENCHMARKS),
    ];
    for (name, doc) in documents {
        let targets = link_targets(doc);
        assert!(!targets.is_empty(), "{name} has no links");
        for target in targets {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let file = if file.is_empty() { name } else { file };
            let path = root.join(file);
            if !path.exists() {
                problems.push(format!("{name}: link to {target}: no file {file}"));
                continue;
            }
            if let Some(anchor) = anchor {
                let text = std::fs::read_to_string(&path).expect("a linked file is text");
                if !anchors(&text).iter().any(|a| a == anchor) {
                    problems.push(format!(
                        "{name}: link to {target}: no such heading in {file}"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn anchors_follow_githubs_rules() {
    let doc = "# A guide\n## What it reads\n### `--metadata URL|FILE`: the published Auth metadata\n\
               ```\n# not a heading\n```\n## Parity with Microsoft's monitor (MEAC)\n### Nagios\n### Nagios\n";
    assert_eq!(
        anchors(doc),
        [
            "a-guide",
            "what-it-reads",
            "--metadata-urlfile-the-published-auth-metadata",
            "parity-with-microsofts-monitor-meac",
            "nagios",
            "nagios-1",
        ]
    );
}
