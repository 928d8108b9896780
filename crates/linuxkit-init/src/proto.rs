//! The control socket's protocol between the `service`/`logread` commands
//! and the supervisor: one request line of tab-separated words, then reply
//! lines `o <text>` (standard output), `e <text>` (standard error) and a
//! final `x <exit status>`. Followed logs stream `o` lines until the client
//! goes away.

/// The control socket.
pub const SOCKET: &str = "/run/linuxkit/service.sock";

/// The socket clients use: `$LINUXKIT_SERVICE_SOCKET` or [`SOCKET`] (a
/// container that mounts the host's /run elsewhere sets the variable).
pub fn client_socket() -> String {
    std::env::var("LINUXKIT_SERVICE_SOCKET").unwrap_or_else(|_| SOCKET.to_string())
}

/// Encode a request.
pub fn request(words: &[&str]) -> String {
    let mut s = words
        .iter()
        .map(|w| w.replace(['\t', '\n'], " "))
        .collect::<Vec<_>>()
        .join("\t");
    s.push('\n');
    s
}

/// Decode a request line.
pub fn parse_request(line: &str) -> Vec<String> {
    line.trim_end_matches('\n')
        .split('\t')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A reply line for standard output.
pub fn out(text: &str) -> String {
    format!("o {}\n", text.replace('\n', " "))
}

/// A reply line for standard error.
pub fn err(text: &str) -> String {
    format!("e {}\n", text.replace('\n', " "))
}

/// The final reply line.
pub fn exit(code: i32) -> String {
    format!("x {code}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let r = request(&["logs", "getty", "-f"]);
        assert_eq!(parse_request(&r), ["logs", "getty", "-f"]);
        assert_eq!(parse_request(&request(&["a\tb"])), ["a b"]);
    }
}
