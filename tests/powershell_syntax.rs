//! The PowerShell scripts under `plugins/` cannot run here (no PowerShell on the build machines),
//! so they are at least parsed: a syntax error would only show on an Exchange server, at the
//! worst moment. tree-sitter-powershell reports ERROR and MISSING nodes where the script does not
//! parse.

use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser};

/// Line and column (both from 1) and kind of the first ERROR or MISSING node, if any.
fn first_syntax_error(source: &str) -> Option<(usize, usize, String)> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_powershell::LANGUAGE.into())
        .expect("the PowerShell grammar loads");
    let tree = parser
        .parse(source, None)
        .expect("the parser returns a tree");
    let root = tree.root_node();
    if !root.has_error() {
        return None;
    }
    let node = find_error(root).unwrap_or(root);
    let position = node.start_position();
    let what = if node.is_missing() {
        format!("missing {}", node.kind())
    } else {
        let text = source
            .get(node.start_byte()..node.end_byte().min(node.start_byte() + 40))
            .unwrap_or("");
        format!("unexpected {text:?}")
    };
    Some((position.row + 1, position.column + 1, what))
}

/// Depth first, in document order: the first ERROR or MISSING node.
fn find_error(node: Node<'_>) -> Option<Node<'_>> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    if !node.has_error() {
        return None;
    }
    let mut cursor = node.walk();
    let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
    children.into_iter().find_map(find_error)
}

fn scripts_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            scripts_under(&path, found);
        } else if path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("ps1") || ext.eq_ignore_ascii_case("psm1"))
        {
            found.push(path);
        }
    }
}

#[test]
fn every_plugin_script_parses() {
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let mut scripts = Vec::new();
    scripts_under(&plugins, &mut scripts);
    scripts.sort();
    assert!(
        scripts
            .iter()
            .any(|p| p.ends_with("windows/Export-ExchangeAuthState.ps1")),
        "the collector is missing from {}",
        plugins.display()
    );

    let mut failures = Vec::new();
    for script in &scripts {
        let bytes = std::fs::read(script).expect("script readable");
        // Scripts may start with a UTF-8 BOM (Windows PowerShell 5.1 needs one for non-ASCII).
        let text = String::from_utf8(
            bytes
                .strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(&bytes)
                .to_vec(),
        )
        .unwrap_or_else(|_| panic!("{} is not UTF-8", script.display()));
        if let Some((line, column, what)) = first_syntax_error(&text) {
            failures.push(format!("{}:{line}:{column}: {what}", script.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "PowerShell syntax errors:\n{}",
        failures.join("\n")
    );
}

#[test]
fn scripts_are_ascii_so_windows_powershell_reads_them_right() {
    // Windows PowerShell 5.1 reads a script without BOM in the ANSI code page: keep them ASCII.
    let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let mut scripts = Vec::new();
    scripts_under(&plugins, &mut scripts);
    for script in scripts {
        let bytes = std::fs::read(&script).expect("script readable");
        if let Some(at) = bytes.iter().position(|b| !b.is_ascii()) {
            if bytes.starts_with(b"\xEF\xBB\xBF") {
                continue;
            }
            panic!("{}: non-ASCII byte at offset {at}", script.display());
        }
    }
}

#[test]
fn the_check_catches_broken_scripts() {
    assert_eq!(
        first_syntax_error("Set-AuthConfig -NewCertificateThumbprint 'AB''C' -Force\n"),
        None
    );

    let unterminated = "Write-Output 'fine'\n$name = \"EXCH01\n";
    let (line, _, _) = first_syntax_error(unterminated).expect("unterminated string is an error");
    assert_eq!(line, 2, "reported at the line of the broken string");

    let unclosed_block = "function Test-It {\n    if ($true) {\n        'yes'\n}\n";
    assert!(first_syntax_error(unclosed_block).is_some());

    let stray_paren = "$a = @{ x = 1 }\nWrite-Output ($a.x))\n";
    let (line, column, _) = first_syntax_error(stray_paren).expect("stray paren is an error");
    assert_eq!((line, column), (2, 20), "points at the extra parenthesis");
}

/// Issue 15 item 9. The collector cannot run here; what it does with the Exchange shell's
/// objects is checked in its text: RawData-only certificates (serialization signing with an
/// expired Auth Certificate) get the SHA-1 of RawData as thumbprint instead of being skipped,
/// and the cmdlets are loaded the supported way, as MEAC does, never from the snap-in. Failed
/// before: the collector skipped a certificate without Thumbprint and added the snap-in.
#[test]
fn the_collector_reads_rawdata_only_certificates_and_loads_exchange_the_supported_way() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/windows/Export-ExchangeAuthState.ps1");
    let collector = std::fs::read_to_string(path).expect("collector");
    assert!(collector.contains("$thumbprint = Get-RawDataThumbprint ([byte[]]$rawData)"));
    assert!(collector.contains("SHA1CryptoServiceProvider"));
    assert!(!collector.contains("without RawData or Thumbprint was skipped"));
    assert!(collector.contains("Connect-ExchangeServer -auto -ClientApplication:ManagementShell"));
    assert!(collector.contains("'bin\\RemoteExchange.ps1'"));
    assert!(!collector.contains("Add-PSSnapin"));
}
