//! HTTP ingest: Icecast-style `PUT`/`SOURCE` (or `POST`) with a chunked body of ADTS
//! AAC, MP3 or Ogg Opus, e.g. `ffmpeg -re -i music.wav -c:a aac -f adts -method PUT
//! http://127.0.0.1:8080/ingest/KEY` (`-c:a libopus -f ogg` for Opus), or ffmpeg's
//! icecast output (`icecast://source:KEY@127.0.0.1:8080/ingest/NAME`, Basic auth).
//!
//! The first valid frame fixes the stream's format; the stream goes live with a
//! passthrough rendition (`src`) and, when configured, the transcoded ABR ladder (AAC,
//! from AAC, MP3 or Opus input).
//! Garbage is skipped (resync) up to a bound before the first frame, a format change
//! mid-stream is a discontinuity with a new init section, a stalled publisher is cut
//! off after the idle timeout, and the end of the body ends the stream (ENDLIST).

use crate::state::{AppState, IngestStream};
use aulos_manifest::LiveConfig;
use aulos_packager::{
    AccessUnit, AdtsError, AdtsReader, AudioFormat, Mp3Error, Mp3FrameReader, OggOpusError,
    OggOpusReader, OpusHead, Packager, PackagerConfig, Part,
};
use aulos_registry::{Error as RegError, RenditionSpec, Stream, StreamSpec};
use aulos_source::{LadderConfig, Transcoder};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Peak bandwidth advertised for a passthrough rendition, whose bitrate is not known
/// before it has been measured: the highest common stereo AAC/MP3 rate (M-VAR-01
/// asks for a peak; an over-estimate only makes players more careful).
const PASSTHROUGH_BANDWIDTH: u64 = 320_000;

/// Default part target for ingest streams (checklist: 9 AAC frames at 48 kHz).
const PART_TARGET: Duration = Duration::from_millis(200);

fn status(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, format!("{}\n", msg.into())).into_response()
}

/// A refusal on the ingest path (small, unlike a `Response`).
type Reject = (StatusCode, String);

fn reject(code: StatusCode, msg: impl Into<String>) -> Reject {
    (code, msg.into())
}

/// Which configured stream a request is for: Basic auth (`user:KEY` for stream
/// `target`) or the key itself as the path segment. Every configured key is compared
/// (constant time each), so timing does not tell which entry was close.
fn resolve<'a>(
    streams: &'a [IngestStream],
    target: &str,
    headers: &HeaderMap,
) -> Option<&'a IngestStream> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| {
            let s = String::from_utf8(raw).ok()?;
            let (_, pass) = s.split_once(':')?;
            Some(pass.to_owned())
        });
    let mut found = None;
    for s in streams {
        let ok = match &basic {
            Some(pass) => s.name == target && s.key.matches(pass.as_bytes()),
            None => s.key.matches(target.as_bytes()),
        };
        if ok && found.is_none() {
            found = Some(s);
        }
    }
    found
}

enum Reader {
    Adts(AdtsReader),
    Mp3(Mp3FrameReader),
    Opus(Box<OggOpusReader>),
}

/// The header of a frame: cheap to compare (`Copy`); the `AudioFormat` (which
/// allocates its codec config) is built only when the stream goes live or changes.
#[derive(Clone, Copy)]
enum Header {
    Adts(aulos_packager::AdtsHeader),
    Mp3(aulos_packager::Mp3Header),
    Opus(OpusHead),
}

/// What makes a format change (P-DIS-01): codec, profile, rate, channels; for Opus
/// the whole identification header (it is the init segment's `dOps`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum FormatKey {
    Adts {
        object_type: u8,
        rate: u32,
        channels: u16,
    },
    Mp3 {
        rate: u32,
        channels: u16,
    },
    Opus(OpusHead),
}

