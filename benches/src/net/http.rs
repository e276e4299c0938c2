//! A small HTTP/1.1 client over `std::net`, for what the harness asks a server itself:
//! whether it is up yet, and whether it serves what examples/http-server serves (every
//! server measured must answer the same, or the comparison means nothing).

use std::{
    io::{Read, Write},
    net::{Ipv4Addr, SocketAddr, TcpStream},
    time::Duration,
};

use anyhow::{Context, bail, ensure};

/// The body of `GET /`.
pub(crate) const HELLO: &[u8] = b"hello from spindle\n";
/// The size of the `/bytes/N` response checked.
const BYTES_CHECKED: usize = 100_000;

/// A response's status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// `GET path` on 127.0.0.1:`port` over a connection of its own (`Connection: close`);
/// each wait on the network is bounded by `timeout`.
pub(crate) fn get(port: u16, path: &str, timeout: Duration) -> anyhow::Result<Response> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    parse_response(&received)
}

/// The status and body of one whole response (its body `Content-Length` bytes long).
pub(crate) fn parse_response(bytes: &[u8]) -> anyhow::Result<Response> {
    let head_end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = std::str::from_utf8(&bytes[..head_end]).context("headers are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not a status line: `{status_line}`"))?;
    let length: usize = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .context("no Content-Length")?;
    let body = &bytes[head_end + 4..];
    ensure!(
        body.len() == length,
        "a body of {} bytes where Content-Length says {length}",
        body.len()
    );
    Ok(Response {
        status,
        body: body.to_vec(),
    })
}

/// Checks that the server on `port` answers as examples/http-server does: `/`, a
/// `/bytes/N` body, and 404 for an unknown path.
pub(crate) fn check_server(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let hello = get(port, "/", timeout).context("GET /")?;
    ensure!(
        hello.status == 200 && hello.body == HELLO,
        "GET / answered {} with {:?}",
        hello.status,
        String::from_utf8_lossy(&hello.body)
    );
    let path = format!("/bytes/{BYTES_CHECKED}");
    let bytes = get(port, &path, timeout).with_context(|| format!("GET {path}"))?;
    let pattern = (0..BYTES_CHECKED).map(|index| (index % 251) as u8);
    if bytes.status != 200 || !bytes.body.iter().copied().eq(pattern) {
        bail!("GET {path} answered {} with a wrong body", bytes.status);
    }
    let unknown = get(port, "/no-such-path", timeout).context("GET /no-such-path")?;
    ensure!(
        unknown.status == 404,
        "GET /no-such-path answered {}",
        unknown.status
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{net::TcpListener, thread};

    use super::*;

    #[test]
    fn reads_status_and_body() {
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 19\r\nX: y\r\n\r\nhello from spindle\n";
        let parsed = parse_response(response).unwrap();
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.body, HELLO);
        let not_found = parse_response(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(not_found.unwrap().status, 404);
    }

    #[test]
    fn cut_or_garbled_responses_are_errors() {
        let cut =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\nhello").unwrap_err();
        assert_eq!(
            cut.to_string(),
            "a body of 5 bytes where Content-Length says 19"
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\nContent-Length: 0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }

    /// A one-shot server on a free port that answers every connection with `answer`.
    fn serve(answers: Vec<Vec<u8>>) -> u16 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0; 1024];
                let _ = stream.read(&mut request);
                stream.write_all(&answer).unwrap();
            }
        });
        port
    }

    fn response(status: &str, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn a_server_passes_only_with_all_three_answers() {
        let pattern: Vec<u8> = (0..BYTES_CHECKED)
            .map(|index| (index % 251) as u8)
            .collect();
        let timeout = Duration::from_secs(5);
        let good = vec![
            response("200 OK", HELLO),
            response("200 OK", &pattern),
            response("404 Not Found", b""),
        ];
        check_server(serve(good), timeout).unwrap();
        let mut wrong = pattern.clone();
        wrong[1000] ^= 1;
        let bad = vec![response("200 OK", HELLO), response("200 OK", &wrong)];
        let error = check_server(serve(bad), timeout).unwrap_err().to_string();
        assert_eq!(error, "GET /bytes/100000 answered 200 with a wrong body");
        let error = check_server(serve(vec![response("200 OK", b"hi")]), timeout).unwrap_err();
        assert_eq!(error.to_string(), "GET / answered 200 with \"hi\"");
    }
}
