//! Channel order and the downmix to the output's one or two channels.
//!
//! Decoders hand over planes in WAVE (SMPTE) order — FL, FR, FC, LFE, BL, BR, SL, SR,
//! what symphonia's channel bits follow — and Opus is reordered to it from the Vorbis
//! order of its mapping family 1 ([`crate::OpusDecoder`]). Written here rather than
//! taken from a crate: rubato only resamples, symphonia decodes but does not remix, and
//! the table is a dozen numbers.

/// For 3 to 8 channels, the Vorbis-order channel (RFC 7845 §5.1.1.2) that feeds each
/// WAVE-order one.
pub(crate) const VORBIS_TO_WAVE: [&[usize]; 6] = [
    &[0, 2, 1],                // L C R → FL FR FC
    &[0, 1, 2, 3],             // FL FR RL RR (already in order)
    &[0, 2, 1, 3, 4],          // FL C FR RL RR → FL FR FC BL BR
    &[0, 2, 1, 5, 3, 4],       // FL C FR RL RR LFE → FL FR FC LFE BL BR
    &[0, 2, 1, 6, 5, 3, 4],    // FL C FR SL SR RC LFE → FL FR FC LFE BC SL SR
    &[0, 2, 1, 7, 5, 6, 3, 4], // FL C FR SL SR RL RR LFE → FL FR FC LFE BL BR SL SR
];

/// −3 dB, the ITU-R BS.775 weight of the centre and surround channels in a stereo
/// downmix.
const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// (left, right) weights of each speaker position in a stereo downmix.
const FL: (f32, f32) = (1.0, 0.0);
const FR: (f32, f32) = (0.0, 1.0);
const FC: (f32, f32) = (M3DB, M3DB);
const LFE: (f32, f32) = (0.0, 0.0);
const BL: (f32, f32) = (M3DB, 0.0);
const BR: (f32, f32) = (0.0, M3DB);
const BC: (f32, f32) = (0.5, 0.5);
const SL: (f32, f32) = BL;
const SR: (f32, f32) = BR;

/// (left, right) weight of each WAVE-order input channel in a stereo downmix of
/// `channels` channels, scaled so that no output can exceed full scale; channels past
/// the eighth get none. Mono goes to both sides and stereo passes through (identity);
/// the LFE is left out, as ITU-R BS.775 does. A fixed array: the downmix asks for it on
/// every decoded packet, so it allocates nothing.
pub fn stereo_weights(channels: usize) -> [(f32, f32); 8] {
    let roles: &[(f32, f32)] = match channels {
        0 => &[],
        1 => &[(1.0, 1.0)],
        2 => &[FL, FR],
        3 => &[FL, FR, FC],
        4 => &[FL, FR, BL, BR],
        5 => &[FL, FR, FC, BL, BR],
        6 => &[FL, FR, FC, LFE, BL, BR],
        7 => &[FL, FR, FC, LFE, BC, SL, SR],
        // And the first eight of anything wider.
        _ => &[FL, FR, FC, LFE, BL, BR, SL, SR],
    };
    let mut w = [(0.0f32, 0.0f32); 8];
    w[..roles.len()].copy_from_slice(roles);
    let peak = w
        .iter()
        .fold((0.0f32, 0.0f32), |a, &(l, r)| (a.0 + l, a.1 + r));
    let scale = if channels <= 2 {
        1.0
    } else {
        1.0 / peak.0.max(peak.1)
    };
    w.map(|(l, r)| (l * scale, r * scale))
}

/// Appends `planes` (WAVE order) mixed to `out_channels` (1 or 2) planes to `dst`:
/// mono is copied to both sides, stereo to mono is the mean of the two, three or more
/// channels are downmixed with [`stereo_weights`] (and that mean, for mono).
pub fn downmix_planes(planes: &[Vec<f32>], dst: &mut [Vec<f32>]) {
    let inp = planes.len();
    let frames = planes.first().map_or(0, Vec::len);
    if inp == 0 {
        return;
    }
    if inp <= 2 && dst.len() == inp {
        for (d, p) in dst.iter_mut().zip(planes) {
            d.extend_from_slice(p);
        }
        return;
    }
    if inp == 1 {
        for d in dst.iter_mut() {
            d.extend_from_slice(&planes[0]);
        }
        return;
    }
    let w = stereo_weights(inp);
    let mix = |i: usize| {
        planes
            .iter()
            .zip(&w)
            .fold((0.0f32, 0.0f32), |a, (p, &(l, r))| {
                (a.0 + p[i] * l, a.1 + p[i] * r)
            })
    };
    match dst {
        [mono] => mono.extend((0..frames).map(|i| {
            let (l, r) = mix(i);
            0.5 * (l + r)
        })),
        [left, right, ..] => {
            left.reserve(frames);
            right.reserve(frames);
            for i in 0..frames {
                let (l, r) = mix(i);
                left.push(l);
                right.push(r);
            }
        }
        [] => {}
    }
}

