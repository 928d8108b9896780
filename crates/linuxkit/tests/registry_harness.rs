//! Tests of the registry test harness itself (`common/registry.rs`,
//! `common/fault_proxy.rs`) with independent tools only: skopeo pushes and
//! inspects, curl and raw HTTP through the fault proxy. None of this uses
//! the registry client under test.

mod common;

use common::Run;
use common::registry::*;
use std::process::Command;
use std::time::{Duration, Instant};

const ARCHES: &[&str] = &["amd64", "arm64"];

/// Push a synthetic two-arch layout with skopeo and check the stored index.
/// Returns the layout and the directory holding it.
fn push_and_inspect(reg: &Registry) -> (tempfile::TempDir, SyntheticLayout) {
    let tmp = tempfile::tempdir().unwrap();
    let layout = synthetic_layout(tmp.path(), ARCHES, 2, 32 * 1024);
    skopeo_push(reg, &layout, "test/img:v1");
    let raw = skopeo_inspect_raw(reg, "test/img:v1");
    let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(v["mediaType"], MT_INDEX, "{v}");
    let ms = v["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), 2);
    let archs: Vec<_> = ms
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ARCHES);
    // skopeo copies an OCI index unchanged: the digest is preserved.
    assert_eq!(sha256_digest(&raw), layout.index.digest);
    (tmp, layout)
}

fn skopeo_inspect_with(reg: &Registry, creds: Option<&str>) -> std::process::Output {
    let mut args: Vec<String> = vec!["inspect".into(), "--raw".into()];
    if let Some(c) = creds {
        args.push(format!("--creds={c}"));
    }
    args.push("--tls-verify=false".into());
    args.push(reg.docker_ref("test/img:v1"));
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    skopeo(&a)
}

#[test]
fn synthetic_layout_is_deterministic_and_consistent() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let la = synthetic_layout(a.path(), &["amd64", "arm/v7"], 3, 10_000);
    let lb = synthetic_layout(b.path(), &["amd64", "arm/v7"], 3, 10_000);
    assert_eq!(la.index, lb.index);
    assert_eq!(la.images.len(), 2);
    let arm = la.image("arm");
    assert_eq!(arm.variant.as_deref(), Some("v7"));
    assert_eq!(arm.layers.len(), 3);
    for img in &la.images {
        let cfg: serde_json::Value = serde_json::from_slice(&la.blob(&img.config.digest)).unwrap();
        assert_eq!(cfg["architecture"], img.arch.as_str());
        assert_eq!(cfg["os"], "linux");
        for (i, l) in img.layers.iter().enumerate() {
            let gz = la.blob(&l.digest);
            assert_eq!(sha256_digest(&gz), l.digest);
            assert_eq!(gz.len() as u64, l.size);
            // incompressible: gzip is not much smaller than the content
            assert!(gz.len() > 9_000, "layer {} bytes", gz.len());
            let mut tar = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar)
                .unwrap();
            assert_eq!(sha256_digest(&tar), cfg["rootfs"]["diff_ids"][i]);
            assert_eq!(common::read_tar(&tar).len(), 5);
        }
    }
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(la.dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        top["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "latest"
    );
    assert_eq!(top["manifests"][0]["digest"], la.index.digest.as_str());
}

#[test]
fn anonymous_registry() {
    let reg = Registry::start(Auth::Anonymous);
    assert!(reg.url().starts_with("http://127.0.0.1:"));
    let (h, _) = raw_http(reg.host(), "GET", "/v2/", &[]).unwrap();
    assert_eq!(h.status(), 200);
    let (_tmp, layout) = push_and_inspect(&reg);
    // A blob is served with its exact bytes.
    let l = &layout.images[0].layers[0];
    let (h, body) = raw_http(
        reg.host(),
        "GET",
        &format!("/v2/test/img/blobs/{}", l.digest),
        &[],
    )
    .unwrap();
    assert_eq!(h.status(), 200);
    assert_eq!(sha256_digest(&body), l.digest);
    // docker config without credentials
    let d = tempfile::tempdir().unwrap();
    let p = docker_config(d.path(), &reg);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    assert_eq!(v["auths"], serde_json::json!({}));
}

#[test]
fn basic_auth_registry() {
    let reg = Registry::start(Auth::basic("alice", "s3cret"));
    let (h, _) = raw_http(reg.host(), "GET", "/v2/", &[]).unwrap();
    assert_eq!(h.status(), 401);
    assert!(
        h.get("www-authenticate").unwrap().starts_with("Basic "),
        "{h:?}"
    );
    let (h, _) = raw_http(
        reg.host(),
        "GET",
        "/v2/",
        &[(
            "Authorization",
            &format!("Basic {}", base64_std(b"alice:s3cret")),
        )],
    )
    .unwrap();
    assert_eq!(h.status(), 200);
    push_and_inspect(&reg);
    assert!(
        !skopeo_inspect_with(&reg, Some("alice:wrong"))
            .status
            .success()
    );
    assert!(!skopeo_inspect_with(&reg, None).status.success());

    let d = tempfile::tempdir().unwrap();
    let p = docker_config(d.path(), &reg);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let auth = v["auths"][reg.host()]["auth"].as_str().unwrap();
    assert_eq!(base64_decode(auth).unwrap(), b"alice:s3cret");
    assert_eq!(p, d.path().join("config.json"));
}

