//! MPEG-TS: PES extraction with `mpeg2ts-reader`, then ADTS / MPEG-audio framing, or
//! Opus access units (registration `Opus`, as ffmpeg and GStreamer write it).

use mpeg2ts_reader::demultiplex::{
    self, DemuxContext, FilterChangeset, FilterRequest, NullPacketFilter, PacketFilter,
    PatPacketFilter, PmtPacketFilter,
};
use mpeg2ts_reader::packet::Packet;
use mpeg2ts_reader::pes::{self, ElementaryStreamConsumer, PesContents, PesHeader, PtsDts};
use mpeg2ts_reader::{StreamType, psi};

use super::es::EsFramer;
use crate::codec::AccessUnit;
use crate::error::{Error, Result};

/// One PES payload piece, in stream order.
#[derive(Debug)]
enum PesEvent {
    Begin { pts: Option<u64>, data: Vec<u8> },
    Continue(Vec<u8>),
    ContinuityError,
}

/// The mpeg2ts-reader context: holds the filter set and collects PES events of the first audio
/// stream. Written by hand instead of `demux_context!` because it carries our event list.
struct Ctx {
    changeset: FilterChangeset<Filter>,
    events: Vec<PesEvent>,
    audio_pid: Option<u16>,
    /// Channels of the Opus stream just selected (handed to the framer once).
    opus: Option<u8>,
    unsupported: Option<String>,
}

enum Filter {
    Pat(PatPacketFilter<Ctx>),
    Pmt(PmtPacketFilter<Ctx>),
    Null(NullPacketFilter<Ctx>),
    Pes(pes::PesPacketFilter<Ctx, AudioConsumer>),
}

impl PacketFilter for Filter {
    type Ctx = Ctx;
    fn consume(&mut self, ctx: &mut Ctx, pk: &Packet<'_>) {
        match self {
            Filter::Pat(f) => f.consume(ctx, pk),
            Filter::Pmt(f) => f.consume(ctx, pk),
            Filter::Null(f) => f.consume(ctx, pk),
            Filter::Pes(f) => f.consume(ctx, pk),
        }
    }
}

impl DemuxContext for Ctx {
    type F = Filter;
    fn filter_changeset(&mut self) -> &mut FilterChangeset<Filter> {
        &mut self.changeset
    }
    fn construct(&mut self, req: FilterRequest<'_, '_>) -> Filter {
        match req {
            FilterRequest::ByPid(psi::pat::PAT_PID) => Filter::Pat(PatPacketFilter::default()),
            FilterRequest::Pmt {
                pid,
                program_number,
            } => Filter::Pmt(PmtPacketFilter::new(pid, program_number)),
            FilterRequest::ByStream {
                stream_type,
                stream_info,
                ..
            } => {
                let opus = opus_channels(stream_type, stream_info);
                let audio = matches!(
                    stream_type,
                    StreamType::ADTS | StreamType::ISO_11172_AUDIO | StreamType::ISO_138183_AUDIO
                ) || matches!(opus, Some(Ok(_)));
                let pid = u16::from(stream_info.elementary_pid());
                if let Some(Err(what)) = &opus
                    && self.audio_pid.is_none()
                {
                    self.unsupported = Some(what.clone());
                }
                if audio && self.audio_pid.is_none_or(|p| p == pid) {
                    if self.audio_pid.is_none() {
                        self.opus = opus.and_then(Result::ok);
                    }
                    self.audio_pid = Some(pid);
                    Filter::Pes(pes::PesPacketFilter::new(AudioConsumer))
                } else {
                    if self.audio_pid.is_none() && is_audio_like(stream_type) {
                        self.unsupported = Some(format!("TS stream type {stream_type:?}"));
                    }
                    Filter::Null(NullPacketFilter::default())
                }
            }
            _ => Filter::Null(NullPacketFilter::default()),
        }
    }
}

