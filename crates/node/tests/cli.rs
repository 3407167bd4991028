//! The `crust` binary, run as a user would.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure

use std::process::Command;

fn crust(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crust"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_dev_account() {
    let (code, out, _) = crust(&["key", "inspect", "//Alice"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0x88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"),
        "{out}"
    );
    assert!(
        out.contains("cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL"),
        "{out}"
    );
}

#[test]
fn inspect_address_and_reject_typos() {
    let (code, out, _) = crust(&[
        "key",
        "inspect",
        "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYL",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("66 (Crust)"), "{out}");
    let (code, _, err) = crust(&[
        "key",
        "inspect",
        "cTKS5moMFjX87JSbY2XtTfJoRY3KYBPd2KaS3WjtgiHCMQGYM",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("checksum"), "{err}");
}

#[test]
fn generate_prints_a_phrase_that_inspects_to_the_same_account() {
    let (code, out, _) = crust(&["key", "generate", "--words", "24"]);
    assert_eq!(code, 0);
    let phrase = out
        .lines()
        .find_map(|l| l.strip_prefix("Secret phrase: "))
        .expect("phrase line");
    assert_eq!(phrase.split(' ').count(), 24);
    let address = out
        .lines()
        .find_map(|l| l.strip_prefix("Account (SS58):   "))
        .expect("address line");
    let (_, again, _) = crust(&["key", "inspect", phrase]);
    assert!(again.contains(address));
}

#[test]
fn price_of_the_reference_129_mib_file() {
    // 129 MiB × 10 000 units + 1 000 000 keys fee = 2 290 000 units; base fee starts at 0.
    let (code, out, _) = crust(&["price", "134289408"]);
    assert_eq!(code, 0);
    assert!(out.contains("total     0.00000229 CRU"), "{out}");
}

#[test]
fn devnet_runs_a_chain_with_rpc() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("crust-devnet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_crust"))
        .args(["devnet", "--fresh"])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("devnet starts");
    let head = || -> Option<u64> {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"chain_head"}"#;
        let mut s = std::net::TcpStream::connect("127.0.0.1:9933").ok()?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        write!(
            s,
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let json: serde_json::Value = serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()?;
        json["result"]["height"].as_u64()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut height = 0;
    while std::time::Instant::now() < deadline {
        height = head().unwrap_or(0);
        if height >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(height >= 5, "devnet finalized {height} blocks");
}
