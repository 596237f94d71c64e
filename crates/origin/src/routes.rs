//! The HTTP routes: playlists (blocking, delta, gzip), init, parts, segments, player
//! page, stream list, `/metrics`, `/healthz`.
//!
//! Handlers only translate HTTP to registry calls and back: every LL-HLS decision
//! (is the playlist new enough, is this part hinted, how far ahead is too far) is the
//! registry's. Bodies are the registry's `Bytes` (zero-copy).

use crate::cache_control::{self, Response as CcKind};
use crate::directives::{Directives, SkipDirective};
use crate::metrics::{Metrics, Parked, Snapshot};
use crate::state::AppState;
use aulos_registry::{BlockingError, PartError, Registry, Stream};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const M3U8: &str = "application/vnd.apple.mpegurl";
const MP4: &str = "audio/mp4";

/// All routes over `state`. CORS is applied to every response (players on other
/// origins, e.g. a page served elsewhere, must be able to read playlists and parts).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/index.html", get(page))
        .route("/hls.min.js", get(hls_js))
        .route("/streams.json", get(streams_json))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/ingest/{target}", any(crate::ingest::ingest))
        .route("/{stream}/master.m3u8", get(master))
        .route("/{stream}/{rendition}/{file}", get(media))
        .fallback(|| async { not_found(Duration::from_secs(1)) })
        .layer(axum::middleware::map_response(cors))
        .with_state(state)
}

/// `ok` while serving, 503 `draining` once shutdown has begun.
async fn healthz(State(st): State<AppState>) -> Response {
    if st.draining.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        "ok\n".into_response()
    }
}

async fn cors(mut resp: Response) -> Response {
    add_cors(resp.headers_mut());
    resp
}

fn add_cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Content-Length, Content-Encoding, Age, Date, Cache-Control"),
    );
}

/// The hot path ahead of the router, for the requests that are most of an LL-HLS
/// origin's load: `GET /{stream}/{rendition}/{msn}.{part}.m4s` without a query, and
/// `GET /{stream}/{rendition}/index.m3u8` with no query or only `_HLS_` directives
/// (blocking reloads, deltas), on a stream and rendition that exist. It answers
/// exactly what the routed handler answers ([`serve_part`], [`playlist`], CORS
/// included); anything else (other files, other query parameters, percent-escapes,
/// HEAD, unknown names and their 404s) returns `None` and goes through the router.
/// Written by hand because axum's routing, extractors (three `String`s, a cloned
/// `HeaderMap`) and per-request state clone were half of the origin's user-space time
/// per part GET (perf), and they are also what a parked blocking reload holds, and
/// frees, when a publish releases thousands at once.
#[derive(Clone, Debug)]
pub(crate) struct FastPath {
    state: Arc<AppState>,
}

impl FastPath {
    /// The state it serves from (the accept loop hands Icecast sources to ingest).
    pub(crate) fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    pub(crate) fn new(st: &AppState) -> Self {
        Self {
            state: Arc::new(st.clone()),
        }
    }

    /// `Some(response future)` when this path serves the request, `None` for the
    /// router. `peer` is the client's address (viewer accounting of playlists).
    pub(crate) fn route(
        &self,
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        peer: std::net::SocketAddr,
    ) -> Option<impl Future<Output = Response> + Send + use<>> {
        if method != axum::http::Method::GET {
            return None;
        }
        let path = uri.path().strip_prefix('/')?;
        if path.contains('%') {
            return None;
        }
        let mut segs = path.split('/');
        let (stream, rendition, file) = (segs.next()?, segs.next()?, segs.next()?);
        if segs.next().is_some() {
            return None;
        }
        let what = match (parse_file(file)?, uri.query()) {
            (File::Part(msn, part), None) => Fast::Part(msn, part),
            (File::Playlist, q)
                if q.is_none_or(|q| q.split('&').all(|kv| kv.starts_with("_HLS_"))) =>
            {
                Fast::Playlist {
                    query: q.map(|_| uri.clone()),
                    gzip: accepts_gzip(headers),
                }
            }
            _ => return None,
        };
        let s = self.state.registry.get(stream)?;
        let (r, _) = s.rendition(rendition)?;
        let st = self.state.clone();
        if matches!(what, Fast::Playlist { .. }) {
            st.viewers.seen(s.name(), peer, Instant::now());
        }
        Some(async move {
            let mut resp = match what {
                Fast::Part(msn, part) => serve_part(&st.metrics, &s, r, msn, part).await,
                Fast::Playlist { query, gzip } => {
                    let td = s.renditions()[r].target_duration();
                    let q = query.as_ref().and_then(|u| u.query());
                    playlist(&st, &s, r, q, gzip, td).await
                }
            };
            add_cors(resp.headers_mut());
            resp
        })
    }
}

