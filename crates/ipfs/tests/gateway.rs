//! The gateways over real loopback sockets, driven by an HTTP client: trustless raw/CAR
//! responses, the path gateway's files, ranges, directories and caching headers.

use crust_ipfs::Cid;
use crust_ipfs::car::CarReader;
use crust_ipfs::importer::{DirBuilder, ImportOptions};
use reqwest::StatusCode;

mod common;
use common::{Gateway, client, start};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

fn add(gw: &Gateway, bytes: &[u8], opts: &ImportOptions) -> Cid {
    gw.repo
        .add_file(bytes, opts, true, &mut |_| {})
        .expect("add")
        .cid
}

#[test]
fn probe_and_raw_blocks() {
    let gw = start();
    let c = client();
    let r = c
        .get(format!("{}/ipfs/bafkqaaa?format=raw", gw.url))
        .send()
        .expect("probe");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().expect("body").len(), 0);
    let cid = add(&gw, b"hello world\n", &ImportOptions::default());
    let r = c
        .get(format!("{}/ipfs/{cid}", gw.url))
        .header("Accept", "application/vnd.ipld.raw")
        .send()
        .expect("raw");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/vnd.ipld.raw");
    assert_eq!(r.headers()["etag"], format!("\"{cid}.raw\"").as_str());
    assert_eq!(r.headers()["x-ipfs-roots"], cid.to_string().as_str());
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable")
    );
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{cid}.bin\"").as_str()
    );
    let body = r.bytes().expect("body");
    assert!(crust_ipfs::block::verify(&cid, &body).is_ok());
    // Unknown CIDs are 404; garbage CIDs are 400; only-if-cached is 412.
    let absent = crust_ipfs::Block::raw(b"absent".to_vec()).cid;
    assert_eq!(
        c.get(format!("{}/ipfs/{absent}?format=raw", gw.url))
            .send()
            .expect("404")
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(format!("{}/ipfs/not-a-cid", gw.url))
            .send()
            .expect("400")
            .status(),
        StatusCode::BAD_REQUEST
    );
    let r = c
        .get(format!("{}/ipfs/{absent}", gw.url))
        .header("Cache-Control", "only-if-cached")
        .send()
        .expect("412");
    assert_eq!(r.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        c.get(format!("{}/ipfs/{cid}?format=bogus", gw.url))
            .send()
            .expect("400")
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn files_stream_with_ranges_and_etags() {
    let gw = start();
    let c = client();
    let bytes = data(1_000_000);
    let cid = add(&gw, &bytes, &ImportOptions::default());
    let r = c.get(format!("{}/ipfs/{cid}", gw.url)).send().expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["content-length"], "1000000");
    assert_eq!(r.bytes().expect("body").as_ref(), &bytes[..]);
    let r = c
        .get(format!("{}/ipfs/{cid}", gw.url))
        .header("Range", "bytes=262000-262300")
        .send()
        .expect("range");
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 262000-262300/1000000");
    assert_eq!(r.bytes().expect("body").as_ref(), &bytes[262_000..=262_300]);
    let r = c
        .get(format!("{}/ipfs/{cid}", gw.url))
        .header("Range", "bytes=-10")
        .send()
        .expect("suffix");
    assert_eq!(r.bytes().expect("body").as_ref(), &bytes[999_990..]);
    let r = c
        .get(format!("{}/ipfs/{cid}", gw.url))
        .header("Range", "bytes=2000000-")
        .send()
        .expect("416");
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */1000000");
    let r = c
        .get(format!("{}/ipfs/{cid}", gw.url))
        .header("If-None-Match", format!("\"{cid}\""))
        .send()
        .expect("304");
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c
        .head(format!("{}/ipfs/{cid}", gw.url))
        .send()
        .expect("head");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().expect("body").len(), 0);
    let r = c
        .get(format!(
            "{}/ipfs/{cid}?filename=report.pdf&download=true",
            gw.url
        ))
        .send()
        .expect("download");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"report.pdf\""
    );
    assert_eq!(r.headers()["content-type"], "application/pdf");
}

