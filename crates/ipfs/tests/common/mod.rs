//! A gateway on a real loopback socket over a fresh repository, for the HTTP tests.
#![allow(dead_code)]

use crust_ipfs::gateway;
use crust_ipfs::repo::Repo;
use reqwest::blocking::Client;
use std::sync::Arc;

/// A running gateway.
pub struct Gateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its repository.
    pub repo: Arc<Repo>,
    _dir: tempfile::TempDir,
}

/// Starts a gateway on an ephemeral port.
pub fn start() -> Gateway {
    let dir = tempfile::tempdir().expect("tmp");
    let repo = Arc::new(Repo::open(dir.path()).expect("repo"));
    let router = gateway::router(repo.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router).await.expect("serve");
        });
    });
    let addr = rx.recv().expect("addr");
    Gateway {
        url: format!("http://{addr}"),
        repo,
        _dir: dir,
    }
}

/// A client that does not follow redirects.
pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}
