//! Fuzz the YAML front end: any bytes must give a config or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let input = linuxkit_config::Input { name: "fuzz.yml", text, template_dir: None };
        if let Ok(m) = linuxkit_config::parse(&input, None) {
            let mut base = linuxkit_config::Moby::default();
            let _ = linuxkit_config::merge(&mut base, m.clone());
            let _ = linuxkit_config::metadata_yaml(&m);
            let _ = linuxkit_config::metadata_json(&m);
            let idmap = linuxkit_config::IdMap::new(&m);
            for img in m.onboot.iter().chain(&m.services) {
                let d = linuxkit_config::ImageDefaults {
                    env: None,
                    entrypoint: vec![],
                    cmd: vec![],
                    working_dir: String::new(),
                    label: None,
                };
                let _ = linuxkit_config::oci_spec(img, &d, &idmap);
            }
            for f in &m.files {
                let _ = linuxkit_config::file_spec(f, &idmap);
            }
        }
    }
});
