//! What a registry sends us: `WWW-Authenticate` challenges, error bodies and
//! manifest/index documents must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linuxkit_oci::registry::{auth, client};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = auth::parse_challenge(s);
    }
    let _ = client::error_detail(404, data);
    let _ = serde_json::from_slice::<linuxkit_oci::Manifest>(data);
    let _ = serde_json::from_slice::<linuxkit_oci::Index>(data);
});
