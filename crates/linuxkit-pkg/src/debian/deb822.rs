//! Debian control-file syntax (deb822): paragraphs of `Field: value` lines
//! separated by blank lines, continuation lines starting with a space or
//! tab. Used for `apt-cache show` output and a package's `control` file.
//! Parsing only; it knows nothing of what the fields mean.

use std::collections::BTreeMap;

/// One paragraph: field name → value. A multi-line value keeps its
/// continuation lines, joined with `\n`, each without its leading space.
pub type Paragraph = BTreeMap<String, String>;

/// Parse every paragraph of `text`. Lines that are neither a field nor a
/// continuation (e.g. `N:` notes apt mixes in) are ignored, as are `#`
/// comments.
pub fn parse(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut cur = Paragraph::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            last = None;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(v) = last.as_ref().and_then(|k| cur.get_mut(k)) {
                v.push('\n');
                v.push_str(&line[1..]);
            }
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) if !k.is_empty() && !k.contains(' ') => {
                cur.insert(k.to_string(), v.trim().to_string());
                last = Some(k.to_string());
            }
            _ => last = None,
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A parsed relationship field (`Depends`, `Pre-Depends`, `Provides`): a
/// list of groups, each a list of alternatives (`a | b`), each reduced to
/// the package name (version constraints and `:any`/`:native`/`:arch`
/// qualifiers are dropped).
pub fn relations(value: &str) -> Vec<Vec<String>> {
    value
        .split(',')
        .map(|group| {
            group
                .split('|')
                .filter_map(|alt| {
                    let name = alt
                        .trim()
                        .split(|c: char| c.is_whitespace() || c == '(' || c == '[' || c == '<')
                        .next()
                        .unwrap_or("");
                    let name = name.split(':').next().unwrap_or("");
                    (!name.is_empty()).then(|| name.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_continuations() {
        let text =
            "Package: a\nDescription: short\n long line\n .\n more\n\n\nPackage: b\nDepends: x\n";
        let p = parse(text);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["Description"], "short\nlong line\n.\nmore");
        assert_eq!(p[1]["Package"], "b");
        assert_eq!(p[1]["Depends"], "x");
    }

    #[test]
    fn relation_fields() {
        let r = relations("libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, perl:any, ,zlib1g");
        assert_eq!(
            r,
            vec![
                vec!["libc6".to_string()],
                vec!["debconf".into(), "debconf-2.0".into()],
                vec!["perl".into()],
                vec!["zlib1g".into()],
            ]
        );
    }
}