/// What [`FastPath`] serves: a part, or a media playlist with its `_HLS_` query (kept
/// as the request's `Uri`, whose clone shares its bytes) and gzip negotiated.
enum Fast {
    Part(u64, u32),
    Playlist {
        query: Option<axum::http::Uri>,
        gzip: bool,
    },
}

/// A part: at once when it exists, else parked until it is published if it is the
/// hinted one (P-HINT-04), 404 if not (P-HINT-05), 503 after the blocking timeout.
async fn serve_part(metrics: &Metrics, s: &Stream, r: usize, msn: u64, part: u32) -> Response {
    let td = s.renditions()[r].target_duration();
    let res = match s.part(r, msn, part) {
        Some(data) => Ok(data),
        None => {
            let deadline = Instant::now() + Registry::blocking_timeout(td);
            let _parked = Parked::new(metrics);
            s.wait_part(r, msn, part, deadline).await
        }
    };
    match res {
        Ok(data) => {
            metrics.part_served(data.len());
            with_cc(media_body(data), CcKind::Media, td, true)
        }
        Err(PartError::NotFound) => {
            metrics.request("part", 404);
            not_found(td)
        }
        Err(PartError::Timeout) => {
            metrics.request("part", 503);
            with_cc(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "part not published in time\n",
                )
                    .into_response(),
                CcKind::Failure,
                td,
                true,
            )
        }
    }
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        crate::PLAYER_PAGE,
    )
        .into_response()
}

async fn hls_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        crate::HLS_JS,
    )
        .into_response()
}

async fn streams_json(State(st): State<AppState>) -> Response {
    let mut out = String::from("[");
    for (i, s) in st.registry.list().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Names are [A-Za-z0-9._-] (registry-validated): no JSON escaping needed.
        let renditions: Vec<String> = s.renditions.iter().map(|r| format!("\"{r}\"")).collect();
        out.push_str(&format!(
            "{{\"name\":\"{}\",\"renditions\":[{}],\"ended\":{},\"viewers\":{}}}",
            s.name,
            renditions.join(","),
            s.ended,
            st.viewers.count(&s.name, Instant::now())
        ));
    }
    out.push(']');
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        out,
    )
        .into_response()
}

async fn metrics(State(st): State<AppState>) -> Response {
    let reg = &st.registry;
    let ring = reg.ring().stats();
    let list = reg.list();
    let snap = Snapshot {
        streams: list.len() as i64,
        renditions: list.iter().map(|s| s.renditions.len() as i64).sum(),
        viewers: st.viewers.total(Instant::now()) as i64,
        ring_chunks: ring.chunks as i64,
        ring_bytes: ring.bytes as i64,
    };
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(snap),
    )
        .into_response()
}