#[test]
fn tls_registry() {
    let reg = Registry::start(Auth::Tls);
    assert!(reg.url().starts_with("https://127.0.0.1:"));
    let ca = reg.ca_pem.clone().unwrap();
    assert!(reg.cert_dir.as_ref().unwrap().join("ca.crt").exists());
    push_and_inspect(&reg);
    // curl trusts it with the CA, for both names in the certificate ...
    for host in ["127.0.0.1", "localhost"] {
        let o = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "--cacert",
            ])
            .arg(&ca)
            .arg(format!("https://{host}:{}/v2/", reg.port()))
            .run_output();
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "200",
            "{host}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // ... and not without it.
    let o = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "10"])
        .arg(format!("{}/v2/", reg.url()))
        .run_output();
    assert!(!o.status.success());
}

#[test]
fn token_auth_registry() {
    let reg = Registry::start(Auth::token("bob", "hunter2"));
    let (h, _) = raw_http(reg.host(), "GET", "/v2/", &[]).unwrap();
    assert_eq!(h.status(), 401);
    let challenge = h.get("www-authenticate").unwrap().to_string();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(&reg.token.as_ref().unwrap().realm()),
        "{challenge}"
    );
    assert!(challenge.contains(TOKEN_SERVICE), "{challenge}");
    assert_eq!(reg.token_requests(), 0);

    push_and_inspect(&reg);
    let ts = reg.token.as_ref().unwrap();
    let seen = ts.requests();
    assert!(ts.issued() > 0, "{seen:?}");
    assert!(
        seen.iter().any(|r| r.granted
            && r.service.as_deref() == Some(TOKEN_SERVICE)
            && r.scopes
                .iter()
                .any(|s| s.starts_with("repository:test/img:") && s.contains("push"))),
        "{seen:?}"
    );

    // Wrong credentials: the token server refuses, skopeo fails.
    let before = reg.token_requests();
    let o = skopeo_inspect_with(&reg, Some("bob:wrong"));
    assert!(!o.status.success());
    assert!(reg.token_requests() > before);
    assert!(ts.requests()[before..].iter().all(|r| !r.granted));

    // A token from the server works directly; one with no access does not.
    let get_v1 = |tok: &str| {
        raw_http(
            reg.host(),
            "GET",
            "/v2/test/img/manifests/v1",
            &[
                ("Authorization", &format!("Bearer {tok}")),
                ("Accept", MT_INDEX),
            ],
        )
        .unwrap()
    };
    let tok = ts.issue(
        "bob",
        TOKEN_SERVICE,
        &["repository:test/img:pull".to_string()],
    );
    let (h, _) = get_v1(&tok);
    assert_eq!(h.status(), 200, "{}", reg.log());
    let tok = ts.issue("bob", TOKEN_SERVICE, &[]);
    let (h, _) = get_v1(&tok);
    assert_eq!(h.status(), 401);
    // The token endpoint itself, with the docker realm protocol.
    let (h, body) = raw_http(
        &ts.addr,
        "GET",
        &format!("/token?service={TOKEN_SERVICE}&scope=repository%3Atest%2Fimg%3Apull%2Cpush"),
        &[(
            "Authorization",
            &format!("Basic {}", base64_std(b"bob:hunter2")),
        )],
    )
    .unwrap();
    assert_eq!(h.status(), 200);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["token"], v["access_token"]);
    assert_eq!(v["expires_in"], 300);
    let claims = v["token"].as_str().unwrap().split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64_decode(claims).unwrap()).unwrap();
    assert_eq!(
        claims["access"],
        serde_json::json!([{"type": "repository", "name": "test/img", "actions": ["pull", "push"]}])
    );
    let (h, _) = raw_http(&ts.addr, "GET", "/token?service=x", &[]).unwrap();
    assert_eq!(h.status(), 401);
}

/// curl a URL: (exit code, http code, body).
fn curl(url: &str, extra: &[&str]) -> (i32, String, Vec<u8>) {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    let o = Command::new("curl")
        .args(["-s", "--max-time", "30", "-o"])
        .arg(tmp.path())
        .args(["-w", "%{http_code}"])
        .args(extra)
        .arg(url)
        .run_output();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string(),
        std::fs::read(tmp.path()).unwrap(),
    )
}

