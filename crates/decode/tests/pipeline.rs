//! Pipeline behaviour that needs no media tools: back-pressure, shutdown, bad input.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aulos_decode::{Container, MediaChunk, NullSink, Pipeline, PipelineConfig, run_sink};

/// A short ADTS file made once with `ffmpeg -f lavfi -i sine=f=440:sample_rate=48000:d=0.1
/// -c:a aac -b:a 32k -f adts` (checked in so these tests need no tools).
const ADTS: &[u8] = include_bytes!("fixtures/sine-48k-mono-0.1s.aac");

/// AAC frames in the fixture, counted by walking ADTS frame lengths (independent of the crate).
fn fixture_frames() -> u64 {
    let (mut off, mut n) = (0usize, 0u64);
    while off + 7 <= ADTS.len() {
        assert_eq!(ADTS[off], 0xFF, "ADTS sync");
        let h = &ADTS[off..];
        off += (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        n += 1;
    }
    n
}

fn tiny_adts_chunk() -> MediaChunk {
    MediaChunk {
        container: Container::PackedAudio,
        ..MediaChunk::new(ADTS)
    }
}

#[test]
fn slow_sink_stalls_producer_with_bounded_memory() {
    let cfg = PipelineConfig {
        chunk_capacity: 2,
        pcm_capacity: 2,
        ..PipelineConfig::default()
    };
    let (tx, rx, handle) = Pipeline::spawn(cfg.clone()).unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let total = 40;
    let producer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            for _ in 0..total {
                tx.send(tiny_adts_chunk()).unwrap();
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // Nobody reads the PCM: wait until the producer stops making progress.
    let mut last = usize::MAX;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        last = now;
    }
    // In flight at most: chunk queue + one chunk in the decode thread + PCM queue + one
    // block waiting to be sent (each chunk yields one block here).
    let bound = cfg.chunk_capacity + 1 + cfg.pcm_capacity + 1;
    assert!(
        last <= bound,
        "producer sent {last} chunks with nobody consuming (bound {bound})"
    );
    assert!(last < total, "producer must be stalled, not finished");
    assert!(rx.queued() <= cfg.pcm_capacity);
    // Drain through a sink: everything arrives, the producer finishes.
    let mut sink = NullSink::unpaced();
    run_sink(&rx, &mut sink, &handle, None, |_| {}).unwrap();
    producer.join().unwrap();
    let s = handle.stats().snapshot();
    assert_eq!(s.chunks, total as u64);
    assert_eq!(s.decode_errors, 0, "{:?}", s.last_error);
    assert_eq!(sink.frames(), s.frames);
    // 48 kHz in and out, mono copied to stereo: every AAC frame is 1024 output frames.
    assert_eq!(sink.frames(), total as u64 * fixture_frames() * 1024);
}

#[test]
fn garbage_without_tools_is_counted_and_pipeline_continues() {
    let (tx, rx, handle) = Pipeline::spawn(PipelineConfig::default()).unwrap();
    std::thread::spawn(move || {
        tx.send(MediaChunk::new(vec![0x13u8; 300])).unwrap(); // unknown container
        tx.send(MediaChunk {
            container: Container::Fmp4,
            ..MediaChunk::new(vec![0u8; 64])
        })
        .unwrap();
        tx.send(MediaChunk {
            container: Container::MpegTs,
            ..MediaChunk::new(vec![1u8; 188])
        })
        .unwrap();
        tx.send(tiny_adts_chunk()).unwrap();
    });
    let mut sink = NullSink::unpaced();
    let frames = run_sink(&rx, &mut sink, &handle, None, |_| {}).unwrap();
    let s = handle.stats().snapshot();
    assert_eq!(s.decode_errors, 3, "{s:?}");
    assert_eq!(
        frames,
        fixture_frames() * 1024,
        "the good chunk after the garbage decodes"
    );
}

#[cfg(feature = "speaker")]
#[test]
fn speaker_open_reports_missing_device_clearly() {
    // On machines with a device this opens it; on headless ones it must be a clear error.
    match aulos_decode::SpeakerSink::open(48_000, 2, Duration::from_millis(200)) {
        Ok(_) => eprintln!("audio device present: opened"),
        Err(e) => {
            assert!(matches!(e, aulos_decode::Error::NoAudioDevice(_)), "{e:?}");
            assert!(e.to_string().starts_with("no audio output device"));
        }
    }
}

#[test]
fn invalid_config_is_rejected() {
    let bad = PipelineConfig {
        out_channels: 6,
        ..PipelineConfig::default()
    };
    assert!(Pipeline::spawn(bad).is_err());
    let bad = PipelineConfig {
        chunk_capacity: 0,
        ..PipelineConfig::default()
    };
    assert!(Pipeline::spawn(bad).is_err());
}