fn with_cc(mut resp: Response, kind: CcKind, td: Duration, live: bool) -> Response {
    // The common case (whole-second target durations up to 10 s) is a table lookup,
    // not a format + allocation per response.
    static TABLE: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    const KINDS: [CcKind; 7] = [
        CcKind::BlockingPlaylist,
        CcKind::Playlist,
        CcKind::Media,
        CcKind::Init,
        CcKind::Multivariant,
        CcKind::BlockingPlaylistFailure,
        CcKind::Failure,
    ];
    let table = TABLE.get_or_init(|| {
        let mut v = Vec::new();
        for secs in 1..=10u64 {
            for k in KINDS {
                for live in [false, true] {
                    let s = cache_control::header_value(k, Duration::from_secs(secs), live);
                    v.push(HeaderValue::from_str(&s).expect("ASCII"));
                }
            }
        }
        v
    });
    let k = KINDS.iter().position(|x| *x == kind).unwrap_or(0);
    let value = if td.subsec_nanos() == 0 && (1..=10).contains(&td.as_secs()) {
        let i = ((td.as_secs() as usize - 1) * KINDS.len() + k) * 2 + usize::from(live);
        table.get(i).cloned()
    } else {
        HeaderValue::from_str(&cache_control::header_value(kind, td, live)).ok()
    };
    if let Some(v) = value {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

fn not_found(td: Duration) -> Response {
    with_cc(
        (StatusCode::NOT_FOUND, "not found\n").into_response(),
        CcKind::Failure,
        td,
        true,
    )
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut it = enc.split(';');
            let name = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

fn playlist_response(plain: &Bytes, gz: &Bytes, gzip: bool) -> Response {
    let body = if gzip { gz.clone() } else { plain.clone() };
    let mut resp = response(body);
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(M3U8));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

async fn master(
    State(st): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(s) = st.registry.get(&stream) else {
        st.metrics.request("multivariant", 404);
        return not_found(Duration::from_secs(1));
    };
    st.metrics.request("multivariant", 200);
    let (plain, gz) = s.multivariant();
    let td = s.renditions()[0].playlist().target_duration;
    with_cc(
        playlist_response(plain, gz, accepts_gzip(&headers)),
        CcKind::Multivariant,
        td,
        !s.ended(),
    )
}

/// What a file name under `/{stream}/{rendition}/` asks for. Strict: digits only, no
/// signs, no leading zeros beyond "0", so `..`, `%2e` and friends are all 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    Playlist,
    Init(u64),
    Part(u64, u32),
    Segment(u64),
}

fn num(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

fn parse_file(f: &str) -> Option<File> {
    if f == "index.m3u8" {
        return Some(File::Playlist);
    }
    if let Some(n) = f.strip_prefix("init").and_then(|r| r.strip_suffix(".mp4")) {
        return num(n).map(File::Init);
    }
    let stem = f.strip_suffix(".m4s")?;
    match stem.split_once('.') {
        Some((m, p)) => Some(File::Part(num(m)?, u32::try_from(num(p)?).ok()?)),
        None => num(stem).map(File::Segment),
    }
}

async fn media(
    State(st): State<AppState>,
    Path((stream, rendition, file)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    peer: Option<axum::Extension<crate::Peer>>,
    headers: HeaderMap,
) -> Response {
    let Some(file) = parse_file(&file) else {
        st.metrics.request("other", 404);
        return not_found(Duration::from_secs(1));
    };
    let Some(s) = st.registry.get(&stream) else {
        st.metrics.request("media", 404);
        return not_found(Duration::from_secs(1));
    };
    let Some((r, rend)) = s.rendition(&rendition) else {
        st.metrics.request("media", 404);
        return not_found(Duration::from_secs(1));
    };
    let td = rend.target_duration();
    match file {
        File::Playlist => {
            if let Some(axum::Extension(crate::Peer(addr))) = peer {
                st.viewers.seen(&stream, addr, Instant::now());
            }
            playlist(&st, &s, r, query.as_deref(), accepts_gzip(&headers), td).await
        }
        File::Init(generation) => match rend.init() {
            Some((g, data)) if g == generation => {
                st.metrics.request("init", 200);
                st.metrics.media_bytes.inc_by(data.len() as u64);
                with_cc(media_body(data), CcKind::Init, td, true)
            }
            _ => {
                st.metrics.request("init", 404);
                not_found(td)
            }
        },
        File::Part(msn, part) => serve_part(&st.metrics, &s, r, msn, part).await,
        File::Segment(msn) => match s.segment(r, msn) {
            Ok(parts) => {
                st.metrics.request("segment", 200);
                let len: usize = parts.iter().map(Bytes::len).sum();
                st.metrics.media_bytes.inc_by(len as u64);
                // Zero-copy: the body streams the parts' own `Bytes` (P-PART-05).
                let body = Body::from_stream(futures_util::stream::iter(
                    parts.into_iter().map(Ok::<Bytes, std::convert::Infallible>),
                ));
                let mut resp = Response::new(body);
                let h = resp.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(MP4));
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                with_cc(resp, CcKind::Media, td, true)
            }
            Err(_) => {
                st.metrics.request("segment", 404);
                not_found(td)
            }
        },
    }
}

/// A 200 response with `body` and room for every header it will carry (ours, CORS,
/// and hyper's `content-length` and `date`): a map that grows on hyper's insert is
/// a `malloc` + `realloc` per response, which a publish releasing thousands of
/// parked reloads at once pays thousands of times (perf).
fn response(body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.headers_mut() = HeaderMap::with_capacity(10);
    resp
}

fn media_body(data: Bytes) -> Response {
    let mut resp = response(data);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MP4));
    resp
}

async fn playlist(
    st: &AppState,
    s: &Arc<Stream>,
    r: usize,
    query: Option<&str>,
    gzip: bool,
    td: Duration,
) -> Response {
    // checklist S-BLK-07, S-BLK-09, S-DIR-01
    let d = match Directives::parse(query) {
        Ok(d) => d,
        Err(e) => {
            st.metrics.request("playlist", 400);
            return with_cc(
                (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
                CcKind::Failure,
                td,
                true,
            );
        }
    };
    let rend = &s.renditions()[r];
    let blocking = d.msn.is_some();
    let rendered = match d.msn {
        None => rend.playlist(),
        Some(msn) => {
            let deadline = Instant::now() + Registry::blocking_timeout(td);
            let before = rend.playlist().update;
            let res = {
                let _parked = Parked::new(&st.metrics);
                s.wait_playlist(r, msn, d.part.map(u64::from), deadline)
                    .await
            };
            match res {
                Ok(x) => {
                    // Parked and released by a publish: how long after it?
                    if x.update > before
                        && let Some(at) = s.last_publish(r)
                    {
                        let d = Instant::now().saturating_duration_since(at);
                        st.metrics.release.record(d);
                    }
                    x
                }
                // checklist S-BLK-06
                Err(BlockingError::TooFarAhead) => {
                    st.metrics.request("playlist", 400);
                    return with_cc(
                        (
                            StatusCode::BAD_REQUEST,
                            "_HLS_msn/_HLS_part too far ahead\n",
                        )
                            .into_response(),
                        CcKind::Failure,
                        td,
                        true,
                    );
                }
                // checklist S-BLK-08
                Err(BlockingError::Timeout) => {
                    st.metrics.request("playlist", 503);
                    return with_cc(
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "playlist update not ready\n",
                        )
                            .into_response(),
                        CcKind::Failure,
                        td,
                        true,
                    );
                }
                Err(BlockingError::NotFound) => {
                    st.metrics.request("playlist", 404);
                    return with_cc(not_found(td), CcKind::BlockingPlaylistFailure, td, true);
                }
            }
        }
    };
    st.metrics.request("playlist", 200);
    // checklist S-SKIP-01, S-SKIP-04, S-SKIP-05: a delta only when the playlist offers
    // one (the cache renders it only with CAN-SKIP-UNTIL and without ENDLIST). `v2` is
    // answered like `YES`: we do not advertise CAN-SKIP-DATERANGES and have no ranges.
    let want_delta = d.skip != SkipDirective::No;
    let (plain, gz) = match (&rendered.delta, &rendered.delta_gzip, want_delta) {
        (Some(p), Some(g), true) => (p, g),
        _ => (&rendered.full, &rendered.full_gzip),
    };
    let kind = if blocking {
        CcKind::BlockingPlaylist
    } else {
        CcKind::Playlist
    };
    with_cc(
        playlist_response(plain, gz, gzip),
        kind,
        td,
        !rendered.ended,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_takes_parts_and_media_playlists_and_nothing_else() {
        use aulos_registry::{RegistryConfig, RenditionSpec, StreamSpec};
        let registry = Arc::new(Registry::new(RegistryConfig::default()).unwrap());
        registry
            .create_stream(
                StreamSpec {
                    name: "live".into(),
                    key: None,
                    renditions: vec![RenditionSpec {
                        name: "a48".into(),
                        codecs: "mp4a.40.2".into(),
                        bandwidth: 60_000,
                        average_bandwidth: None,
                        channels: 2,
                        sample_rate: 48_000,
                    }],
                    live: aulos_manifest::LiveConfig::default(),
                },
                Instant::now(),
            )
            .unwrap();
        let st = AppState {
            registry,
            metrics: Arc::new(Metrics::new()),
            viewers: Arc::new(crate::state::Viewers::default()),
            ingest: Arc::new(Vec::new()),
            ingest_limits: crate::state::IngestLimits::default(),
            draining: Arc::default(),
        };
        let fast = FastPath::new(&st);
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        let takes = |method: axum::http::Method, uri: &str| {
            fast.route(&method, &uri.parse().unwrap(), &HeaderMap::new(), peer)
                .is_some()
        };
        let get = axum::http::Method::GET;
        for uri in [
            "/live/a48/3.1.m4s",
            "/live/a48/index.m3u8",
            "/live/a48/index.m3u8?_HLS_msn=3&_HLS_part=1",
            "/live/a48/index.m3u8?_HLS_skip=YES&_HLS_msn=3",
            "/live/a48/index.m3u8?_HLS_msn=x",
        ] {
            assert!(takes(get.clone(), uri), "{uri}");
        }
        for uri in [
            "/live/a48/3.1.m4s?x=1",
            "/live/a48/index.m3u8?_HLS_msn=3&via=router",
            "/live/a48/3.m4s",
            "/live/a48/init0.mp4",
            "/live/master.m3u8",
            "/live/a96/index.m3u8",
            "/gone/a48/index.m3u8",
            "/live/a48/index%2em3u8",
            "/live/a48/x/index.m3u8",
            "/metrics",
        ] {
            assert!(!takes(get.clone(), uri), "{uri}");
        }
        assert!(!takes(axum::http::Method::HEAD, "/live/a48/index.m3u8"));
        // A playlist request counts its viewer, as the routed handler does.
        assert_eq!(st.viewers.count("live", Instant::now()), 1);
    }

    #[test]
    fn file_names_are_strict() {
        assert_eq!(parse_file("index.m3u8"), Some(File::Playlist));
        assert_eq!(parse_file("init0.mp4"), Some(File::Init(0)));
        assert_eq!(parse_file("12.3.m4s"), Some(File::Part(12, 3)));
        assert_eq!(parse_file("12.m4s"), Some(File::Segment(12)));
        for bad in [
            "..",
            "../x",
            "012.m4s",
            "1.-1.m4s",
            "+1.m4s",
            "1.2.3.m4s",
            "1.m4",
            "init.mp4",
            "initx.mp4",
            "",
            "99999999999999999999.m4s",
            "1.99999999999.m4s",
            "%2e%2e",
        ] {
            assert_eq!(parse_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br;q=1, gzip;q=0"),
        );
        assert!(!accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert!(!accepts_gzip(&h));
    }
}