impl Header {
    fn key(&self) -> FormatKey {
        match self {
            Header::Adts(h) => FormatKey::Adts {
                object_type: h.object_type,
                rate: h.sample_rate,
                channels: h.channels(),
            },
            Header::Mp3(h) => FormatKey::Mp3 {
                rate: h.sample_rate,
                channels: h.channels,
            },
            Header::Opus(h) => FormatKey::Opus(*h),
        }
    }

    fn format(&self) -> AudioFormat {
        match self {
            Header::Adts(h) => h.audio_format(),
            Header::Mp3(h) => h.audio_format(),
            Header::Opus(h) => h.audio_format(),
        }
    }
}

/// A frame read from the elementary stream.
struct Frame {
    header: Header,
    data: bytes::Bytes,
    samples: u32,
}

impl Reader {
    /// The first bytes decide when they are a frame sync or a container magic: Icecast
    /// sources (ffmpeg's `icecast://` output) send `audio/mpeg` whatever the codec.
    /// The content type decides only for bytes that say nothing yet.
    fn sniff(content_type: Option<&str>, first: &[u8]) -> Reader {
        if first.starts_with(b"OggS") {
            return Reader::Opus(Box::default());
        }
        if first.len() >= 2 && first[0] == 0xFF && first[1] & 0xE0 == 0xE0 {
            // ADTS: 12-bit sync and layer 00; MPEG audio otherwise.
            return if first[1] & 0xF6 == 0xF0 {
                Reader::Adts(AdtsReader::new())
            } else {
                Reader::Mp3(Mp3FrameReader::new())
            };
        }
        if first.starts_with(b"ID3") {
            return Reader::Mp3(Mp3FrameReader::new());
        }
        let ct = content_type.unwrap_or("").to_ascii_lowercase();
        if ct.contains("ogg") || ct.contains("opus") {
            Reader::Opus(Box::default())
        } else if ct.contains("mpeg") || ct.contains("mp3") {
            Reader::Mp3(Mp3FrameReader::new())
        } else {
            Reader::Adts(AdtsReader::new())
        }
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        match self {
            Reader::Adts(r) => r.push(chunk).map_err(|e| e.to_string()),
            Reader::Mp3(r) => r.push(chunk).map_err(|e| e.to_string()),
            Reader::Opus(r) => r.push(chunk).map_err(|e| e.to_string()),
        }
    }

    fn finish(&mut self) {
        match self {
            Reader::Adts(r) => r.finish(),
            Reader::Mp3(r) => r.finish(),
            Reader::Opus(r) => r.finish(),
        }
    }

    /// Next frame; `Ok(None)` = need more input; `Err` = recovered error (skip).
    fn pop(&mut self) -> Result<Option<Frame>, String> {
        match self {
            Reader::Adts(r) => match r.pop() {
                Ok(Some(f)) => Ok(Some(Frame {
                    header: Header::Adts(f.header),
                    data: f.data,
                    samples: 1024,
                })),
                Ok(None) => Ok(None),
                Err(e @ AdtsError::BufferFull { .. }) => Err(format!("fatal: {e}")),
                Err(e) => Err(e.to_string()),
            },
            Reader::Mp3(r) => match r.pop() {
                Ok(Some(f)) => Ok(Some(Frame {
                    samples: f.header.samples,
                    header: Header::Mp3(f.header),
                    data: f.data,
                })),
                Ok(None) => Ok(None),
                Err(e @ Mp3Error::BufferFull { .. }) => Err(format!("fatal: {e}")),
                Err(e) => Err(e.to_string()),
            },
            Reader::Opus(r) => match r.pop() {
                Ok(Some(p)) => Ok(Some(Frame {
                    header: Header::Opus(p.head),
                    data: p.data,
                    samples: p.samples,
                })),
                Ok(None) => Ok(None),
                // Nothing after these can be packaged.
                Err(e @ (OggOpusError::NotOpus | OggOpusError::InvalidHead(_))) => {
                    Err(format!("unsupported: {e}"))
                }
                Err(e @ OggOpusError::BufferFull { .. }) => Err(format!("fatal: {e}")),
                Err(e) => Err(e.to_string()),
            },
        }
    }

