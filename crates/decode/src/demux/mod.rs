//! Demuxers: container bytes in, codec access units out.

pub(crate) mod es;
pub(crate) mod fmp4;
pub(crate) mod ts;

use bytes::Bytes;

use crate::chunk::Container;
use crate::codec::AccessUnit;
use crate::error::{Error, Result};

/// The demuxer for the current container; replaced when the container changes.
#[derive(Debug, Default)]
pub(crate) enum Demuxer {
    #[default]
    None,
    Fmp4(fmp4::Fmp4Demuxer),
    Ts(Box<ts::TsDemuxer>),
    Packed(es::EsFramer),
}

impl Demuxer {
    fn container(&self) -> Option<Container> {
        match self {
            Demuxer::None => None,
            Demuxer::Fmp4(_) => Some(Container::Fmp4),
            Demuxer::Ts(_) => Some(Container::MpegTs),
            Demuxer::Packed(_) => Some(Container::PackedAudio),
        }
    }

    /// Drops per-stream timing and partial data (discontinuity); keeps an fMP4 init section.
    pub fn reset(&mut self) {
        match self {
            Demuxer::None => {}
            Demuxer::Fmp4(d) => d.reset_fragment(),
            Demuxer::Ts(_) => *self = Demuxer::Ts(Box::new(ts::TsDemuxer::new())),
            Demuxer::Packed(f) => f.reset(),
        }
    }

    /// Recovers after bad data: same as [`Demuxer::reset`] (the next chunk starts clean).
    pub fn recover(&mut self) {
        self.reset();
    }

    /// Demuxes one chunk (with its optional init section first).
    pub fn push(
        &mut self,
        hint: Container,
        init: Option<&Bytes>,
        data: &Bytes,
        out: &mut Vec<AccessUnit>,
    ) -> Result<()> {
        let container = match hint {
            Container::Sniff => {
                let probe = init.filter(|i| !i.is_empty()).unwrap_or(data);
                match Container::sniff(probe) {
                    Some(c) => c,
                    None if data.is_empty() => return Ok(()),
                    None => match self.container() {
                        // Mid-stream bytes that do not start a box/packet: let the current
                        // demuxer judge them (it will report the error).
                        Some(c) => c,
                        None => {
                            return Err(Error::UnknownContainer {
                                first_bytes: data.iter().take(8).copied().collect(),
                            });
                        }
                    },
                }
            }
            c => c,
        };
        if self.container() != Some(container) {
            *self = match container {
                Container::Fmp4 => Demuxer::Fmp4(fmp4::Fmp4Demuxer::default()),
                Container::MpegTs => Demuxer::Ts(Box::new(ts::TsDemuxer::new())),
                Container::PackedAudio => Demuxer::Packed(es::EsFramer::default()),
                Container::Sniff => unreachable!("resolved above"),
            };
        }
        match self {
            Demuxer::Fmp4(d) => {
                if let Some(init) = init {
                    d.reset_fragment();
                    d.push(init.clone(), out)?;
                }
                d.push(data.clone(), out)
            }
            Demuxer::Ts(d) => {
                if let Some(init) = init {
                    d.push(init, out)?;
                }
                d.push(data, out)
            }
            Demuxer::Packed(f) => {
                let before = out.len();
                let skipped = f.loss.skipped;
                f.push(data, None, out);
                if out.len() == before && f.loss.skipped > skipped {
                    return Err(Error::demux(
                        "packed",
                        "no ADTS/MPEG audio frame sync in chunk",
                    ));
                }
                Ok(())
            }
            Demuxer::None => unreachable!("set above"),
        }
    }
}
