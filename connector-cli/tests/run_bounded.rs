//! `connector run` against a loopback server that sends a ~300 MiB chunked body: the run fails
//! with `response_too_large` at the 64 MiB default limit, and its peak memory stays far below
//! the body size. The only test in this binary, so `RUSAGE_CHILDREN` measures this one child.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BODY_BYTES: usize = 300 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// Answer the first request with a chunked `{"items":"xxxx...` body of [`BODY_BYTES`]; stop
/// writing when the client hangs up.
async fn huge_chunked_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                            transfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let mut chunk = format!("{CHUNK:x}\r\n").into_bytes();
                chunk.extend(std::iter::repeat_n(b'x', CHUNK));
                chunk.extend_from_slice(b"\r\n");
                for _ in 0..BODY_BYTES / CHUNK {
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    port
}

/// Peak resident memory of the waited-for children of this process, in bytes.
fn children_max_rss() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct we pass and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage failed");
    // Linux reports ru_maxrss in KiB.
    usage.ru_maxrss as u64 * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_300_mib_reply_fails_response_too_large_in_bounded_memory() {
    let port = huge_chunked_server().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("big.yaml");
    std::fs::write(
        &spec,
        format!(
            r#"id: .big
displayName: Big
description: A provider that answers with far too much
minimumLicense: basic
baseUrl: http://127.0.0.1:{port}
auth: {{ types: [none] }}
actions:
  dump:
    description: Fetch everything
    scope: read
    request: {{ method: GET, path: /dump }}
"#
        ),
    )
    .unwrap();
    let spec = spec.display().to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_connector"))
                .args(["run", &spec, "dump"])
                .output()
                .unwrap()
        }),
    )
    .await
    .expect("connector run finishes")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: system (HTTP 200)"), "{stderr}");
    assert!(stderr.contains("limit of 67108864 bytes"), "{stderr}");
    let rss = children_max_rss();
    eprintln!("connector run peak RSS: {} MiB", rss >> 20);
    // The limit is 64 MiB; a whole-body read would need at least 300 MiB.
    assert!(
        rss < 160 * 1024 * 1024,
        "peak RSS {} MiB for a {} MiB body",
        rss >> 20,
        BODY_BYTES >> 20
    );
}