#[test]
fn directories_redirect_list_and_serve_index_html() {
    let gw = start();
    let c = client();
    let opts = ImportOptions::default();
    let root = gw
        .repo
        .import(
            true,
            |sink| {
                let mut tree = DirBuilder::new();
                for (path, body) in [
                    ("docs/a.txt", "alpha"),
                    ("docs/b <&>.txt", "beta"),
                    ("site/index.html", "<p>hi</p>"),
                ] {
                    let f = crust_ipfs::importer::import_file(
                        body.as_bytes(),
                        &opts,
                        sink,
                        &mut |_| {},
                    )?;
                    tree.add_file(path, f)?;
                }
                Ok(tree
                    .build(0, sink)
                    .map_err(crust_ipfs::repo::RepoError::from)?
                    .0)
            },
            |r| vec![r.cid],
        )
        .expect("import");
    let r = c
        .get(format!("{}/ipfs/{}/docs?x=1", gw.url, root.cid))
        .send()
        .expect("redirect");
    assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        r.headers()["location"],
        format!("/ipfs/{}/docs/?x=1", root.cid).as_str()
    );
    let r = c
        .get(format!("{}/ipfs/{}/docs/", gw.url, root.cid))
        .send()
        .expect("listing");
    assert_eq!(r.status(), StatusCode::OK);
    let roots = r.headers()["x-ipfs-roots"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(roots.split(',').count(), 2);
    let html = r.text().expect("html");
    assert!(
        html.contains("a.txt") && html.contains("b &lt;&amp;&gt;.txt"),
        "{html}"
    );
    let r = c
        .get(format!("{}/ipfs/{}/site/", gw.url, root.cid))
        .send()
        .expect("index");
    assert_eq!(r.headers()["content-type"], "text/html");
    assert_eq!(r.text().expect("body"), "<p>hi</p>");
    let r = c
        .get(format!("{}/ipfs/{}/docs/a.txt", gw.url, root.cid))
        .send()
        .expect("file");
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(r.text().expect("body"), "alpha");
    let r = c
        .get(format!("{}/ipfs/{}/docs/missing", gw.url, root.cid))
        .send()
        .expect("404");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .get(format!("{}/ipfs/{}/docs/../site", gw.url, root.cid))
        .send()
        .expect("traversal");
    assert!(
        r.status().is_client_error() || r.status().is_redirection(),
        "{}",
        r.status()
    );
}

#[test]
fn car_responses_are_verified_dfs_without_duplicates() {
    let gw = start();
    let c = client();
    // Zeros: every full leaf is the same block, so dups=n matters.
    let cid = add(&gw, &vec![0u8; 2_000_000], &ImportOptions::default());
    let r = c
        .get(format!("{}/ipfs/{cid}?format=car", gw.url))
        .send()
        .expect("car");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    );
    let body = r.bytes().expect("body");
    let mut reader = CarReader::new(&body[..]).expect("header");
    assert_eq!(reader.roots(), &[cid]);
    let mut cids = Vec::new();
    while let Some(b) = reader.next_block().expect("verified block") {
        cids.push(b.cid);
    }
    // Root, one full-leaf block (×7 in the file), one tail leaf.
    assert_eq!(cids.len(), 3);
    assert_eq!(cids[0], cid);
    let r = c
        .get(format!("{}/ipfs/{cid}?format=car&dag-scope=block", gw.url))
        .send()
        .expect("block scope");
    let body = r.bytes().expect("body");
    let mut reader = CarReader::new(&body[..]).expect("header");
    assert_eq!(
        reader.next_block().expect("block").map(|b| b.cid),
        Some(cid)
    );
    assert!(reader.next_block().expect("end").is_none());
    let r = c
        .get(format!(
            "{}/ipfs/{cid}?format=car&entity-bytes=0:10",
            gw.url
        ))
        .send()
        .expect("bytes");
    assert_eq!(r.status(), StatusCode::OK);
    let r = c
        .get(format!("{}/ipfs/{cid}?format=car&car-version=2", gw.url))
        .send()
        .expect("v2");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