#[test]
fn fault_proxy() {
    let reg = Registry::start(Auth::Anonymous);
    let (_tmp, layout) = push_and_inspect(&reg);
    let proxy = FaultProxy::start(reg.host());
    let layer = layout.images[0].layers[1].clone();
    let blob_url = format!("{}/v2/test/img/blobs/{}", proxy.url(), layer.digest);
    let manifest_url = format!("{}/v2/test/img/manifests/v1", proxy.url());

    // Pass-through.
    let (rc, code, body) = curl(&blob_url, &[]);
    assert_eq!((rc, code.as_str()), (0, "200"));
    assert_eq!(sha256_digest(&body), layer.digest);
    assert_eq!(proxy.faults_applied(), 0);

    // Status{500, 2}: two failures (blob then manifest), then success; the
    // /v2/ ping is not affected.
    proxy.set(Fault::Status {
        code: 500,
        times: 2,
        retry_after: Some(3),
    });
    let (_, code, _) = curl(&format!("{}/v2/", proxy.url()), &[]);
    assert_eq!(code, "200");
    let o = Command::new("curl")
        .args(["-s", "-i", "--max-time", "30"])
        .arg(&blob_url)
        .run_output();
    let head = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 500"), "{head}");
    assert!(head.contains("retry-after: 3"), "{head}");
    let (_, code, _) = curl(&manifest_url, &["-H", &format!("Accept: {MT_INDEX}")]);
    assert_eq!(code, "500");
    assert_eq!(proxy.fault(), Fault::None);
    let (rc, code, body) = curl(&manifest_url, &["-H", &format!("Accept: {MT_INDEX}")]);
    assert_eq!((rc, code.as_str()), (0, "200"));
    assert_eq!(sha256_digest(&body), layout.index.digest);
    assert_eq!(proxy.faults_applied(), 2);

    // DropBlobAfter: curl sees a short transfer (exit 18, partial file),
    // once; then a ranged resume completes the blob.
    proxy.set(Fault::DropBlobAfter(1000));
    let (rc, code, part) = curl(&blob_url, &[]);
    assert_eq!(rc, 18, "curl exit code");
    assert_eq!(code, "200");
    assert_eq!(part.len(), 1000);
    assert_eq!(proxy.fault(), Fault::None);
    assert_eq!(proxy.faults_applied(), 3);
    let (rc, code, rest) = curl(&blob_url, &["-H", "Range: bytes=1000-"]);
    assert_eq!((rc, code.as_str()), (0, "206"));
    let mut whole = part.clone();
    whole.extend_from_slice(&rest);
    assert_eq!(sha256_digest(&whole), layer.digest);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.contains(&layer.digest) && r.ends_with("Range: bytes=1000-")),
        "{:?}",
        proxy.requests()
    );

    // CorruptBlob: same length, one byte differs in the middle; manifests
    // untouched.
    proxy.set(Fault::CorruptBlob);
    let (rc, _, bad) = curl(&blob_url, &[]);
    assert_eq!(rc, 0);
    assert_eq!(bad.len() as u64, layer.size);
    assert_ne!(sha256_digest(&bad), layer.digest);
    let good = layout.blob(&layer.digest);
    let diff: Vec<_> = (0..good.len()).filter(|&i| good[i] != bad[i]).collect();
    assert_eq!(diff, vec![good.len() / 2]);
    let (_, _, m) = curl(&manifest_url, &["-H", &format!("Accept: {MT_INDEX}")]);
    assert_eq!(sha256_digest(&m), layout.index.digest);
    proxy.set(Fault::None);
    let (_, _, body) = curl(&blob_url, &[]);
    assert_eq!(sha256_digest(&body), layer.digest);

    // Throttle: ~32 KiB at 64 KiB/s takes about half a second.
    proxy.set(Fault::Throttle {
        bytes_per_sec: 64 * 1024,
    });
    let t = Instant::now();
    let (rc, _, body) = curl(&blob_url, &[]);
    let took = t.elapsed();
    assert_eq!(rc, 0);
    assert_eq!(sha256_digest(&body), layer.digest);
    let expect = Duration::from_secs_f64(layer.size as f64 / (64.0 * 1024.0));
    assert!(
        took + Duration::from_millis(100) >= expect,
        "took {took:?}, expected ~{expect:?}"
    );
    assert!(took < expect + Duration::from_secs(5), "took {took:?}");
    proxy.set(Fault::None);

    // A push through the proxy (uploads: POST, PATCH with a body, PUT).
    let tmp = tempfile::tempdir().unwrap();
    let other = synthetic_layout(tmp.path(), &["riscv64"], 2, 20_000);
    let mut args: Vec<String> = vec![
        "copy".into(),
        "--all".into(),
        "--dest-tls-verify=false".into(),
    ];
    args.push(other.oci_ref());
    args.push(format!("docker://{}/test/other:v2", proxy.addr()));
    skopeo_ok(&args);
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("PATCH ") || r.starts_with("PUT "))
    );
    let raw = skopeo_inspect_raw(&reg, "test/other:v2");
    assert_eq!(sha256_digest(&raw), other.index.digest);
}

#[test]
fn registry_is_killed_on_drop() {
    let reg = Registry::start(Auth::Anonymous);
    let addr = reg.addr.clone();
    let dir = reg.dir.clone();
    drop(reg);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(&addr).is_err());
}