    fn skipped(&self) -> u64 {
        match self {
            Reader::Adts(r) => r.skipped_total(),
            Reader::Mp3(r) => r.skipped_total(),
            Reader::Opus(r) => r.skipped_total(),
        }
    }
}

/// The live state of one ingest connection once its format is known.
struct Live {
    stream: Arc<Stream>,
    format: AudioFormat,
    key: FormatKey,
    packager: Packager,
    transcoder: Option<Transcoder>,
    /// The transcode ladder's sample rate, fixed for the stream's life (its init
    /// segments are published once).
    ladder_rate: u32,
    anchor: SystemTime,
    position: u64,
}

impl Live {
    fn publish(&self, rendition: usize, part: Part) -> Result<(), RegError> {
        crate::publish_packaged(&self.stream, rendition, part)
    }

    fn frame(&mut self, f: Frame) -> Result<(), String> {
        let rate = u64::from(self.format.sample_rate.max(1));
        let mut captured = self.anchor + Duration::from_nanos(self.position * 1_000_000_000 / rate);
        // A publisher that stalled (or sends slower than real time) is re-anchored to
        // the wall clock, so PROGRAM-DATE-TIME stays a capture time (P-PDT-01); the
        // date jumps forward, never back (P-PDT-02).
        let now = SystemTime::now();
        if now
            .duration_since(captured)
            .is_ok_and(|lag| lag > Duration::from_secs(2))
        {
            self.anchor = now - Duration::from_nanos(self.position * 1_000_000_000 / rate);
            captured = now;
        }
        self.position += u64::from(f.samples);
        let au = AccessUnit {
            data: f.data,
            samples: f.samples,
            captured: Some(captured),
        };
        if let Some(t) = &mut self.transcoder {
            for (i, part) in t.push(&au).map_err(|e| e.to_string())? {
                self.publish(1 + i, part).map_err(|e| e.to_string())?;
            }
        }
        if let Some(part) = self.packager.try_push(au).map_err(|e| e.to_string())? {
            self.publish(0, part).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn finish(&mut self) {
        if let Some(p) = self.packager.flush() {
            let _ = self.publish(0, p);
        }
        if let Some(t) = &mut self.transcoder
            && let Ok(parts) = t.flush()
        {
            for (i, p) in parts {
                let _ = self.publish(1 + i, p);
            }
        }
        self.stream.end(Instant::now());
    }
}

fn packager_config() -> PackagerConfig {
    PackagerConfig {
        part_target: PART_TARGET,
        parts_per_segment: 5,
        ..PackagerConfig::default()
    }
}

/// The ladder encodes at the input's rate when it is 32, 44.1 or 48 kHz, so every
/// rendition of the multivariant playlist has the same rate and part boundaries as the
/// passthrough: hls.js stalled ≈ 2.8 s switching between a 44.1 kHz passthrough and a
/// 48 kHz ladder (docs/interop.md). Other inputs are resampled to 48 kHz (higher rates
/// only cost bits at ladder bitrates).
fn ladder_rate(format: &AudioFormat) -> u32 {
    const AAC_RATES: [u32; 3] = [32_000, 44_100, 48_000];
    if AAC_RATES.contains(&format.sample_rate) {
        format.sample_rate
    } else {
        48_000
    }
}

fn ladder_config(sample_rate: u32) -> LadderConfig {
    LadderConfig {
        packager: packager_config(),
        sample_rate,
        ..LadderConfig::default()
    }
}

/// Create (or restart) the stream for `cfg` with `format`.
fn go_live(st: &AppState, cfg: &IngestStream, header: Header) -> Result<Live, Reject> {
    let format = header.format();
    let packager = Packager::new(format.clone(), packager_config())
        .map_err(|e| reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
    let ladder_rate = ladder_rate(&format);
    // An input the ladder cannot decode (a codec profile or channel mapping the
    // decoders do not take) still goes live as passthrough: the ladder is optional.
    let transcoder = cfg
        .transcode
        .then(|| Transcoder::new(&format, ladder_config(ladder_rate)))
        .and_then(|t| {
            t.inspect_err(|e| {
                tracing::warn!(stream = %cfg.name, error = %e, "no transcode ladder for this input: passthrough only");
            })
            .ok()
        });
    let mut renditions = vec![RenditionSpec {
        name: "src".into(),
        codecs: format.codecs_string(),
        bandwidth: PASSTHROUGH_BANDWIDTH,
        average_bandwidth: None,
        channels: format.channels,
        sample_rate: format.sample_rate,
    }];
    if let Some(t) = &transcoder {
        for r in t.ladder().renditions() {
            renditions.push(RenditionSpec {
                name: r.name.clone(),
                codecs: r.codecs.clone(),
                bandwidth: u64::from(r.bandwidth),
                average_bandwidth: Some(u64::from(r.bitrate)),
                channels: r.channels,
                sample_rate: r.sample_rate,
            });
        }
    }
    // PART-TARGET: the longest real part of any rendition (frame-aligned, e.g. 192 ms
    // at 48 kHz, 185.8 ms at 44.1 kHz), so PART-HOLD-BACK is three real parts.
    let mut part_target = packager.part_duration();
    let mut segment_target = packager.segment_duration();
    if let Some(t) = &transcoder
        && let Some(p) = t.ladder().packager(0)
    {
        part_target = part_target.max(p.part_duration());
        segment_target = segment_target.max(p.segment_duration());
    }
    let spec = StreamSpec {
        name: cfg.name.clone(),
        key: Some(cfg.key.clone()),
        renditions,
        live: LiveConfig {
            part_target,
            segment_target,
            ..LiveConfig::default()
        },
    };
    let stream = st
        .registry
        .create_stream(spec, Instant::now())
        .map_err(|e| match e {
            RegError::StreamExists(_) => reject(
                StatusCode::CONFLICT,
                "stream is live from another publisher",
            ),
            RegError::TooManyStreams(_) => reject(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            e => reject(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        })?;
    let init = |r: usize, data| {
        stream
            .set_init(r, data)
            .map_err(|e| reject(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    };
    init(0, packager.init_segment())?;
    if let Some(t) = &transcoder {
        for (i, data) in t.ladder().init_segments().into_iter().enumerate() {
            init(1 + i, data)?;
        }
    }
    tracing::info!(stream = %cfg.name, codecs = %format.codecs_string(), rate = format.sample_rate,
        channels = format.channels, transcode = cfg.transcode, "ingest live");
    Ok(Live {
        stream,
        format,
        key: header.key(),
        packager,
        transcoder,
        ladder_rate,
        anchor: SystemTime::now(),
        position: 0,
    })
}

/// `PUT|POST|SOURCE /ingest/{target}`.
///
/// The work runs in its own task: hyper drops a handler when the publisher closes
/// its side right after the body (ffmpeg does), and the stream must still be
/// flushed and ended (ENDLIST) rather than left dangling until idle expiry.
pub async fn ingest(
    State(st): State<AppState>,
    method: Method,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match tokio::spawn(run(st, method, target, headers, body)).await {
        Ok(r) => r,
        Err(e) => status(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest task: {e}"),
        ),
    }
}

pub(crate) async fn run(
    st: AppState,
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !matches!(method.as_str(), "PUT" | "POST" | "SOURCE") {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "ingest takes PUT, POST or SOURCE",
        );
    }
    if st.draining.load(std::sync::atomic::Ordering::Acquire) {
        st.metrics.request("ingest", 503);
        return status(StatusCode::SERVICE_UNAVAILABLE, "origin shutting down");
    }
    let Some(cfg) = resolve(&st.ingest, &target, &headers).cloned() else {
        st.metrics.request("ingest", 401);
        let mut r = status(StatusCode::UNAUTHORIZED, "unknown stream key");
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Basic realm=\"aulos ingest\""),
        );
        return r;
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut chunks = body.into_data_stream();
    let mut reader: Option<Reader> = None;
    let mut live: Option<Live> = None;
    let mut errors = 0u64;
    let limits = st.ingest_limits;
    let outcome = loop {
        let next = match tokio::time::timeout(limits.idle_timeout, chunks.next()).await {
            Err(_) => break Err(status(StatusCode::REQUEST_TIMEOUT, "ingest stalled")),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => break Err(status(StatusCode::BAD_REQUEST, e.to_string())),
            Ok(Some(Ok(c))) => c,
        };
        let r = reader.get_or_insert_with(|| Reader::sniff(content_type.as_deref(), &next));
        // A chunk larger than the reader's buffer is fed in pieces.
        for piece in next.chunks(4096) {
            if let Err(e) = r.push(piece) {
                // Buffer full means frames are not being found: drain below.
                tracing::debug!(error = %e, "ingest push");
            }
            if let Err((code, msg)) = drain(&st, &cfg, r, &mut live, &mut errors) {
                if let Some(l) = &mut live {
                    l.finish();
                }
                st.metrics.request("ingest", code.as_u16());
                return status(code, msg);
            }
            if live.is_none() && r.skipped() as usize > limits.max_garbage {
                st.metrics.request("ingest", 400);
                return status(
                    StatusCode::BAD_REQUEST,
                    "no ADTS, MP3 or Ogg Opus data found in the first bytes",
                );
            }
        }
    };
    if let Some(r) = &mut reader {
        r.finish();
        let _ = drain(&st, &cfg, r, &mut live, &mut errors);
    }
    match (&mut live, outcome) {
        (Some(l), outcome) => {
            l.finish();
            st.metrics.request("ingest", 200);
            tracing::info!(stream = %cfg.name, errors, "ingest ended");
            match outcome {
                Ok(()) => status(StatusCode::OK, "stream ended"),
                Err(resp) => resp,
            }
        }
        (None, Ok(())) => status(StatusCode::BAD_REQUEST, "no audio frames received"),
        (None, Err(resp)) => resp,
    }
}

/// Pop every complete frame: go live on the first, publish the rest.
fn drain(
    st: &AppState,
    cfg: &IngestStream,
    r: &mut Reader,
    live: &mut Option<Live>,
    errors: &mut u64,
) -> Result<(), Reject> {
    loop {
        let f = match r.pop() {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(e) if e.starts_with("fatal") => {
                return Err(reject(StatusCode::BAD_REQUEST, e));
            }
            Err(e) if e.starts_with("unsupported") => {
                return Err(reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, e));
            }
            Err(e) => {
                *errors += 1;
                tracing::debug!(error = %e, "ingest frame skipped");
                continue;
            }
        };
        match live {
            None => *live = Some(go_live(st, cfg, f.header)?),
            Some(l) if l.key != f.header.key() => {
                // Format change: discontinuity and a new init (P-DIS-01).
                tracing::info!(stream = %cfg.name, "ingest format changed");
                if let Some(p) = l.packager.flush() {
                    let _ = l.publish(0, p);
                }
                let format = f.header.format();
                let packager = Packager::new(format.clone(), packager_config())
                    .map_err(|e| reject(StatusCode::UNSUPPORTED_MEDIA_TYPE, e.to_string()))?;
                let _ = l.stream.discontinuity();
                l.stream
                    .set_init(0, packager.init_segment())
                    .map_err(|e| reject(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                if l.transcoder.is_some() {
                    l.transcoder = Transcoder::new(&format, ladder_config(l.ladder_rate)).ok();
                }
                l.packager = packager;
                l.format = format;
                l.key = f.header.key();
            }
            Some(_) => {}
        }
        let l = live.as_mut().expect("set above");
        if let Err(e) = l.frame(f) {
            *errors += 1;
            tracing::debug!(error = %e, "ingest frame not published");
        }
    }
}
