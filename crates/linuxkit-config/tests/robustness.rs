//! No input makes the front end panic: truncations and byte substitutions of
//! real configs go through `parse`, the label parser and the whole
//! spec/files/metadata pipeline. (A `cargo fuzz` target over `parse` comes later.)

use std::fs;
use std::path::Path;

use linuxkit_config::*;

fn pipeline(text: &str) {
    let _ = parse_label(text);
    let Ok(m) = parse(
        &Input {
            name: "fuzz",
            text,
            template_dir: Some(Path::new(".")),
        },
        None,
    ) else {
        return;
    };
    let idmap = IdMap::new(&m);
    for img in m.onboot.iter().chain(&m.onshutdown).chain(&m.services) {
        let Ok(img) = update_image_from_volumes(img, &m.volumes) else {
            continue;
        };
        if let Ok(s) = oci_spec(
            &img,
            &ImageDefaults {
                label: Some(text.to_string()),
                ..ImageDefaults::default()
            },
            &idmap,
        ) {
            let _ = runtime_json(&[], &s.runtime);
        }
        let _ = oci_spec(&img, &ImageDefaults::default(), &idmap);
    }
    for f in &m.files {
        let _ = file_spec(f, &idmap);
    }
    let y = metadata_yaml(&m);
    let _ = metadata_json(&m);
    let _ = dry_run_yaml(&m);
    // What we print must parse again.
    if let Err(e) = parse(
        &Input {
            name: "metadata",
            text: &y,
            template_dir: None,
        },
        None,
    ) {
        panic!("metadata does not re-parse: {e}\n{y}\n--- from ---\n{text}");
    }
}

#[test]
fn mutations_do_not_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases");
    let mut texts: Vec<String> = vec![
        "a: &a [*a]".into(),
        "{".into(),
        "- - - -".into(),
        "onboot: [{name: x, image: alpine, uid: 99999999999999999999}]".into(),
        "onboot: [{name: x, image: alpine, oomScoreAdj: -9223372036854775809}]".into(),
        "files: [{path: x, contents: \"\\t\\u0001\\n x \\n\"}]".into(),
        "services: [{name: \"@x\", image: \"@pkg:/abs\"}]".into(),
        "\u{feff}kernel: {}".into(),
        "<<: {kernel: {image: x}}".into(),
    ];
    for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
        for f in fs::read_dir(e.path().join("input"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|x| x == "yml") {
                texts.push(fs::read_to_string(f.path()).unwrap_or_default());
            }
        }
    }
    texts.truncate(60);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let junk = [
        ":", "-", "[", "{", "}", "]", "\"", "'", "&a", "*a", "!!str", "|", ">", "#", "\n", "  ",
        "\t", "~", "0644", "@", ",", "?",
    ];
    for t in &texts {
        pipeline(t);
        let chars: Vec<char> = t.chars().collect();
        let step = (chars.len() / 15).max(1);
        for cut in (0..chars.len()).step_by(step) {
            pipeline(&chars[..cut].iter().collect::<String>());
        }
        for _ in 0..40 {
            if chars.is_empty() {
                break;
            }
            let at = (next() as usize) % chars.len();
            let j = junk[(next() as usize) % junk.len()];
            let s: String = chars[..at].iter().collect::<String>()
                + j
                + &chars[at + 1..].iter().collect::<String>();
            pipeline(&s);
        }
    }
}