/// [`downmix_planes`] for interleaved frames: `input` has `in_ch` channels per frame
/// (WAVE order), `out` receives `out_ch` (1 or 2) per frame.
pub fn downmix_interleaved(input: &[f32], in_ch: usize, out_ch: usize, out: &mut Vec<f32>) {
    let in_ch = in_ch.max(1);
    let frames = input.len() / in_ch;
    out.reserve(frames * out_ch);
    if in_ch == out_ch {
        out.extend_from_slice(&input[..frames * in_ch]);
        return;
    }
    let w = stereo_weights(in_ch);
    for frame in input.chunks_exact(in_ch) {
        // Mono and stereo weights are exact ones and zeros: the same sums cover them.
        let (l, r) = frame
            .iter()
            .zip(&w)
            .fold((0.0, 0.0), |a, (s, &(l, r))| (a.0 + s * l, a.1 + s * r));
        match out_ch {
            1 => out.push(0.5 * (l + r)),
            _ => {
                out.push(l);
                out.push(r);
                // Anything past stereo stays silent: outputs are 1 or 2 channels.
                out.extend(std::iter::repeat_n(0.0, out_ch.saturating_sub(2)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vorbis_to_wave_tables_are_permutations() {
        for (i, t) in VORBIS_TO_WAVE.iter().enumerate() {
            let mut s = t.to_vec();
            s.sort_unstable();
            assert_eq!(s, (0..i + 3).collect::<Vec<_>>());
        }
    }

    #[test]
    fn surround_downmix_keeps_sides_apart_drops_the_lfe_and_never_clips() {
        // 5.1 in WAVE order: FL FR FC LFE BL BR, one channel at a time at full scale.
        let unit = |c: usize| -> Vec<Vec<f32>> {
            (0..6)
                .map(|i| vec![if i == c { 1.0 } else { 0.0 }])
                .collect()
        };
        let mix = |c: usize| {
            let mut d = vec![Vec::new(), Vec::new()];
            downmix_planes(&unit(c), &mut d);
            (d[0][0], d[1][0])
        };
        let (fl, fr, fc, lfe, bl, br) = (mix(0), mix(1), mix(2), mix(3), mix(4), mix(5));
        assert!(fl.0 > 0.0 && fl.1 == 0.0 && fr.0 == 0.0 && fr.1 > 0.0);
        assert!(bl.0 > 0.0 && bl.1 == 0.0 && br.0 == 0.0 && br.1 > 0.0);
        assert!(fc.0 > 0.0 && (fc.0 - fc.1).abs() < 1e-6);
        assert_eq!(lfe, (0.0, 0.0));
        // Centre and surrounds 3 dB under the fronts.
        assert!((fc.0 / fl.0 - M3DB).abs() < 1e-6 && (bl.0 / fl.0 - M3DB).abs() < 1e-6);
        // Every channel at full scale in phase: exactly full scale out, no more.
        let all: Vec<Vec<f32>> = (0..6).map(|_| vec![1.0]).collect();
        let mut d = vec![Vec::new(), Vec::new()];
        downmix_planes(&all, &mut d);
        assert!((d[0][0] - 1.0).abs() < 1e-6 && (d[1][0] - 1.0).abs() < 1e-6);
        // Interleaved gives the same.
        let mut o = Vec::new();
        downmix_interleaved(&[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 6, 2, &mut o);
        assert_eq!(o, vec![fc.0, fc.1]);
    }

    #[test]
    fn mono_and_stereo_pass_through_or_average() {
        let mut d = vec![Vec::new(), Vec::new()];
        downmix_planes(&[vec![0.5, -0.5]], &mut d);
        assert_eq!(d, vec![vec![0.5, -0.5], vec![0.5, -0.5]]);
        let mut m = vec![Vec::new()];
        downmix_planes(&[vec![1.0], vec![0.0]], &mut m);
        assert_eq!(m, vec![vec![0.5]]);
        let mut o = Vec::new();
        downmix_interleaved(&[0.25, 0.75], 2, 2, &mut o);
        downmix_interleaved(&[0.25, 0.75], 2, 1, &mut o);
        downmix_interleaved(&[0.5], 1, 2, &mut o);
        assert_eq!(o, vec![0.25, 0.75, 0.5, 0.5, 0.5]);
    }
}