/// Opus in MPEG-TS: private PES (stream type 0x06) with a registration descriptor
/// `Opus` and a DVB extension descriptor (tag 0x7F) whose `0x80` extension gives the
/// channel configuration. `None`: not Opus; `Err`: Opus with a layout not decoded here
/// (only mono and stereo: channel mapping family 0).
fn opus_channels(t: StreamType, info: &psi::pmt::StreamInfo<'_>) -> Option<Result<u8, String>> {
    use mpeg2ts_reader::descriptor::CoreDescriptors;
    use mpeg2ts_reader::smptera::FormatIdentifier;
    if u8::from(t) != 0x06 {
        return None;
    }
    let mut opus = false;
    let mut channels = None;
    for d in info.descriptors::<CoreDescriptors<'_>>().flatten() {
        match d {
            CoreDescriptors::Registration(r) if r.is_format(FormatIdentifier::OPUS) => {
                opus = true;
            }
            CoreDescriptors::UserPrivate(u)
                if u.tag == 0x7F && u.payload.first() == Some(&0x80) =>
            {
                channels = u.payload.get(1).copied();
            }
            _ => {}
        }
    }
    if !opus {
        return None;
    }
    Some(match channels {
        Some(c @ 1..=2) => Ok(c),
        other => Err(format!("Opus in TS with channel_config_code {other:?}")),
    })
}

fn is_audio_like(t: StreamType) -> bool {
    // AAC-LATM, AC-3/E-AC-3 (ATSC and private) and SAMPLE-AES variants we do not decode.
    matches!(u8::from(t), 0x11 | 0x81 | 0x87 | 0xCF | 0xC1 | 0xC2)
}

struct AudioConsumer;

impl ElementaryStreamConsumer<Ctx> for AudioConsumer {
    fn start_stream(&mut self, _ctx: &mut Ctx) {}
    fn begin_packet(&mut self, ctx: &mut Ctx, header: PesHeader<'_>) {
        match header.contents() {
            PesContents::Parsed(Some(parsed)) => {
                let pts = match parsed.pts_dts() {
                    Ok(PtsDts::PtsOnly(Ok(pts))) | Ok(PtsDts::Both { pts: Ok(pts), .. }) => {
                        Some(pts.value())
                    }
                    _ => None,
                };
                ctx.events.push(PesEvent::Begin {
                    pts,
                    data: parsed.payload().to_vec(),
                });
            }
            PesContents::Parsed(None) => {}
            PesContents::Payload(p) => ctx.events.push(PesEvent::Begin {
                pts: None,
                data: p.to_vec(),
            }),
        }
    }
    fn continue_packet(&mut self, ctx: &mut Ctx, data: &[u8]) {
        ctx.events.push(PesEvent::Continue(data.to_vec()));
    }
    fn end_packet(&mut self, _ctx: &mut Ctx) {}
    fn continuity_error(&mut self, ctx: &mut Ctx) {
        ctx.events.push(PesEvent::ContinuityError);
    }
}

/// Stateful TS demuxer; TS packets may be split across chunks.
pub(crate) struct TsDemuxer {
    ctx: Ctx,
    demux: demultiplex::Demultiplex<Ctx>,
    framer: EsFramer,
    /// Continuity errors seen (lost TS packets).
    pub continuity_errors: u64,
}

impl std::fmt::Debug for TsDemuxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsDemuxer")
            .field("audio_pid", &self.ctx.audio_pid)
            .finish()
    }
}

impl TsDemuxer {
    pub fn new() -> Self {
        let mut ctx = Ctx {
            changeset: FilterChangeset::default(),
            events: Vec::new(),
            audio_pid: None,
            opus: None,
            unsupported: None,
        };
        let demux = demultiplex::Demultiplex::new(&mut ctx);
        Self {
            ctx,
            demux,
            framer: EsFramer::default(),
            continuity_errors: 0,
        }
    }

    /// Feeds TS bytes; appends the complete audio frames found.
    ///
    /// Copies: mpeg2ts-reader hands out borrowed payload slices, copied once into the event
    /// list, then once into the framer's reassembly buffer.
    pub fn push(&mut self, data: &[u8], out: &mut Vec<AccessUnit>) -> Result<()> {
        if data.first().is_some_and(|&b| b != 0x47) {
            return Err(Error::demux(
                "mpegts",
                "chunk does not start with a TS sync byte (0x47)",
            ));
        }
        self.demux.push(&mut self.ctx, data);
        if let Some(channels) = self.ctx.opus.take() {
            self.framer.opus(channels);
        }
        let before = out.len();
        for ev in self.ctx.events.drain(..) {
            match ev {
                PesEvent::Begin { pts, data } => self.framer.push(&data, pts, out),
                PesEvent::Continue(data) => self.framer.push(&data, None, out),
                PesEvent::ContinuityError => self.continuity_errors += 1,
            }
        }
        if out.len() == before
            && !data.is_empty()
            && let Some(what) = &self.ctx.unsupported
        {
            return Err(Error::UnsupportedCodec(what.clone()));
        }
        Ok(())
    }
}
