//! The accept loop serves HTTP/1.1 keep-alive, h2c (prior knowledge) and TLS with
//! ALPN h2 on one port, and shuts down gracefully (checklist S-GEN-09).

use std::time::Duration;

use aulos_origin::{ConnLimits, Peer, serve, tls_acceptor};
use axum::{Extension, Router, routing::get};
use tokio::net::TcpListener;
use tokio::sync::watch;

fn app() -> Router {
    Router::new().route(
        "/hello",
        get(|Extension(Peer(peer)): Extension<Peer>| async move { format!("hi {}", peer.ip()) }),
    )
}

async fn start(
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> (String, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = watch::channel(false);
    let h = tokio::spawn(async move {
        serve(listener, app(), tls, ConnLimits::default(), rx)
            .await
            .unwrap();
    });
    (addr.to_string(), tx, h)
}

#[tokio::test]
async fn http1_keep_alive_and_h2c_on_one_port() {
    let (addr, stop, server) = start(None).await;
    let h1 = reqwest::Client::builder().http1_only().build().unwrap();
    for _ in 0..3 {
        let r = h1.get(format!("http://{addr}/hello")).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_11);
        assert_eq!(r.text().await.unwrap(), "hi 127.0.0.1");
    }
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2.get(format!("http://{addr}/hello")).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let r = h1.get(format!("http://{addr}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        h1.get(format!("http://{addr}/hello")).send().await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn tls_negotiates_h2() {
    let dir = std::env::temp_dir().join(format!("aulos-origin-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let acceptor = tls_acceptor(&cert_path, &key_path).unwrap();
    let (addr, stop, _server) = start(Some(acceptor)).await;
    let port = addr.rsplit(':').next().unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{port}").parse().unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("https://localhost:{port}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "hi 127.0.0.1");
    stop.send(true).unwrap();
    // a missing key file is a clear error, not a panic
    assert!(matches!(
        tls_acceptor(&cert_path, &dir.join("missing.pem")),
        Err(aulos_origin::Error::Tls(_))
    ));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn player_page_references_the_shipped_hls_js() {
    assert!(aulos_origin::PLAYER_PAGE.contains(r#"<script src="hls.min.js">"#));
    assert!(aulos_origin::PLAYER_PAGE.contains("lowLatencyMode: true"));
    assert!(aulos_origin::HLS_JS.len() > 100_000);
}
